"""Chat widgets: ``answer_bot`` (suggest help-centre articles and let the answer bot answer before a
person is reached), on for every widget, existing ones included.

Revision ID: 0031
Revises: 0030
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "chat_widgets", sa.Column("answer_bot", sa.Boolean(), server_default=sa.true(), nullable=False)
    )


def downgrade() -> None:
    # Not batch mode: on SQLite that copies the table and drops the old one, and with foreign keys on
    # the drop would cascade to every widget's visitors and chats. ALTER TABLE ... DROP COLUMN
    # (SQLite 3.35 or later) leaves the rows where they are.
    op.drop_column("chat_widgets", "answer_bot")
