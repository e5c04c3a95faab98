"""Migration 0031 (the widgets' ``answer_bot``) goes down and up again on SQLite and PostgreSQL without
losing a widget, its visitors or anything that hangs off a widget."""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa

from helpline.db import migrate
from helpline.platform.db import Database

SEED = (
    "INSERT INTO workspaces (id, name, slug, settings, ticket_seq, created_at) "
    "VALUES (1, 'W', 'w', '{}', 0, '2026-01-01')",
    "INSERT INTO chat_widgets (id, workspace_id, key, name, allowed_origins, theme, greeting, locale, texts, "
    "prechat_fields, max_chats_per_agent, schedule, timezone, identity_secret, enabled, created_at) "
    "VALUES (1, 1, 'k', 'Shop', '[]', '{}', '', 'en', '{}', '[]', 3, '{}', 'UTC', 's', true, '2026-01-01')",
    "INSERT INTO chat_visitors (id, workspace_id, widget_id, external_id, name, email, created_at, "
    "last_seen_at) VALUES (1, 1, 1, 'v', 'Vic', '', '2026-01-01', '2026-01-01')",
)


async def _run(url: str, *sql: str) -> list[tuple[object, ...]]:
    engine = Database.for_migrations(url)
    try:
        async with engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                await conn.exec_driver_sql("PRAGMA foreign_keys = ON")
            out: list[tuple[object, ...]] = []
            for s in sql:
                r = await conn.execute(sa.text(s))
                if r.returns_rows:
                    out += [tuple(row) for row in r]
            return out
    finally:
        await engine.dispose()


def _round_trip(url: str) -> None:
    migrate.upgrade(url)
    asyncio.run(_run(url, *SEED))
    migrate.downgrade(url, "0030")
    count = "SELECT (SELECT count(*) FROM chat_widgets), (SELECT count(*) FROM chat_visitors)"
    assert asyncio.run(_run(url, count)) == [(1, 1)]
    migrate.upgrade(url)
    assert asyncio.run(_run(url, count + ", (SELECT count(*) FROM chat_widgets WHERE answer_bot)")) == [
        (1, 1, 1)
    ]


def test_sqlite_down_and_up_keeps_widgets_and_visitors(tmp_path: Path) -> None:
    _round_trip(f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}")


def test_postgresql_down_and_up_keeps_widgets_and_visitors() -> None:
    from tests.conftest import empty_pg_database

    with empty_pg_database("chatmig") as url:
        _round_trip(url)
