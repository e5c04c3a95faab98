"""What ``make bench`` runs: seed, then load-test the API and the bare-driver limit, per database;
then the durable feed's delivery rate and cost per event (``feed.py``, in a database of its own).

Measures everything ``seed.py``, ``api_load.py`` and ``feed.py`` measure, and on PostgreSQL
``ticket_create.py`` (creates in windows, with the database's CPU per create), as JSON lines on stdout
(progress on stderr). By default: 100k tickets on SQLite (``var/bench/helpline_bench.db``) and 100k on
PostgreSQL (``helpline_bench`` on 127.0.0.1, when it answers; served by 2 workers, which helps
there because one worker saturates a core in Python), 10 s per operation.

    make bench                                             # both databases, 100k tickets
    make bench BENCH_ARGS="--tickets 1000000 --db postgresql"
    .venv/bin/python bench/run_all.py --db sqlite --seconds 5 --no-seed
    make bench BENCH_ARGS="--db postgresql --ops ticket_get --no-feed --sla-tickets 1000000"  # + SLA
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import asyncpg
from common import DEFAULT_PG, DEFAULT_SQLITE, VAR, emit, log, plain_pg_url

HERE = Path(__file__).resolve().parent


async def _pg_reachable(url: str) -> bool:
    base = plain_pg_url(url).rsplit("/", 1)[0]
    try:
        conn = await asyncpg.connect(f"{base}/test", timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await conn.close()
    return True


def _redis_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=2).close()
    except OSError:
        return False
    return True


def _run(script: str, *args: str) -> None:
    """Run a bench script; its JSON lines pass straight through to our stdout."""
    cmd = [sys.executable, str(HERE / script), *args]
    log(" ".join(cmd[1:]))
    if subprocess.run(cmd, check=False).returncode != 0:
        raise SystemExit(f"{script} failed")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    p.add_argument("--tickets", type=int, default=100_000)
    p.add_argument("--seconds", type=float, default=10, help="measured seconds per operation")
    p.add_argument("--clients", type=int, default=32)
    p.add_argument(
        "--workers",
        type=int,
        default=2,
        help="helpline serve --workers on PostgreSQL (2 needs Redis; else 1)",
    )
    p.add_argument("--postgresql-url", default=DEFAULT_PG)
    p.add_argument("--sqlite-url", default=DEFAULT_SQLITE)
    p.add_argument("--no-seed", action="store_true", help="reuse the data of the last seed")
    p.add_argument("--ops", help="comma-separated subset of operations (see api_load.py)")
    p.add_argument("--no-feed", action="store_true", help="skip feed.py")
    p.add_argument("--feed-sizes", default="100000,1000000", help="stored events for feed.py")
    p.add_argument(
        "--sla-tickets",
        type=int,
        default=0,
        help="on PostgreSQL, also sla_recompute.py at this many tickets and sla_update.py (issue 14)",
    )
    a = p.parse_args()
    targets: list[tuple[str, str, int]] = []
    if a.db in ("sqlite", "both"):
        targets.append(("sqlite", a.sqlite_url, 1))
    if a.db in ("postgresql", "both"):
        if asyncio.run(_pg_reachable(a.postgresql_url)):
            workers = a.workers if a.workers == 1 or _redis_up() else 1
            targets.append(("postgresql", a.postgresql_url, workers))
        else:
            log(f"PostgreSQL at {a.postgresql_url} does not answer: skipped")
            emit(bench="skipped", db="postgresql", reason="not reachable")
    for kind, url, workers in targets:
        if not a.no_seed:
            _run("seed.py", "--database-url", url, "--tickets", str(a.tickets), "--reset")
        load = ["--database-url", url, "--seconds", str(a.seconds), "--clients", str(a.clients)]
        load += ["--workers", str(workers)] + (["--ops", a.ops] if a.ops else [])
        _run("api_load.py", *load)
        if kind == "postgresql" and (not a.ops or "ticket_create" in a.ops) and shutil.which("wrk"):
            # Creates alone, in windows, with the database's own CPU per create (issue 12); at
            # 100k and 1M in databases of their own: ``bench/ticket_create.py`` with no arguments.
            create = ["--database-url", url, "--tickets", str(a.tickets), "--no-seed"]
            create += ["--seconds", str(a.seconds), "--clients", str(a.clients), "--workers", str(workers)]
            _run("ticket_create.py", *create)
    for db, url, _ in [] if a.no_feed else targets:
        # feed.py drops and creates its own database (the seeded one is left as it is).
        feed_url = (
            f"sqlite:///{VAR / 'feed.db'}"
            if db == "sqlite"
            else url.rsplit("/", 1)[0] + "/helpline_bench_feed"
        )
        _run("feed.py", "--database-url", feed_url, "--sizes", a.feed_sizes)
    for db, url, _ in targets if a.sla_tickets else []:
        if db == "postgresql":  # each in a database of its own (dropped and created again)
            base = url.rsplit("/", 1)[0]
            _run(
                "sla_recompute.py", "--database-url", f"{base}/bench_sla_1m", "--tickets", str(a.sla_tickets)
            )
            _run("time_rules.py")  # a time rules pass over the same open tickets (issue 15)
            _run("sla_update.py", "--database-url", f"{base}/bench_sla_update")


if __name__ == "__main__":
    main()
