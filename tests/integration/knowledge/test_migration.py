"""Migration 0030 goes up, down and up again on SQLite and PostgreSQL, leaving no knowledge table behind."""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa

from helpline.db import migrate
from helpline.platform.db import Database

KB_TABLES = {
    "kb_categories",
    "kb_articles",
    "kb_translations",
    "kb_versions",
    "kb_files",
    "kb_feedback",
    "kb_search_log",
    "kb_deflection_events",
    "kb_embeddings",
}


def _previous() -> str:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config(""))
    rev = script.get_revision("0030")
    assert rev is not None and isinstance(rev.down_revision, str)
    return rev.down_revision


async def _tables(url: str) -> set[str]:
    engine = Database.for_migrations(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))
    finally:
        await engine.dispose()


def _round_trip(url: str) -> None:
    migrate.upgrade(url)
    names = asyncio.run(_tables(url))
    assert names >= KB_TABLES
    assert ("kb_fts" in names) if url.startswith("sqlite") else ("kb_search" in names)
    migrate.downgrade(url, _previous())
    left = asyncio.run(_tables(url))
    assert not {n for n in left if n.startswith("kb_")}, left
    migrate.upgrade(url)
    assert asyncio.run(_tables(url)) >= KB_TABLES


def test_sqlite_up_down_up(tmp_path: Path) -> None:
    _round_trip(f"sqlite+aiosqlite:///{tmp_path / 'kb.db'}")


def test_postgresql_up_down_up() -> None:
    from tests.conftest import empty_pg_database

    with empty_pg_database("kbmig") as url:
        _round_trip(url)
