"""The durable feed (issue 12, docs/adr/0014-durable-feed.md): ticket events delivered after commit to
registered consumers, in order per ticket.

- ``feed_sources`` (one row per delivered table: how far it is numbered), ``feed_entries`` (each
  delivered row at its place in order, deleted once every consumer has passed it) and
  ``feed_cursors`` (each consumer's place in each partition, its lease and its failures).
- ``events`` tells the feed in which order rows became visible. PostgreSQL: a column
  ``txid xid8 DEFAULT pg_current_xact_id()`` (the writing transaction) and its index; existing rows
  keep NULL, which the feed never reads (it starts from now). SQLite: the table is rebuilt
  ``AUTOINCREMENT``, so an id is never given again after the newest events were deleted (a deleted
  workspace), which would hide the new row behind the feed's position. The downgrade leaves
  AUTOINCREMENT in place (harmless).

Revision ID: 0038
Revises: 0037
Create Date: 2026-12-10
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import helpline.db.base

revision: str = "0038"
down_revision: str | None = "0037"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = helpline.db.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "feed_sources",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("table_name", sa.String(length=64), nullable=False),
        sa.Column("key_column", sa.String(length=64), nullable=False),
        sa.Column("time_column", sa.String(length=64), nullable=True),
        sa.Column("buckets", sa.Integer(), nullable=False),
        sa.Column("low", sa.BigInteger(), nullable=False),
        sa.Column("head", sa.BigInteger(), nullable=False),
        sa.Column("pruned", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_feed_sources"),
        sa.UniqueConstraint("name", name="uq_feed_sources_name"),
    )
    op.create_table(
        "feed_entries",
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("pos", sa.BigInteger(), nullable=False),
        sa.Column("bucket", sa.SmallInteger(), nullable=False),
        sa.Column("row_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["feed_sources.id"],
            name="fk_feed_entries_source_id_feed_sources",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("source_id", "pos", name="pk_feed_entries"),
    )
    op.create_index("ix_feed_entries_bucket", "feed_entries", ["source_id", "bucket", "pos"])
    op.create_table(
        "feed_cursors",
        sa.Column("consumer", sa.String(length=100), nullable=False),
        sa.Column("bucket", sa.SmallInteger(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("pos", sa.BigInteger(), nullable=False),
        sa.Column("delivered", sa.BigInteger(), nullable=False),
        sa.Column("delivered_at", UTC, nullable=True),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        sa.Column("lease_until", UTC, nullable=True),
        sa.Column("lease_token", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("retry_at", UTC, nullable=True),
        sa.Column("failing_since", UTC, nullable=True),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["feed_sources.id"],
            name="fk_feed_cursors_source_id_feed_sources",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("consumer", "bucket", name="pk_feed_cursors"),
    )
    op.create_index("ix_feed_cursors_source_id", "feed_cursors", ["source_id"])
    if op.get_bind().dialect.name == "postgresql":
        # Nullable and without a default first: adding a column with a volatile default would
        # rewrite the whole table; the default then applies to new rows only.
        op.execute("ALTER TABLE events ADD COLUMN txid xid8")
        op.execute("ALTER TABLE events ALTER COLUMN txid SET DEFAULT pg_current_xact_id()")
        op.execute("CREATE INDEX ix_events_txid ON events (txid)")
    else:
        with op.batch_alter_table("events", recreate="always", table_kwargs={"sqlite_autoincrement": True}):
            pass


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_events_txid")
        op.execute("ALTER TABLE events DROP COLUMN txid")
    op.drop_index("ix_feed_cursors_source_id", table_name="feed_cursors")
    op.drop_table("feed_cursors")
    op.drop_index("ix_feed_entries_bucket", table_name="feed_entries")
    op.drop_table("feed_entries")
    op.drop_table("feed_sources")
