"""Global search: trigram indexes for finding contacts by any part of their name or identity.

On PostgreSQL, ``pg_trgm`` (a trusted extension that ships with PostgreSQL) and two GIN trigram
indexes, so ``ILIKE '%…%'`` on a contact's name and on an identity's value (email, phone, handle) is
answered from an index instead of reading every contact. SQLite has no equivalent and needs none at
the sizes it serves. Kept by this migration only (``tests/integration/test_schema.py`` names them).

Revision ID: 0042
Revises: 0041
Create Date: 2027-01-20
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0042"
down_revision: str | None = "0041"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute("CREATE INDEX IF NOT EXISTS ix_contacts_name_trgm ON contacts USING gin (name gin_trgm_ops)")
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_contact_identities_value_trgm "
        "ON contact_identities USING gin (value gin_trgm_ops)"
    )


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_contact_identities_value_trgm")
    op.execute("DROP INDEX IF EXISTS ix_contacts_name_trgm")
