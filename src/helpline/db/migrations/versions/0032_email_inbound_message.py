"""Index ``email_inbound.message_id``: the ticket page reads the email facts of its messages (the
original .eml, SPF/DKIM/DMARC verdicts) by message id, and deleting a message follows the foreign
key (ON DELETE SET NULL). Partial (``IS NOT NULL``): failed, looped and capped mail has no message.

Revision ID: 0032
Revises: 0031
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    where = sa.text("message_id IS NOT NULL")
    op.create_index(
        "ix_email_inbound_message",
        "email_inbound",
        ["message_id"],
        unique=False,
        postgresql_where=where,
        sqlite_where=where,
    )


def downgrade() -> None:
    op.drop_index("ix_email_inbound_message", table_name="email_inbound")
