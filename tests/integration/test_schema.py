"""The migrations and the models describe the same schema, on SQLite and on PostgreSQL: a column,
index or constraint added to one and not the other (an index the code relies on that no install
ever gets, say) fails here. The full-text tables are the database's own and live in migrations only."""

from __future__ import annotations

import asyncio
import warnings
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import helpline.app  # noqa: F401 - imports every domain's models
from helpline.db.base import Base
from helpline.db.migrate import upgrade
from helpline.platform.db import Database
from tests.conftest import empty_pg_database

# Kept by the migrations for search (SQLite FTS5 tables and their shadows, PostgreSQL tsvector
# tables): not models. Named exactly, so that a model table like kb_search_log is still compared.
FTS_PREFIXES = ("ticket_fts", "kb_fts")
SEARCH_TABLES = {"ticket_search", "kb_search"}


# Kept by the feed's migration on PostgreSQL only (ADR 0014): the commit-order column of a feed source
# and its index. No model declares them, since SQLite has no such column.
FEED_ONLY = {("events", "txid"), ("events", "ix_events_txid")}
# Kept by migration 0042 on PostgreSQL only: the global search's trigram indexes on contacts.
FEED_ONLY |= {
    ("contacts", "ix_contacts_name_trgm"),
    ("contact_identities", "ix_contact_identities_value_trgm"),
}


def _search_table(name: str) -> bool:
    return name.startswith(FTS_PREFIXES) or name in SEARCH_TABLES


def _feed_only(diff: Any) -> bool:
    item = diff[0] if isinstance(diff, list) else diff
    obj = item[-1] if item[0] in ("remove_column",) else item[1]
    return (_name(diff), str(getattr(obj, "name", ""))) in FEED_ONLY


def _name(diff: Any) -> str:
    """The table an autogenerate difference is about (diffs are tuples, or lists of tuples)."""
    item = diff[0] if isinstance(diff, list) else diff
    obj = item[1] if len(item) > 1 else None
    table = getattr(obj, "table", obj)
    return str(getattr(table, "name", item[2] if len(item) > 2 else ""))


def _differences(url: str) -> list[Any]:
    upgrade(url)

    async def compare() -> list[Any]:
        engine = Database.for_migrations(url)
        try:
            async with engine.connect() as conn:
                with warnings.catch_warnings():
                    # SQLAlchemy has no type for xid8 (the feed's column, FEED_ONLY): it says so.
                    warnings.filterwarnings("ignore", "Did not recognize type 'xid8'")
                    return await conn.run_sync(
                        lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
                    )
        finally:
            await engine.dispose()

    return [d for d in asyncio.run(compare()) if not _search_table(_name(d)) and not _feed_only(d)]


def test_migrations_match_the_models_on_sqlite(tmp_path: Path) -> None:
    assert _differences(f"sqlite+aiosqlite:///{tmp_path / 'schema.db'}") == []


def test_migrations_match_the_models_on_postgresql() -> None:
    with empty_pg_database("schema") as url:
        assert _differences(url) == []
