"""CPU cost of one API request inside the app, without HTTP, the network or the load generator.

Measures, per operation: the Python CPU milliseconds per request spent in the app process (ASGI app
called in-process through httpx's ASGI transport, one request at a time, so there is no queueing
and no competition for the cores to blur it), the database statements per request, on PostgreSQL
the CPU of this database's backends per request (``pg_cpu_ms_per_req``; with one request at a
time every write commit waits for its own WAL flush, more than under load), and, with
``--cprofile`` or ``--sample`` (a stack sampler, see ``sampler.py``; read its output with
``profile_summary.py``), the functions where that CPU goes. Compare with ``cpu_ms_per_req_*`` of api_load.

    .venv/bin/python bench/profile_app.py --database-url postgresql://postgres@127.0.0.1:5432/helpline_bench
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import pstats
import threading
import time
from typing import Any

import asyncpg
import httpx
from common import DEFAULT_PG, VAR, dialect, emit, plain_pg_url
from loadgen import Backends
from sampler import Sampler
from seed import state_path
from sqlalchemy import event
from workload import OPS, Workload, counts

from helpline.app import create_app
from helpline.platform.runtime import build_platform
from helpline.settings import Settings


async def run(a: argparse.Namespace) -> None:
    state = json.loads(state_path(a.database_url).read_text())
    lo, hi, _ = await counts(a.database_url, state)
    work = Workload(state, lo, hi)
    settings = Settings(database_url=a.database_url, run_jobs_in_process=False, var_dir=VAR)
    platform = build_platform(settings)
    statements = [0]

    def count(*_: Any) -> None:
        statements[0] += 1

    # Listen once per pool (the reader and the writer are separate pools on both databases).
    engines = {id(e.sync_engine.pool): e for e in (platform.db.reader, platform.db.writer)}
    for engine in engines.values():
        event.listen(engine.sync_engine, "before_cursor_execute", count)
    app = create_app(settings, platform=platform)
    is_pg = dialect(a.database_url) == "postgresql"
    pg = await asyncpg.connect(plain_pg_url(a.database_url)) if is_pg else None
    backends = Backends(pg) if pg is not None else None
    headers = {"Authorization": f"Bearer {state['token']}"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench", headers=headers) as client:
        for op in a.ops:

            async def call(i: int, op: str = op) -> None:
                method, path, payload = work.request(op, i)
                r = await client.request(method, path, json=payload)
                if r.status_code not in (200, 201):
                    raise RuntimeError(f"{op}: {r.status_code} {r.text[:200]}")

            for i in range(20):  # warm caches (SQLAlchemy compiled statements, prepared statements)
                await call(10**6 + i)
            statements[0] = 0
            prof = cProfile.Profile(time.process_time) if a.cprofile else None  # CPU time, not wall
            sample_out = VAR / f"sample-{dialect(a.database_url)}-{op}.txt"
            sampler = Sampler(threading.main_thread(), sample_out) if a.sample else None
            pg0 = (await backends.sample())[0] if backends else {}
            cpu0, wall0 = time.process_time(), time.perf_counter()
            if prof:
                prof.enable()
            if sampler:
                sampler.start()
            for i in range(a.requests):
                await call(i)
            if prof:
                prof.disable()
            if sampler:
                sampler.stop()
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            pg_s = Backends.used(pg0, (await backends.sample())[0]) if backends else None
            # The in-process client (httpx + ASGI transport) is part of ``cpu``; measured alone it
            # is a fraction of a millisecond per request.
            emit(
                bench=f"app_cpu.{op}",
                op=op,
                db=dialect(a.database_url),
                tickets=state["tickets"],
                requests=a.requests,
                cpu_ms_per_req=round(1000 * cpu / a.requests, 3),
                wall_ms_per_req=round(1000 * wall / a.requests, 3),
                pg_cpu_ms_per_req=None if pg_s is None else round(1000 * pg_s / a.requests, 3),
                statements_per_req=round(statements[0] / a.requests, 2),
                cprofile=bool(prof),
                sampled=str(sample_out) if sampler else None,
                note="one request at a time, app called in-process (no HTTP server), includes httpx client",
            )
            if prof:
                buf = io.StringIO()
                stats = pstats.Stats(prof, stream=buf).sort_stats(a.sort)
                stats.print_stats(a.top)
                stats.sort_stats("cumulative").print_stats(a.top)
                (VAR / f"cprofile-{dialect(a.database_url)}-{op}.txt").write_text(buf.getvalue())
    if pg is not None:
        await pg.close()
    await platform.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--database-url", default=DEFAULT_PG)
    p.add_argument("--requests", type=int, default=300)
    p.add_argument("--ops", default=",".join(OPS))
    p.add_argument("--cprofile", action="store_true", help="write var/bench/cprofile-<db>-<op>.txt")
    p.add_argument(
        "--sample",
        action="store_true",
        help="sample the stack every ms (bench/sampler.py): var/bench/sample-<db>-<op>.txt, "
        "py-spy's raw format for profile_summary.py",
    )
    p.add_argument("--sort", default="tottime")
    p.add_argument("--top", type=int, default=40)
    a = p.parse_args()
    a.ops = a.ops.split(",")
    asyncio.run(run(a))


if __name__ == "__main__":
    main()
