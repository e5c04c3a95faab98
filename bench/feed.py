"""The durable feed (ADR 0014): events delivered per second to a no-op consumer, and what each event
costs at two stored sizes.

For each stored size (the ``events`` table grown to it with bulk SQL first), a fresh no-op consumer
starts at the head, ``--events`` new events are written over ``--tickets`` tickets, and one feed
worker in this process numbers and delivers them (8 partitions, ``--partitions`` claimed per round,
``--batch`` rows per delivery). Both kinds of consumer are measured: transactional (the default: each
batch in a transaction that moves the cursor) and idempotent (handler outside a transaction).

Prints one JSON line per (size, kind): events/s, wall and CPU microseconds per event (this process:
the worker; ``postgres`` processes: the database), and the machine's load. Targets (issue 12):
>= 5,000 events/s on PostgreSQL; the cost per event flat between 100k and 1M stored events.

    .venv/bin/python bench/feed.py                                   # PostgreSQL, 100k and 1M stored
    .venv/bin/python bench/feed.py --database-url sqlite:///var/bench/feed.db --sizes 100000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import VAR, async_url, dialect, emit, log, plain_pg_url, sqlite_path
from loadgen import CpuMeter

from helpline.db.base import utcnow
from helpline.db.migrate import upgrade
from helpline.domains.accounts import service as accounts
from helpline.domains.customers import service as customers
from helpline.domains.tickets.feed import EVENTS
from helpline.domains.tickets.models import Event, Ticket
from helpline.platform import feed
from helpline.platform.models import FeedCursor
from helpline.platform.runtime import Platform, build_platform
from helpline.settings import Settings

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/helpline_bench_feed"
events_t = Event.__table__
tickets_t = Ticket.__table__


async def prepare(url: str) -> None:
    """An empty, migrated database."""
    if dialect(url) == "sqlite":
        path = sqlite_path(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)  # noqa: ASYNC240 - before anything runs
    else:
        dsn = plain_pg_url(url)
        base, name = dsn.rsplit("/", 1)
        admin = await asyncpg.connect(f"{base}/test")
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
    await asyncio.to_thread(upgrade, async_url(url))


async def seed_tickets(platform: Platform, n: int) -> tuple[int, int]:
    """A workspace with ``n`` tickets; (workspace id, first ticket id). Ids are consecutive."""
    async with platform.db.transaction() as uow:
        ws = await accounts.create_workspace(uow, "Feed bench", "feed-bench")
        contact = await customers.find_or_create_contact(uow, ws, email="c@feed.bench", name="C")
        now = utcnow()
        rows = [
            {
                "workspace_id": ws,
                "number": i + 1,
                "subject": f"ticket {i}",
                "status": "open",
                "priority": "normal",
                "channel": "api",
                "requester_id": contact,
                "custom": {},
                "version": 1,
                "created_at": now,
                "updated_at": now,
            }
            for i in range(n)
        ]
        await uow.execute(tickets_t.insert(), rows)
        first = (
            await uow.execute(sa.select(sa.func.min(tickets_t.c.id)).where(tickets_t.c.workspace_id == ws))
        ).scalar_one()
    return ws, int(first)


async def add_events(
    platform: Platform, ws: int, first: int, tickets: int, n: int, chunk: int = 20_000
) -> None:
    """``n`` events spread over the tickets, in transactions of ``chunk`` (bulk SQL, no Python rows)."""
    at = utcnow()
    done = 0
    while done < n:
        k = min(chunk, n - done)
        async with platform.db.transaction() as uow:
            if uow.dialect == "postgresql":
                sql = (
                    "INSERT INTO events (workspace_id, ticket_id, kind, actor_kind, created_at) "
                    "SELECT :ws, :first + ((g + :off) % :tickets), 'bench', 'system', :at "
                    "FROM generate_series(1, :k) g"
                )
                params: dict[str, Any] = {"at": at}
            else:
                sql = (
                    "INSERT INTO events (workspace_id, ticket_id, kind, actor_kind, created_at) "
                    "WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < :k) "
                    "SELECT :ws, :first + ((x + :off) % :tickets), 'bench', 'system', :at FROM g"
                )
                params = {"at": at.replace(tzinfo=None).isoformat(sep=" ")}
            await uow.execute(
                sa.text(sql), {**params, "ws": ws, "first": first, "off": done, "tickets": tickets, "k": k}
            )
        done += k


async def stored(platform: Platform) -> int:
    async with platform.db.read() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(events_t))).scalar_one())


async def analyze(platform: Platform) -> None:
    async with platform.db.transaction() as uow:
        await uow.execute(sa.text("ANALYZE"))


async def measure(
    platform: Platform, a: argparse.Namespace, size: int, kind: str, ws: int, first: int
) -> None:
    reg = feed.Registry()
    reg.source(EVENTS)
    got = [0]

    async def noop(batch: feed.Batch) -> None:
        got[0] += len(batch.rows)

    name = f"bench.{kind}.{size}"
    reg.consumer("events", name, noop, idempotent=kind == "idempotent", batch=a.batch)
    worker = feed.FeedWorker(platform, reg, partitions=a.partitions)
    await worker.setup()
    await add_events(platform, ws, first, a.tickets, a.events)
    meter = CpuMeter()
    meter.start()
    t0 = time.perf_counter()
    rounds = 0
    while got[0] < a.events:
        rounds += 1
        if await worker.run_once() == 0:
            await asyncio.sleep(0.005)
    seconds = time.perf_counter() - t0
    cpu = meter.stop(requests=got[0])
    emit(
        bench="feed.deliver",
        db=platform.db.dialect,
        consumer=kind,
        stored=size,
        events=got[0],
        seconds=round(seconds, 3),
        events_per_s=round(got[0] / seconds, 1),
        us_per_event=round(seconds * 1e6 / got[0], 1),
        cpu_us_per_event_worker=round(cpu["cpu_ms_per_req_client"] * 1000, 1),
        cpu_us_per_event_db=round(cpu["cpu_ms_per_req_db"] * 1000, 1)
        if platform.db.dialect == "postgresql"
        else None,
        cpu_other=cpu["cpu_other"],
        rounds=rounds,
        batch=a.batch,
        partitions=a.partitions,
        load1=round(os.getloadavg()[0], 2),
        cores=os.cpu_count(),
    )
    async with platform.db.transaction() as uow:  # gone, so the next size's rows are not numbered for it
        await uow.execute(FeedCursor.__table__.delete().where(FeedCursor.__table__.c.consumer == name))


async def run(a: argparse.Namespace) -> None:
    url = async_url(a.database_url)
    log(f"preparing {url}")
    await prepare(a.database_url)
    platform = build_platform(
        Settings(
            database_url=url,
            var_dir=VAR,
            secret_key="feed-bench-secret-0123456789abcdefghij",
            run_jobs_in_process=False,
        )
    )
    try:
        ws, first = await seed_tickets(platform, a.tickets)
        for size in sorted(int(s) for s in a.sizes.split(",")):
            have = await stored(platform)
            if have < size:
                log(f"growing events to {size:,} (has {have:,})")
                await add_events(platform, ws, first, a.tickets, size - have, chunk=100_000)
                await analyze(platform)
            size_now = await stored(platform)
            for kind in ("transactional", "idempotent"):
                log(f"delivering {a.events:,} events to a {kind} no-op consumer, {size_now:,} stored")
                await measure(platform, a, size_now, kind, ws, first)
    finally:
        await platform.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--database-url", default=DEFAULT_URL, help="dropped and created again")
    p.add_argument("--sizes", default="100000,1000000", help="stored events before each measure")
    p.add_argument("--events", type=int, default=50_000, help="events delivered per measure")
    p.add_argument("--tickets", type=int, default=2_000)
    p.add_argument("--batch", type=int, default=200, help="rows per delivery (the consumer's batch)")
    p.add_argument("--partitions", type=int, default=4, help="partitions a worker claims per round")
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
