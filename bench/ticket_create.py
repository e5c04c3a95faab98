"""Ticket creation over HTTP on PostgreSQL, and whether its cost stays flat as the database grows.

Measures, for each seeded size N (default 100k and 1M tickets, one database each): requests/s and
p50/p99 latency of ``POST /api/v1/tickets`` (wrk, 32 keep-alive connections, the same requests as
``api_load.py``'s ``ticket_create``: 1 requester in 10 is new), and what one create costs:

- ``pg_cpu_ms_per_create``: CPU of the PostgreSQL backends connected to *this* database (their
  ``/proc/<pid>/stat``, pids from ``pg_stat_activity``), per created ticket. Other people's
  databases on the same server are not counted; the shared background processes (WAL writer,
  checkpointer, autovacuum launcher) are not either. ``cpu_ms_per_req_db`` (every ``postgres``
  process on the machine, as ``api_load.py`` reports it) is printed beside it.
- ``blocks_per_create`` / ``rows_read_per_create``: buffer accesses (``blks_hit + blks_read``) and
  rows returned or fetched (``tup_returned + tup_fetched``) per create, from ``pg_stat_database``.
  They do not depend on how busy the machine is, so they show growth with the database's size
  even when CPU figures are noisy.
- ``cpu_other``: the cores used by anything that is neither wrk, the server nor PostgreSQL (the
  machine is shared), and the 1-minute load average. ``ceiling_rps``: the machine's cores divided
  by the CPU one create costs (server + these backends + wrk), what an idle machine would allow.
- ``creates_per_s``: tickets committed per second in the window (``rps`` counts only answers that
  arrived before wrk stopped, which says little when a create takes seconds).

The run is ``--rounds`` windows of ``--seconds`` each (one JSON line per window), so a cost that
grows with every created ticket shows as a trend across windows as well as across sizes. Tickets
made by earlier runs are deleted first (``workload.counts``), so every run starts at N.

    .venv/bin/python bench/ticket_create.py                      # 100k and 1M: bench_100k, bench_1m
    .venv/bin/python bench/ticket_create.py --tickets 100000 --rounds 3 --seconds 10
    .venv/bin/python bench/ticket_create.py --database-url postgresql://…/helpline_bench --no-seed
    .venv/bin/python bench/ticket_create.py --drop               # drop the databases afterwards

Without ``--database-url`` each size gets its own database, ``bench_<size>`` on the server of
``--postgresql-url``, seeded by ``seed.py`` when its state file does not say it holds N tickets.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import asyncpg
from api_load import run_async, start_server
from common import DEFAULT_PG, VAR, emit, log, plain_pg_url
from loadgen import Backends, CpuMeter
from seed import state_path
from workload import Workload, counts
from wrk import run_wrk

HERE = Path(__file__).resolve().parent
LAST_TICKET = "SELECT max(id) FROM tickets"


def size_name(n: int) -> str:
    return f"{n // 1_000_000}m" if n % 1_000_000 == 0 else f"{n // 1000}k" if n % 1000 == 0 else str(n)


def database_url(a: argparse.Namespace, n: int) -> str:
    if a.database_url:
        return str(a.database_url)
    return plain_pg_url(a.postgresql_url).rsplit("/", 1)[0] + f"/bench_{size_name(n)}"


def seeded(url: str, n: int) -> bool:
    path = state_path(url)
    return path.exists() and json.loads(path.read_text()).get("tickets") == n


def seed(url: str, n: int) -> None:
    """``seed.py --reset`` (bulk SQL: ~20 s for 100k, ~2-4 min for 1M); its JSON line passes through."""
    cmd = [sys.executable, str(HERE / "seed.py"), "--database-url", url, "--tickets", str(n), "--reset"]
    log(" ".join(cmd[1:]))
    if subprocess.run(cmd, check=False).returncode != 0:
        raise SystemExit("seed.py failed")


def ceiling(cpu: dict[str, float], pg_ms: float) -> float | None:
    """What the machine's cores would allow if nothing else ran: cores / CPU per create (server,
    this database's backends, wrk). On a busy machine CPU per request is itself inflated (shared
    caches and cores), so this errs low."""
    per = cpu.get("cpu_ms_per_req_server", 0.0) + cpu.get("cpu_ms_per_req_client", 0.0) + pg_ms
    return round(1000 * (os.cpu_count() or 1) / per, 0) if per else None


async def stats_flushed(conn: asyncpg.Connection) -> None:
    """pg_stat_database lags by up to a second (statistics are flushed by each backend): wait and
    take a fresh snapshot so a window's counters are its own."""
    await asyncio.sleep(1.1)
    await conn.execute("SELECT pg_stat_clear_snapshot()")


