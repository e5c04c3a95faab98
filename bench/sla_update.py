"""What the SLA engine (the ``sla.clocks`` feed consumer) costs per ticket event (issue 14).

A database of its own (dropped and created again), a workspace configured through the API
(``sla_common``: office hours, a fallback policy with business-time targets for normal and high
priority), then ``--tickets`` tickets created in bulk SQL with the events a customer's ticket has
(``created``, the customer's public ``message_added``, shaped as the API writes them). One feed
worker in this process delivers them to the engine (``engine.on_events``, batches of ``--batch``),
then a stream of updates per ticket: an agent's public reply with the status going to *open*, the
priority raised to *high* (the ticket row too, so the policy's targets change), the customer's
reply, *pending*, *solved*: six events a ticket.

The handler is timed around each batch (``time.process_time``: this process's CPU, which includes
the driver's work for its queries; ``perf_counter``: wall). The ``postgres`` processes' CPU over the
delivery is measured too, and the same events are delivered first to a no-op consumer so the
feed's own cost can be told apart. One JSON line per phase. Target: < 1 ms of CPU per update.

    .venv/bin/python bench/sla_update.py                          # PostgreSQL, 10k tickets
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import emit, log
from loadgen import CpuMeter
from sla_common import Desk, desk, platform_for, prepare

from helpline.db.base import utcnow
from helpline.domains.automation.sla import engine
from helpline.domains.tickets.feed import EVENTS
from helpline.platform import feed
from helpline.platform.runtime import Platform

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/bench_sla_update"

CREATED = """INSERT INTO events (workspace_id, ticket_id, kind, new, actor_user_id, actor_kind, created_at)
SELECT t.workspace_id, t.id, 'created', jsonb_build_object('tags', '[]'::jsonb, 'number', t.number,
  'status', 'new', 'channel', 'api', 'subject', t.subject, 'group_id', NULL, 'priority', 'normal',
  'assignee_id', NULL, 'requester_id', t.requester_id), NULL, 'customer', t.created_at
FROM tickets t WHERE t.workspace_id = :ws AND t.number >= :first ORDER BY t.id"""
MESSAGE = """INSERT INTO events (workspace_id, ticket_id, kind, new, actor_kind, created_at)
SELECT t.workspace_id, t.id, 'message_added', jsonb_build_object('public', true, 'channel', 'api',
  'message_id', NULL, 'author_kind', CAST(:who AS text)), CAST(:who AS text),
  t.created_at + CAST(:after AS int) * interval '1 minute'
FROM tickets t WHERE t.workspace_id = :ws AND t.number >= :first ORDER BY t.id"""
CHANGE = """INSERT INTO events (workspace_id, ticket_id, kind, field, old, new, actor_kind, created_at)
SELECT t.workspace_id, t.id, 'field_changed', :field, to_jsonb(CAST(:old AS text)),
  to_jsonb(CAST(:new AS text)), 'agent',
  t.created_at + CAST(:after AS int) * interval '1 minute'
FROM tickets t WHERE t.workspace_id = :ws AND t.number >= :first ORDER BY t.id"""


async def tickets(d: Desk, n: int) -> int:
    """``n`` new tickets, created an hour ago (one a millisecond); the first's number."""
    async with d.platform.db.transaction() as uow:
        first = int(
            (
                await uow.execute(
                    sa.text("SELECT coalesce(max(number), 0) + 1 FROM tickets WHERE workspace_id = :ws"),
                    {"ws": d.ws},
                )
            ).scalar_one()
        )
        await uow.execute(
            sa.text(
                "INSERT INTO tickets (workspace_id, number, subject, status, priority, channel,"
                " requester_id, custom, version, created_at, updated_at)"
                " SELECT :ws, :first + g, 'Bench ticket ' || g, 'new', 'normal', 'api', :contact, '{}', 1,"
                " at, at FROM generate_series(0, :n - 1) g,"
                " LATERAL (SELECT CAST(:base AS timestamptz) + g * interval '1 millisecond' AS at) x"
            ),
            {
                "ws": d.ws,
                "first": first,
                "contact": d.contact_id,
                "n": n,
                "base": utcnow().replace(microsecond=0),
            },
        )
    return first


