"""Initial schema: accounts, customers, tickets, jobs; full-text search and append-only messages.

Revision ID: 0001
Revises:
Create Date: 2026-11-22 12:24:30.653743
"""

from collections.abc import Sequence

from helpline.db.migrations.initial import (
    create_base_tables,
    create_people_tables,
    create_search_and_guards,
    create_ticket_tables,
    drop_search_and_guards,
    drop_tables,
)

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_base_tables()
    create_people_tables()
    create_ticket_tables()
    create_search_and_guards()


def downgrade() -> None:
    drop_search_and_guards()
    drop_tables()
