"""Composing in the console (docs/composing.md): drafts, snoozes, time entries, signatures.

- ``ticket_drafts``: an agent's unsent text per ticket (saved as they type, deleted on send).
- ``ticket_snoozes``: a ticket put aside until a time (woken by a job or a customer's reply).
- ``time_entries``: minutes agents log on a ticket, with an optional note.
- ``memberships.signature``: appended to the person's public replies in that workspace.

Revision ID: 0040
Revises: 0039
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import helpline.db.base

revision: str = "0040"
down_revision: str | None = "0039"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = helpline.db.base.UTCDateTime(timezone=True)
BigId = helpline.db.base.BigId


def upgrade() -> None:
    op.add_column("memberships", sa.Column("signature", sa.Text(), nullable=True))
    op.create_table(
        "ticket_drafts",
        sa.Column("ticket_id", BigId, nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_ticket_drafts_ticket_id_tickets"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_ticket_drafts_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_ticket_drafts_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("ticket_id", "user_id", name=op.f("pk_ticket_drafts")),
    )
    op.create_index(op.f("ix_ticket_drafts_user_id"), "ticket_drafts", ["user_id"])
    op.create_table(
        "ticket_snoozes",
        sa.Column("ticket_id", BigId, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("until", UTC, nullable=False),
        sa.Column("user_id", BigId, nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_ticket_snoozes_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_ticket_snoozes_user_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_ticket_snoozes_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_ticket_snoozes")),
    )
    op.create_index("ix_ticket_snoozes_until", "ticket_snoozes", ["until"])
    op.create_index(op.f("ix_ticket_snoozes_workspace_id"), "ticket_snoozes", ["workspace_id"])
    op.create_table(
        "time_entries",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("workspace_id", BigId, nullable=False),
        sa.Column("ticket_id", BigId, nullable=False),
        sa.Column("user_id", BigId, nullable=True),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_time_entries_ticket_id_tickets"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_time_entries_user_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_time_entries_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_time_entries")),
    )
    op.create_index("ix_time_entries_ticket", "time_entries", ["ticket_id", "id"])
    op.create_index("ix_time_entries_ws_user", "time_entries", ["workspace_id", "user_id", "created_at"])
    op.create_index(op.f("ix_time_entries_user_id"), "time_entries", ["user_id"])


def downgrade() -> None:
    op.drop_table("time_entries")
    op.drop_table("ticket_snoozes")
    op.drop_table("ticket_drafts")
    with op.batch_alter_table("memberships") as batch:
        batch.drop_column("signature")
