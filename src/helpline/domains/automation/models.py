"""Tables of the automation domain."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from helpline.db.base import Base, IdMixin, utcnow


class CannedResponse(IdMixin, Base):
    """A reply an agent inserts with one click. ``body`` may hold placeholders such as
    ``{{ customer.first_name }}``, ``{{ ticket.number }}`` and ``{{ agent.name }}``. With ``group_id``
    set, only that group's members (and admins) see it."""

    __tablename__ = "canned_responses"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "title"),)
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text)
    group_id: Mapped[int | None] = mapped_column(sa.ForeignKey("groups.id", ondelete="CASCADE"))
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
