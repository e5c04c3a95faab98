"""The feed's cost per event does not grow with the events stored: every statement a delivering round
runs finds its rows through an index (a seek after the cursor), none reads a whole table.

Each statement is captured as it runs and explained afterwards with the same parameters: SQLite's
``EXPLAIN QUERY PLAN`` must not ``SCAN`` the events or feed tables; PostgreSQL, with sequential
scans priced out (``enable_seqscan = off``: an index is used whenever one can serve), must not plan
a ``Seq Scan`` on them. ``bench/feed.py`` measures the same at 100k and 1M stored events."""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from sqlalchemy import event as sa_event

from helpline.platform import feed
from tests.integration.platform.feedkit import has_all, make_tickets, name, registry, run_until, write_events

TABLES = ("events", "feed_entries", "feed_cursors", "feed_sources")
SQLITE_FULL_SCAN = re.compile(r"\bSCAN (" + "|".join(TABLES) + r")\b")
PG_FULL_SCAN = re.compile(r"Seq Scan on (" + "|".join(TABLES) + r")\b")


def _captured(platform) -> tuple[list[tuple[str, Any]], Any]:
    seen: list[tuple[str, Any]] = []

    def grab(_conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, many: bool) -> None:
        if not many and any(t in statement for t in ("feed_", "FROM events", "JOIN events")):
            seen.append((statement, parameters))

    engines = {platform.db.writer.sync_engine, platform.db.reader.sync_engine}
    for e in engines:
        sa_event.listen(e, "before_cursor_execute", grab)

    def stop() -> None:
        for e in engines:
            sa_event.remove(e, "before_cursor_execute", grab)

    return seen, stop


async def test_a_delivering_round_reads_through_indexes_only(platform, ws):
    tickets = await make_tickets(ws, 4)
    reg = registry()
    got: list[int] = []

    async def note(batch: feed.Batch) -> None:
        got.extend(int(r["id"]) for r in batch.rows)

    reg.consumer("events", name("plans"), note, batch=5)
    reg.consumer("events", name("plans-idem"), note, idempotent=True, batch=5)
    worker = feed.FeedWorker(platform, reg)
    await worker.setup()
    ids = await write_events(platform, ws.id, tickets, rounds=3)
    statements, stop = _captured(platform)
    try:
        await run_until([worker], has_all(got, ids))
    finally:
        stop()
    kinds = {s.split()[0].upper() for s, _ in statements}
    assert {"INSERT", "UPDATE", "SELECT"} <= kinds, kinds  # numbering, claims and reads were captured
    if platform.db.dialect == "sqlite":
        path = platform.settings.effective_database_url.split("///", 1)[1]
        db = sqlite3.connect(path)
        try:
            for stmt, params in statements:
                plan = " | ".join(str(r[3]) for r in db.execute(f"EXPLAIN QUERY PLAN {stmt}", params))
                assert not SQLITE_FULL_SCAN.search(plan), f"{stmt}\n  -> {plan}"
        finally:
            db.close()
    else:
        async with platform.db.writer.connect() as conn:
            await conn.exec_driver_sql("SET enable_seqscan = off")
            for stmt, params in statements:
                rows = await conn.exec_driver_sql(f"EXPLAIN {stmt}", params)
                plan = " | ".join(str(r[0]) for r in rows)
                assert not PG_FULL_SCAN.search(plan), f"{stmt}\n  -> {plan}"
            await conn.rollback()
