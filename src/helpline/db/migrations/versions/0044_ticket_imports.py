"""Imported tickets (``ticket_imports``): which item of which source each imported ticket was, unique
per workspace, so that importing the same export again changes nothing (docs/import.md).

Revision ID: 0044
Revises: 0043
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import helpline.db.base

revision: str = "0044"
down_revision: str | None = "0043"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = helpline.db.base.UTCDateTime(timezone=True)
BigId = helpline.db.base.BigId


def upgrade() -> None:
    op.create_table(
        "ticket_imports",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("source_id", sa.String(length=200), nullable=False),
        sa.Column("ticket_id", BigId, nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_ticket_imports_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_ticket_imports_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_imports")),
        sa.UniqueConstraint(
            "workspace_id",
            "source",
            "source_id",
            name=op.f("uq_ticket_imports_workspace_id_source_source_id"),
        ),
    )
    op.create_index(op.f("ix_ticket_imports_ticket_id"), "ticket_imports", ["ticket_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_ticket_imports_ticket_id"), table_name="ticket_imports")
    op.drop_table("ticket_imports")
