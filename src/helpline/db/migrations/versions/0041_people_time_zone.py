"""Each person's own time zone (``users.timezone``): console, portal and help-centre pages show
times in it; NULL means the workspace's time zone (its settings), the default.
``chat_sessions.page_url``: the page a visitor started a chat on, shown to agents beside it.

Revision ID: 0041
Revises: 0040
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0041"
down_revision: str | None = "0040"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("timezone", sa.String(length=64), nullable=True))
    op.add_column(
        "chat_sessions", sa.Column("page_url", sa.String(length=500), nullable=False, server_default="")
    )


def downgrade() -> None:
    op.drop_column("chat_sessions", "page_url")
    op.drop_column("users", "timezone")
