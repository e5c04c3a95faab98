"""Tables owned by the platform rather than a domain: the job queue and stored idempotent answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from helpline.db.base import Base, IdMixin, JSONType, utcnow


class Job(IdMixin, Base):
    """A unit of background work. Arguments are ids and JSON values; handlers reload state."""

    __tablename__ = "jobs"
    __table_args__ = (
        sa.Index("ix_jobs_ready", "state", "run_at", "id"),
        # At most one queued job per dedupe key: enqueueing the same work twice coalesces.
        sa.Index(
            "uq_jobs_dedupe_queued",
            "dedupe_key",
            unique=True,
            sqlite_where=sa.text("state = 'queued' AND dedupe_key IS NOT NULL"),
            postgresql_where=sa.text("state = 'queued' AND dedupe_key IS NOT NULL"),
        ),
    )
    kind: Mapped[str] = mapped_column(sa.String(64))
    args: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    state: Mapped[str] = mapped_column(sa.String(16), default="queued")
    dedupe_key: Mapped[str | None] = mapped_column(sa.String(200))
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=8)
    run_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_by: Mapped[str | None] = mapped_column(sa.String(64))
    locked_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class IdempotencyKey(Base):
    """A POST answered once; repeating it with the same key returns the stored answer."""

    __tablename__ = "idempotency_keys"
    workspace_id: Mapped[int] = mapped_column(
        sa.ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(sa.String(64))
    status_code: Mapped[int]
    body: Mapped[Any] = mapped_column(JSONType, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