async def measure(
    a: argparse.Namespace, url: str, base: str, pid: int, state: dict[str, Any], work: Workload, top: int
) -> None:
    conn = await asyncpg.connect(plain_pg_url(url))
    backends = Backends(conn)
    req = partial(work.request, "ticket_create")
    try:
        await run_wrk(base, state["token"], req, clients=a.clients, seconds=a.warmup)
        if a.sample:
            os.kill(pid, signal.SIGUSR1)  # serve_sampled.py: profile the measured windows only
        for rnd in range(a.rounds):
            await stats_flushed(conn)
            last0 = await conn.fetchval(LAST_TICKET)
            added = await conn.fetchval("SELECT count(*) FROM tickets WHERE id > $1", top)
            cpu0, pg0 = await backends.sample()
            meter = CpuMeter(pid)
            meter.start()
            res = await run_wrk(base, state["token"], req, clients=a.clients, seconds=a.seconds)
            cpu = meter.stop(res.ok)
            await stats_flushed(conn)  # requests still running when wrk stopped finish meanwhile
            cpu1, pg1 = await backends.sample()
            commits, blocks, rows, inserted = (b - a_ for a_, b in zip(pg0, pg1, strict=True))
            # Per committed ticket (a request still running when wrk stops counts here, not in rps).
            made = max(1, int(await conn.fetchval(LAST_TICKET)) - int(last0))
            pg_ms = round(1000 * Backends.used(cpu0, cpu1) / made, 3)
            emit(
                bench="ticket_create",
                db="postgresql",
                database=url.rsplit("/", 1)[1],
                tickets=state["tickets"],
                tickets_at_start=state["tickets"] + int(added),
                created=made,
                round=rnd + 1,
                clients=a.clients,
                workers=a.workers,
                **res.summary(),
                creates_per_s=round(made / res.elapsed, 1),
                pg_cpu_ms_per_create=pg_ms,
                **cpu,
                ceiling_rps=ceiling(cpu, pg_ms),
                blocks_per_create=round(blocks / made, 1),
                rows_read_per_create=round(rows / made, 1),
                rows_inserted_per_create=round(inserted / made, 1),
                commits_per_create=round(commits / made, 2),
                load_average_1m=round(os.getloadavg()[0], 2),
                client="wrk",
                note=(
                    "pg_cpu_ms_per_create: /proc CPU of this database's backends only; cpu_ms_per_req_db: "
                    "every postgres process on the machine (other databases included); block and row "
                    "counts from pg_stat_database (flushed up to 1 s late, so a window may include "
                    "some of the next); wrk, the server and PostgreSQL share the machine's 2 cores"
                ),
            )
    finally:
        await conn.close()


