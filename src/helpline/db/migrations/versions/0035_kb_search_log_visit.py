"""The knowledge base's search log keeps one row per visit for what a customer types into a form that
suggests articles as they type (the portal's request form, the chat widget), instead of one per
keystroke: ``kb_search_log.visit`` names the visit of a row (at most one row each: a partial unique
index, the upsert's conflict target) and ``typing`` says it is still being typed (rewritten with the
latest text) rather than a finished question.

Revision ID: 0035
Revises: 0034
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0035"
down_revision: str | None = "0034"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("kb_search_log", sa.Column("visit", sa.String(length=64), nullable=True))
    op.add_column(
        "kb_search_log", sa.Column("typing", sa.Boolean(), server_default=sa.false(), nullable=False)
    )
    op.create_index(
        "ux_kb_search_log_visit",
        "kb_search_log",
        ["workspace_id", "visit"],
        unique=True,
        postgresql_where=sa.text("visit IS NOT NULL"),
        sqlite_where=sa.text("visit IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ux_kb_search_log_visit", table_name="kb_search_log")
    # Not batch mode (see 0031): ALTER TABLE ... DROP COLUMN leaves the rows where they are.
    op.drop_column("kb_search_log", "typing")
    op.drop_column("kb_search_log", "visit")
