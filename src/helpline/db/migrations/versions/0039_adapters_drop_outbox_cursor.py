"""The email outbox no longer sweeps ``messages`` for agent replies: the email channel queues each
reply in the transaction that writes it (``channels/email/adapter.py``), so its cursor goes.

Replies committed by the previous version were queued by its after-commit hook; one committed just
before a crash and not yet queued is not picked up after this upgrade (the previous version's
periodic sweep would have): stop the previous version cleanly before upgrading.

Revision ID: 0039
Revises: 0037
Create Date: 2027-01-12
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0039"
down_revision: str | None = "0038"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_table("email_outbox_cursor")


def downgrade() -> None:
    op.create_table(
        "email_outbox_cursor",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_message_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_outbox_cursor")),
    )
    # From the last message that exists now, as revision 0010 did: the old sweep does not mail
    # every reply ever written.
    op.execute(
        "INSERT INTO email_outbox_cursor (id, last_message_id) SELECT 1, COALESCE(MAX(id), 0) FROM messages"
    )
