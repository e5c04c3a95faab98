"""Recomputing the SLA of N open tickets after a schedule edit, on PostgreSQL (issue 14).

A database of its own (dropped and created again) gets a workspace configured through the API (the
schedule and policy of ``sla_common``), three customer tickets created through the API and folded by
the engine (``sla.clocks``), then N open tickets in bulk SQL with exactly the SLA rows the engine
writes for such a ticket: the rows are built by the engine's own fold (``engine._fold`` over the
``created`` and ``message_added`` events a customer's ticket has) for each of 4,320 creation minutes
(the last three days), checked against the rows of the API tickets, and copied to every ticket
created in that minute (``INSERT … SELECT`` over ``generate_series``). The SLA stream
(``sla_events``) is not seeded: the recompute never reads it.

Then the schedule is edited through ``PATCH /api/v1/schedules/{id}`` (a new version; the
``sla.recompute`` job it queues is left queued) and ``recompute.schedule_changed`` is timed end to
end: wall seconds, this process's CPU and the ``postgres`` processes' CPU. One JSON line. Target:
< 60 s for 1M tickets.

    .venv/bin/python bench/sla_recompute.py                      # 1M tickets
    .venv/bin/python bench/sla_recompute.py --tickets 100000 --page 5000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import VAR, emit, log, plain_pg_url
from loadgen import CpuMeter
from sla_common import LONGER, OFFICE, Desk, customer_ticket, desk, platform_for, prepare

from helpline.app import create_app
from helpline.db.base import utcnow
from helpline.domains.automation.sla import clocks, engine, policy, recompute, store
from helpline.domains.automation.sla.clocks import METRICS

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/bench_sla_1m"
MINUTES = 3 * 24 * 60  # tickets were created in one of the last 4,320 minutes
COLS = [c.name for c in store.clocks_t.columns if c.name not in ("ticket_id", "workspace_id")]


async def templates(d: Desk, base: datetime, check: list[int]) -> tuple[list[tuple[Any, ...]], list[Any]]:
    """The engine's rows for a customer's ticket created ``k`` minutes before ``base``, for every k:
    (clock rows, summary rows), each led by k. Checked first against the API tickets ``check``."""
    async with d.platform.db.read() as conn:
        facts = await policy.ticket_facts(conn, check)
        spaces = await policy.workspaces(conn, {d.ws})
        hours = await store.hours(conn, [d.schedule_id])
        created = {
            r.ticket_id: r.created_at
            for r in await conn.execute(
                sa.text(
                    "SELECT ticket_id, created_at FROM events WHERE kind = 'created' AND ticket_id = ANY(:t)"
                ),
                {"t": check},
            )
        }
        stored = await store.load(conn, check)

    def fold(tid: int, at: datetime) -> store.State:
        events = [
            {
                "ticket_id": tid,
                "workspace_id": d.ws,
                "kind": "created",
                "created_at": at,
                "new": {"status": "new"},
            },
            {
                "ticket_id": tid,
                "workspace_id": d.ws,
                "kind": "message_added",
                "field": None,
                "created_at": at,
                "new": {"public": True, "author_kind": "customer"},
            },
        ]
        m, state = None, None
        for e in events:
            m, state = engine._fold(m, state, e, facts[check[0]], spaces, hours)
        assert m is not None and state is not None
        state.clocks, state.facts = m.clocks, m.facts
        return state

    for tid in check:  # the engine's rows for the API's tickets are the ones the fold gives
        mine, theirs = fold(tid, created[tid]), stored[tid]
        assert store.summary_row(mine) == store.summary_row(theirs), (store.summary_row(mine), theirs)
        for m in METRICS:
            a, b = mine.clocks[m], theirs.clocks.get(m)
            assert (a.started_at is None) == (b is None or b.started_at is None), (m, a, b)
            if a.started_at is not None and b is not None:
                assert store.clock_row(tid, d.ws, mine.policy_id, a) == store.clock_row(
                    tid, d.ws, theirs.policy_id, b
                ), (m, a, b)
    clocks: list[tuple[Any, ...]] = []
    summaries: list[Any] = []
    for k in range(MINUTES):
        s = fold(0, base - timedelta(minutes=k))
        for m in METRICS:
            if s.clocks[m].started_at is not None:
                row = store.clock_row(0, d.ws, s.policy_id, s.clocks[m])
                clocks.append((k, *(row[c] for c in COLS)))
        row = store.summary_row(s)
        summaries.append(
            (
                k,
                row["next_due_at"],
                row["next_warn_at"],
                row["next_alert_at"],
                row["breached"],
                json.dumps(row["facts"]),
            )
        )
    return clocks, summaries


async def seed(url: str, d: Desk, n: int) -> float:
    """``n`` open tickets with their SLA rows, in bulk; seconds taken."""
    t0 = time.perf_counter()
    base = utcnow().replace(second=0, microsecond=0) - timedelta(minutes=1)
    check = [await customer_ticket(d, f"Check {i}") for i in range(3)]
    await d.drain()
    clocks, summaries = await templates(d, base, check)
    conn = await asyncpg.connect(plain_pg_url(url))
    try:
        await conn.execute("SET synchronous_commit = off; SET maintenance_work_mem = '512MB'")
        async with conn.transaction():
            first = await conn.fetchval(
                "SELECT coalesce(max(number), 0) + 1 FROM tickets WHERE workspace_id = $1", d.ws
            )
            await conn.execute(
                """INSERT INTO tickets (workspace_id, number, subject, status, priority, channel,
                     requester_id, custom, version, created_at, updated_at)
                   SELECT $1, $2 + g, 'Bench ticket ' || g, 'new', 'normal', 'api', $3, '{}', 1, at, at
                   FROM generate_series(0, $6 - 1) g,
                     LATERAL (SELECT $4::timestamptz - (g % $5) * interval '1 minute' AS at) x""",
                d.ws,
                first,
                d.contact_id,
                base,
                MINUTES,
                n,
            )
            await conn.execute("CREATE TEMP TABLE tpl_clocks (LIKE ticket_clocks) ON COMMIT DROP")
            await conn.execute(
                "ALTER TABLE tpl_clocks ADD COLUMN k int, ALTER COLUMN ticket_id DROP NOT NULL,"
                " ALTER COLUMN workspace_id DROP NOT NULL"
            )
            await conn.copy_records_to_table("tpl_clocks", records=clocks, columns=["k", *COLS])
            await conn.execute(
                "CREATE TEMP TABLE tpl_sla (k int, next_due_at timestamptz, next_warn_at timestamptz,"
                " next_alert_at timestamptz, breached boolean, facts text) ON COMMIT DROP"
            )
            await conn.copy_records_to_table("tpl_sla", records=summaries)
            cols = ", ".join(COLS)
            picked = (
                f"SELECT id, workspace_id, (number - $2) % {MINUTES} AS k"
                " FROM tickets WHERE workspace_id = $1 AND number >= $2"
            )
            log(f"copying the SLA rows of {n:,} tickets")
            await conn.execute(
                f"""INSERT INTO ticket_clocks (ticket_id, workspace_id, {cols})
                    SELECT t.id, t.workspace_id, {", ".join("c." + c for c in COLS)}
                    FROM ({picked}) t JOIN tpl_clocks c ON c.k = t.k""",
                d.ws,
                first,
            )
            await conn.execute(
                f"""INSERT INTO ticket_sla (ticket_id, workspace_id, policy_id, schedule_id, next_due_at,
                      next_warn_at, next_alert_at, breached, facts)
                    SELECT t.id, t.workspace_id, $3, $4, s.next_due_at, s.next_warn_at, s.next_alert_at,
                      s.breached, s.facts::jsonb
                    FROM ({picked}) t JOIN tpl_sla s ON s.k = t.k""",
                d.ws,
                first,
                d.policy_id,
                d.schedule_id,
            )
        await conn.execute("VACUUM ANALYZE tickets, ticket_clocks, ticket_sla")
    finally:
        await conn.close()
    return time.perf_counter() - t0


#: The seeded database's desk (ids and tokens), for ``--again``.
STATE = VAR / "sla_recompute.json"


async def seeded(a: argparse.Namespace, platform: Any) -> tuple[Desk, int]:
    """The desk and ticket count: seeded now, or (``--again``) the ones seeded before."""
    if a.again:
        saved = json.loads(STATE.read_text())
        d = Desk(platform, create_app(platform=platform), *saved["desk"])
        return d, int(saved["tickets"])
    log(f"preparing {a.database_url}")
    await prepare(a.database_url)
    d = await desk(platform)
    seconds = await seed(a.database_url, d, a.tickets)
    log(f"seeded {a.tickets:,} tickets in {seconds:.1f} s")
    emit(bench="sla.seed", tickets=a.tickets, seconds=round(seconds, 1))
    STATE.parent.mkdir(parents=True, exist_ok=True)
    desk_fields = [d.ws, d.schedule_id, d.policy_id, d.tokens, d.contact_id]
    STATE.write_text(json.dumps({"url": a.database_url, "tickets": a.tickets, "desk": desk_fields}))
    return d, a.tickets


async def misplanned(platform: Any, sample: int) -> int:
    """Of ``sample`` random running clocks with a target, how many differ from the engine's own
    plan (``clocks.plan`` over the stored clock, on datetimes)."""
    async with platform.db.read() as conn:
        ids = list(
            (
                await conn.execute(
                    sa.text(
                        "SELECT ticket_id FROM ticket_sla TABLESAMPLE SYSTEM (1) ORDER BY random() LIMIT :n"
                    ),
                    {"n": sample},
                )
            ).scalars()
        )
        states = await store.load(conn, ids)
        hours = await store.hours(conn, {s.schedule_id for s in states.values()})
    off = 0
    for s in states.values():
        for c in s.clocks.values():
            if c.state != "running" or c.target is None:
                continue
            stored = (c.due_at, c.warn_at)
            clocks.plan(c, hours)
            if (c.due_at, c.warn_at) != stored:
                off += 1
    return off


async def run(a: argparse.Namespace) -> None:
    platform = platform_for(a.database_url)
    try:
        d, tickets = await seeded(a, platform)
        async with d.client("admin") as c:  # the product's own path: a new version, sla.recompute queued
            body = (await c.get(f"/schedules/{d.schedule_id}")).json()["body"]
            longer = body["week"]["mon"] == LONGER["week"]["mon"]
            r = await c.patch(f"/schedules/{d.schedule_id}", json={"body": OFFICE if longer else LONGER})
            assert r.status_code == 200, r.text
        load = os.getloadavg()
        meter = CpuMeter()
        meter.start()
        cpu0, t0 = time.process_time(), time.perf_counter()
        planned = await recompute.schedule_changed(platform, d.schedule_id, page=a.page)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        used = meter.stop(requests=1)
        async with platform.db.read() as conn:  # every summary agrees with its clocks
            stale = (
                await conn.execute(
                    sa.text(
                        "SELECT count(*) FROM ticket_sla s WHERE"
                        " s.next_due_at IS DISTINCT FROM (SELECT min(due_at) FROM ticket_clocks x"
                        "   WHERE x.ticket_id = s.ticket_id AND x.breached_at IS NULL)"
                        " OR s.next_alert_at IS DISTINCT FROM (SELECT min(alert_at) FROM ticket_clocks x"
                        "   WHERE x.ticket_id = s.ticket_id)"
                    )
                )
            ).scalar_one()
            alerts_off = (  # each clock's alert_at is Clock.alert_at of its times
                await conn.execute(
                    sa.text(
                        "SELECT count(*) FROM ticket_clocks WHERE alert_at IS DISTINCT FROM CASE"
                        " WHEN state <> 'running' OR target_seconds IS NULL THEN NULL"
                        " WHEN warn_at IS NOT NULL AND warned_at IS NULL AND breached_at IS NULL THEN warn_at"
                        " WHEN breached_at IS NULL THEN due_at END"
                    )
                )
            ).scalar_one()
        emit(
            bench="sla.recompute",
            db="postgresql",
            tickets=tickets + 3,
            clocks=planned,
            page=a.page,
            seconds=round(wall, 2),
            cpu_s_process=round(cpu, 2),
            cpu_s_db=round(used["cpu_ms_per_req_db"] / 1000, 2),
            us_per_ticket=round(wall * 1e6 / (tickets + 3), 1),
            summaries_off=stale,
            alerts_off=alerts_off,
            sampled_clocks_off=await misplanned(platform, a.sample),
            target_s=60,
            load1_before=round(load[0], 2),
            load1_after=round(os.getloadavg()[0], 2),
            cores=os.cpu_count(),
        )
    finally:
        await platform.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--database-url", default=DEFAULT_URL, help="dropped and created again")
    p.add_argument("--tickets", type=int, default=1_000_000)
    p.add_argument("--page", type=int, default=recompute.SCHEDULE_PAGE, help="tickets per transaction")
    p.add_argument(
        "--sample", type=int, default=2000, help="tickets whose clocks are checked against clocks.plan"
    )
    p.add_argument(
        "--again",
        action="store_true",
        help="no seeding: edit the schedule of the database seeded last (back and forth) and recompute",
    )
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