async def drain_index(url: str, state: dict[str, Any]) -> None:
    """Run the ``search.index`` jobs the creates queued (the server does not run jobs here, as in
    ``api_load.py``) with the job runner in this process: the part of a create's cost that comes
    after its answer. One JSON line: jobs/s, this process's CPU and the backends' CPU per job."""
    import helpline.app  # noqa: F401 - registers the job handlers
    from helpline.platform.jobs import JobRunner
    from helpline.platform.runtime import build_platform
    from helpline.settings import Settings

    conn = await asyncpg.connect(plain_pg_url(url))
    platform = build_platform(Settings(database_url=url, run_jobs_in_process=False, var_dir=VAR))
    backends = Backends(conn)
    try:
        queued = int(await conn.fetchval("SELECT count(*) FROM jobs WHERE kind = 'search.index'"))
        cpu0, _ = await backends.sample()
        p0, t0 = time.process_time(), time.perf_counter()
        ran = await JobRunner(platform).drain()
        p1, t1 = time.process_time(), time.perf_counter()
        cpu1, _ = await backends.sample()
        n = max(ran, 1)
        emit(
            bench="ticket_create.search_index",
            db="postgresql",
            database=url.rsplit("/", 1)[1],
            tickets=state["tickets"],
            jobs=ran,
            queued_search_jobs=queued,
            seconds=round(t1 - t0, 2),
            jobs_per_s=round(ran / (t1 - t0), 1),
            python_cpu_ms_per_job=round(1000 * (p1 - p0) / n, 3),
            pg_cpu_ms_per_job=round(1000 * Backends.used(cpu0, cpu1) / n, 3),
            load_average_1m=round(os.getloadavg()[0], 2),
            note="JobRunner.drain in the bench process (batches of 100), one at a time",
        )
    finally:
        await platform.close()
        await conn.close()


def run_size(a: argparse.Namespace, n: int) -> None:
    url = database_url(a, n)
    if a.reset or (not a.no_seed and not seeded(url, n)):
        seed(url, n)
    path = state_path(url)
    if not path.exists():
        raise SystemExit(f"{path} is missing: run without --no-seed")
    state = json.loads(path.read_text())
    lo, hi, _ = run_async(counts(url, state))  # also deletes the tickets of earlier runs
    sample_to = str(VAR / f"sample-server-{size_name(n)}.txt") if a.sample else None
    proc, base = start_server(url, a.workers, sample_to=sample_to)
    log(f"helpline serve (pid {proc.pid}, {a.workers} worker(s)) on {base}, {state['tickets']} tickets")
    try:
        run_async(measure(a, url, base, proc.pid, state, Workload(state, lo, hi), hi))
    finally:
        proc.terminate()
        proc.wait(30)
    if a.index:
        run_async(drain_index(url, state))
    if a.drop:
        run_async(drop(url))


async def drop(url: str) -> None:
    base, name = plain_pg_url(url).rsplit("/", 1)
    conn = await asyncpg.connect(f"{base}/test")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
    state_path(url).unlink(missing_ok=True)
    log(f"dropped {name}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tickets", default="100000,1000000", help="comma-separated sizes, one database each")
    p.add_argument("--postgresql-url", default=DEFAULT_PG, help="server of the bench_<size> databases")
    p.add_argument("--database-url", help="one given database instead of bench_<size> (one size only)")
    p.add_argument("--seconds", type=float, default=10, help="measured seconds per window")
    p.add_argument("--rounds", type=int, default=3, help="measured windows per size")
    p.add_argument("--warmup", type=float, default=3)
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--workers", type=int, default=2, help="helpline serve --workers (2 needs Redis)")
    p.add_argument("--no-seed", action="store_true", help="never seed (use what is there)")
    p.add_argument("--reset", action="store_true", help="seed again even when already seeded at N")
    p.add_argument("--drop", action="store_true", help="drop each database after measuring it")
    p.add_argument(
        "--sample",
        action="store_true",
        help="one server process under the stack sampler: var/bench/sample-server-<size>.txt "
        "(read it with profile_summary.py)",
    )
    p.add_argument(
        "--no-index", dest="index", action="store_false", help="leave the queued search.index jobs unrun"
    )
    a = p.parse_args()
    sizes = [int(s) for s in a.tickets.split(",") if s]
    if a.sample:
        a.workers = 1
    if a.database_url and len(sizes) > 1:
        raise SystemExit("--database-url takes one size: pass --tickets N")
    if shutil.which("wrk") is None:
        raise SystemExit("ticket_create.py drives the API with wrk: install it (apt-get install wrk)")
    t0 = time.perf_counter()
    for n in sizes:
        run_size(a, n)
    log(f"done in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
