"""Tables of outbound webhooks: the targets an admin adds and the deliveries (the outbox and its log)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from helpline.db.base import Base, BigId, IdMixin, JSONType, utcnow


class WebhookTarget(IdMixin, Base):
    """An HTTP endpoint of a workspace that is sent the events it subscribes to (``event_types``),
    signed with ``secret`` (Standard Webhooks). ``consecutive_failures`` counts deliveries that
    failed in a row; at ``disable_after`` the target is disabled (``disabled_reason``,
    ``disabled_at``) until an admin enables it again."""

    __tablename__ = "webhook_targets"
    __table_args__ = {"sqlite_autoincrement": True}
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    url: Mapped[str] = mapped_column(sa.String(2000))
    secret: Mapped[str] = mapped_column(sa.String(200))
    event_types: Mapped[list[str]] = mapped_column(JSONType, default=list)
    enabled: Mapped[bool] = mapped_column(default=True)
    disabled_reason: Mapped[str | None] = mapped_column(sa.String(500))
    disabled_at: Mapped[datetime | None] = mapped_column()
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    disable_after: Mapped[int] = mapped_column(default=20)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(IdMixin, Base):
    """One event for one target: written by the feed consumer in the transaction that moves its
    cursor (the outbox), then sent by the ``webhooks.deliver`` job until delivered or failed.
    ``log`` keeps each attempt (time, status code or error, latency)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        sa.UniqueConstraint("target_id", "event_id"),
        sa.Index("ix_webhook_deliveries_target", "target_id", "id"),
        # Never reuse an id on SQLite: it is the ``webhook-id`` receivers drop repeats by.
        {"sqlite_autoincrement": True},
    )
    target_id: Mapped[int] = mapped_column(sa.ForeignKey("webhook_targets.id", ondelete="CASCADE"))
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[str] = mapped_column(sa.String(64))
    event_type: Mapped[str] = mapped_column(sa.String(64))
    ticket_id: Mapped[int | None] = mapped_column(BigId)
    body: Mapped[dict[str, Any]] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    last_status_code: Mapped[int | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    latency_ms: Mapped[int | None] = mapped_column()
    response_excerpt: Mapped[str | None] = mapped_column(sa.Text)
    log: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column()
