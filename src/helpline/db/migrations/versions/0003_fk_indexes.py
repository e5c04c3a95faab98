"""Indexes for the foreign keys that a delete follows (ON DELETE SET NULL), and nothing else.

Without them, deleting one ticket scanned every ticket (``tickets.merged_into_id``: 196 ms of a
200 ms delete at 1M tickets), and deleting a contact scanned every contact and every message
(``contacts.merged_into_id``, ``messages.author_contact_id``). The columns are mostly NULL, so the
indexes are partial (``IS NOT NULL``): the foreign key's ``= id`` lookup can still use them, and
they stay small.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = (
    ("ix_tickets_merged_into", "tickets", "merged_into_id"),
    ("ix_contacts_merged_into", "contacts", "merged_into_id"),
    ("ix_messages_author_contact", "messages", "author_contact_id"),
)


def upgrade() -> None:
    for name, table, column in _INDEXES:
        where = sa.text(f"{column} IS NOT NULL")
        op.create_index(name, table, [column], unique=False, postgresql_where=where, sqlite_where=where)


def downgrade() -> None:
    for name, table, _column in reversed(_INDEXES):
        op.drop_index(name, table_name=table)
