"""Pieces the feed tests share with the process the kill test SIGKILLs: a table where consumers record
what they handled (in their delivery transaction), event writers and a driver for rounds."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import sqlalchemy as sa

from helpline.db.base import utcnow
from helpline.domains.tickets.feed import EVENTS
from helpline.domains.tickets.models import Event
from helpline.platform import feed
from helpline.platform.runtime import Platform

events = Event.__table__

#: What a consumer handled, written in the same transaction that moves its cursor.
SEEN = sa.Table(
    "feed_test_seen",
    sa.MetaData(),
    sa.Column("consumer", sa.String(100), nullable=False),
    sa.Column("event_id", sa.BigInteger, nullable=False),
    sa.Column("worker", sa.String(100), nullable=False),
)


async def make_seen_table(platform: Platform) -> None:
    async with platform.db.transaction() as uow:
        await uow.conn.run_sync(lambda sync: SEEN.create(sync, checkfirst=True))


def registry() -> feed.Registry:
    """A registry of our own over the real ``events`` source (the process-wide one stays untouched)."""
    r = feed.Registry()
    r.source(EVENTS)
    return r


def name(label: str) -> str:
    return f"test.{label}.{uuid.uuid4().hex[:8]}"


async def make_tickets(ws: Any, n: int) -> list[int]:
    """``n`` tickets made through the API (their own events come before the tests' consumers start)."""
    agent = await ws.person("agent")
    ids = []
    async with ws.client(agent) as c:
        for i in range(n):
            r = await c.post(
                "/tickets",
                json={"subject": f"feed {i}", "body": "b", "requester": {"email": f"c{i}@feed.test"}},
            )
            assert r.status_code == 201, r.text
            ids.append(int(r.json()["id"]))
    return ids


def event(ws_id: int, ticket_id: int, n: int, at: Any = None) -> dict[str, Any]:
    return {
        "workspace_id": ws_id,
        "ticket_id": ticket_id,
        "kind": "test",
        "field": None,
        "old": None,
        "new": {"n": n},
        "actor_user_id": None,
        "actor_kind": "system",
        "created_at": at or utcnow(),
    }


async def write_events(platform: Platform, ws_id: int, tickets: list[int], rounds: int) -> list[int]:
    """One transaction per round, each writing one event to every ticket; the ids in order."""
    ids: list[int] = []
    for r in range(rounds):
        async with platform.db.transaction() as uow:
            for t in tickets:
                row = await uow.execute(events.insert().values(**event(ws_id, t, r)).returning(events.c.id))
                ids.append(int(row.scalar_one()))
    return ids


Done = Callable[[], Awaitable[bool]]


def has_all(log: list[int], ids: Iterable[int]) -> Done:
    """``done`` for :func:`run_until`: every id of ``ids`` is in ``log``."""
    want = set(ids)

    async def check() -> bool:
        return want <= set(log)

    return check


def all_seen(platform: Platform, consumer: str, ids: Iterable[int]) -> Done:
    """``done`` for :func:`run_until`: every id of ``ids`` is committed in SEEN for ``consumer``."""
    want = set(ids)

    async def check() -> bool:
        return want <= {i for i, _ in await seen_rows(platform, consumer)}

    return check


def both(*checks: Done) -> Done:
    async def check() -> bool:
        return all([await c() for c in checks])

    return check


async def run_until(workers: Iterable[feed.FeedWorker], done: Done, within: float = 60) -> None:
    """Run rounds of every worker side by side until ``done()`` is true (at most ``within`` s)."""
    deadline = time.monotonic() + within
    workers = list(workers)

    async def loop(w: feed.FeedWorker) -> None:
        while not await done():
            if time.monotonic() > deadline:
                raise TimeoutError("the feed did not deliver everything in time")
            if await w.run_once() == 0:
                await asyncio.sleep(0.02)

    await asyncio.gather(*(loop(w) for w in workers))


def per_ticket(ids: list[int], ticket_of: dict[int, int]) -> dict[int, list[int]]:
    """Event ids by ticket, in the order they were handled (first handling only)."""
    seen: set[int] = set()
    out: dict[int, list[int]] = defaultdict(list)
    for i in ids:
        if i in ticket_of and i not in seen:
            seen.add(i)
            out[ticket_of[i]].append(i)
    return out


async def seen_rows(platform: Platform, consumer: str) -> list[tuple[int, str]]:
    async with platform.db.read() as conn:
        rows = await conn.execute(
            sa.select(SEEN.c.event_id, SEEN.c.worker).where(SEEN.c.consumer == consumer)
        )
        return [(int(r[0]), str(r[1])) for r in rows]


async def ticket_map(platform: Platform, ws_id: int) -> dict[int, int]:
    async with platform.db.read() as conn:
        rows = await conn.execute(
            sa.select(events.c.id, events.c.ticket_id).where(events.c.workspace_id == ws_id)
        )
        return {int(r[0]): int(r[1]) for r in rows}
