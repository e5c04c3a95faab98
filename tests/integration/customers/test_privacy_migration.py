"""Migration 0037 goes up, down and up again on SQLite and PostgreSQL: down, the columns go and
revision 0001's message guard is back (no redaction allowed); up, the redaction guard returns."""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa

from helpline.db import migrate
from helpline.platform.db import Database
from tests.conftest import empty_pg_database


async def _state(url: str) -> tuple[set[str], set[str], str]:
    """(columns of messages, columns of contacts, the message guard's SQL)."""
    engine = Database.for_migrations(url)
    try:
        async with engine.connect() as conn:
            cols = await conn.run_sync(
                lambda c: (
                    {x["name"] for x in sa.inspect(c).get_columns("messages")},
                    {x["name"] for x in sa.inspect(c).get_columns("contacts")},
                )
            )
            if url.startswith("sqlite"):
                q = "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'messages_append_only'"
            else:
                q = "SELECT prosrc FROM pg_proc WHERE proname = 'messages_append_only'"
            guard = (await conn.execute(sa.text(q))).scalar_one()
            return cols[0], cols[1], str(guard)
    finally:
        await engine.dispose()


def _round_trip(url: str) -> None:
    migrate.upgrade(url)
    msg, con, guard = asyncio.run(_state(url))
    assert "redacted_at" in msg and "erased_at" in con and "redacted_at" in guard
    migrate.downgrade(url, "0036")
    msg, con, guard = asyncio.run(_state(url))
    assert "redacted_at" not in msg and "erased_at" not in con
    assert "redacted_at" not in guard and "body_text" in guard and "append-only" in guard
    migrate.upgrade(url)
    assert "redacted_at" in asyncio.run(_state(url))[2]


def test_sqlite_up_down_up(tmp_path: Path) -> None:
    _round_trip(f"sqlite+aiosqlite:///{tmp_path / 'privacy.db'}")


def test_postgresql_up_down_up() -> None:
    with empty_pg_database("privacy") as url:
        _round_trip(url)
