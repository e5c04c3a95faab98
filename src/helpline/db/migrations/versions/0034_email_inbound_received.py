"""Inbound mail still waiting to be processed is found by an index: the sweep that queues stale mail
again runs every 30 seconds, and without it read every row of ``email_inbound``.

Revision ID: 0034
Revises: 0033
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_email_inbound_received",
        "email_inbound",
        ["received_at"],
        postgresql_where=sa.text("state = 'received'"),
        sqlite_where=sa.text("state = 'received'"),
    )


def downgrade() -> None:
    op.drop_index("ix_email_inbound_received", table_name="email_inbound")