async def write_events(d: Desk, first: int, phase: str) -> None:
    p = {"ws": d.ws, "first": first}
    async with d.platform.db.transaction() as uow:
        if phase == "create":
            await uow.execute(sa.text(CREATED), p)
            await uow.execute(sa.text(MESSAGE), {**p, "who": "customer", "after": 0})
            return
        await uow.execute(sa.text(MESSAGE), {**p, "who": "agent", "after": 10})
        await uow.execute(sa.text(CHANGE), {**p, "field": "status", "old": "new", "new": "open", "after": 10})
        await uow.execute(
            sa.text("UPDATE tickets SET priority = 'high' WHERE workspace_id = :ws AND number >= :first"), p
        )
        await uow.execute(
            sa.text(CHANGE), {**p, "field": "priority", "old": "normal", "new": "high", "after": 20}
        )
        await uow.execute(sa.text(MESSAGE), {**p, "who": "customer", "after": 30})
        await uow.execute(
            sa.text(CHANGE), {**p, "field": "status", "old": "open", "new": "pending", "after": 40}
        )
        await uow.execute(
            sa.text(CHANGE), {**p, "field": "status", "old": "pending", "new": "solved", "after": 50}
        )


class Timed:
    """A consumer handler that counts rows and the CPU and wall time spent in ``inner``."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.rows, self.cpu, self.wall, self.batches = inner, 0, 0.0, 0.0, 0

    async def __call__(self, batch: feed.Batch) -> None:
        c0, t0 = time.process_time(), time.perf_counter()
        if self.inner is not None:
            await self.inner(batch)
        self.cpu += time.process_time() - c0
        self.wall += time.perf_counter() - t0
        self.rows += len(batch.rows)
        self.batches += 1


async def deliver(
    platform: Platform, handler: Timed, name: str, a: argparse.Namespace, write: Any
) -> dict[str, Any]:
    """Set up a consumer ``name`` at the head, write the events, deliver them all; the figures."""
    reg = feed.Registry()
    reg.source(EVENTS)
    reg.consumer("events", name, handler, batch=a.batch)
    worker = feed.FeedWorker(platform, reg, partitions=a.partitions)
    await worker.setup()
    expected = await write()
    meter = CpuMeter()
    meter.start()
    t0 = time.perf_counter()
    while handler.rows < expected:
        if await worker.run_once() == 0:
            await asyncio.sleep(0.005)
    wall = time.perf_counter() - t0
    used = meter.stop(requests=handler.rows)
    return {
        "events": handler.rows,
        "batches": handler.batches,
        "seconds": round(wall, 2),
        "handler_cpu_us_per_event": round(handler.cpu * 1e6 / handler.rows, 1),
        "handler_wall_us_per_event": round(handler.wall * 1e6 / handler.rows, 1),
        "worker_cpu_us_per_event": round(used["cpu_ms_per_req_client"] * 1000, 1),
        "db_cpu_us_per_event": round(used["cpu_ms_per_req_db"] * 1000, 1),
    }


async def run(a: argparse.Namespace) -> None:
    log(f"preparing {a.database_url}")
    await prepare(a.database_url)
    platform = platform_for(a.database_url)
    try:
        d = await desk(platform)
        first = await tickets(d, a.tickets)
        n = a.tickets

        async def created() -> int:
            await write_events(d, first, "create")
            return 2 * n

        async def updated() -> int:
            await write_events(d, first, "update")
            return 6 * n

        log(f"creating {n:,} tickets' SLA through the engine")
        figures = await deliver(platform, Timed(engine.on_events), "bench.sla.create", a, created)
        emit(
            bench="sla.create", tickets=n, **figures, load1=round(os.getloadavg()[0], 2), cores=os.cpu_count()
        )
        # The same update events go to a no-op consumer first (the feed's own cost), then to the engine.
        noop = Timed(None)
        reg = feed.Registry()
        reg.source(EVENTS)
        reg.consumer("events", "bench.noop", noop, batch=a.batch)
        await feed.FeedWorker(platform, reg).setup()
        log(f"updating {n:,} tickets ({6 * n:,} events)")
        engine_t = Timed(engine.on_events)
        figures = await deliver(platform, engine_t, "bench.sla.update", a, updated)
        base = await deliver(platform, noop, "bench.noop", a, lambda: _zero(6 * n))
        emit(
            bench="sla.update",
            tickets=n,
            **figures,
            noop_worker_cpu_us_per_event=base["worker_cpu_us_per_event"],
            noop_db_cpu_us_per_event=base["db_cpu_us_per_event"],
            target_cpu_us_per_event=1000,
            load1=round(os.getloadavg()[0], 2),
            cores=os.cpu_count(),
        )
    finally:
        await platform.close()


async def _zero(n: int) -> int:
    return n


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--database-url", default=DEFAULT_URL, help="dropped and created again")
    p.add_argument("--tickets", type=int, default=10_000)
    p.add_argument("--batch", type=int, default=200, help="rows per delivery (the consumer's batch)")
    p.add_argument(
        "--partitions",
        type=int,
        default=1,
        help="partitions a worker claims per round (1: handlers never overlap)",
    )
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
