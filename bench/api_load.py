"""Load test of the HTTP API on a seeded database, beside the bare-driver limit of the same work.

Measures, per operation (ticket create, get by id, filtered list by status+priority and by tag,
full-text search for a rare and for a common word): requests/s, p50/p90/p99 latency and errors
with ``--clients`` concurrent closed-loop clients, each operation for ``--seconds`` (after a short
warm-up) or ``--requests``, whichever ends first. One JSON line per figure on stdout, with
``"mode": "api"`` (``helpline serve`` driven over loopback by an httpx client) or ``"mode": "bare"``
(the same SQL with asyncpg, 32 concurrent tasks, or sqlite3 sequentially; see ``bare.py``).
``cpu_*`` fields say how many cores the load generator, the server, PostgreSQL and anything else
on the machine used during the run: everything shares the same cores.

    .venv/bin/python bench/api_load.py --database-url postgresql://postgres@127.0.0.1:5432/helpline_bench
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import asyncpg
import httpx
import uvloop
from bare import PgOps, SqliteOps, fts_phrase
from common import (
    DEFAULT_PG,
    ROOT,
    VAR,
    dialect,
    emit,
    log,
    plain_pg_url,
    sqlite_path,
)
from loadgen import CpuMeter, Result, StatusError, drive, drive_sync
from seed import state_path
from workload import OPS, Workload, counts
from wrk import WrkResult, run_wrk

NOTE_API = (
    "load generator (httpx, one process) shares the machine's 2 cores with the server and "
    "the database; other processes on the machine show as cpu_other"
)
NOTE_API_WRK = (
    "load generator (wrk, one thread) shares the machine's 2 cores with the server and the database; "
    "other processes on the machine show as cpu_other"
)
NOTE_BARE = {
    "postgresql": "asyncpg, 32 concurrent tasks in one process, same SQL as the app, no HTTP",
    "sqlite": "sqlite3, one connection, sequential calls in one process, same SQL as the app, no HTTP",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    url: str, workers: int, *, sample_to: str | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """``helpline serve`` on a free port, once it answers; with ``sample_to``, one process under the
    stack sampler instead (``serve_sampled.py``), which writes its profile there when it stops."""
    port = free_port()
    env = {
        **os.environ,
        "HELPLINE_DATABASE_URL": url,
        "HELPLINE_RUN_JOBS_IN_PROCESS": "false",
        "HELPLINE_VAR_DIR": str(VAR),
    }
    if workers > 1:
        env["HELPLINE_REDIS_URL"] = "redis://127.0.0.1:6379/0"
    helpline = shutil.which("helpline", path=os.path.dirname(sys.executable)) or "helpline"
    logfile = open(VAR / f"server-{dialect(url)}.log", "ab")  # noqa: SIM115 - the server keeps it
    cmd = [helpline, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    if sample_to is not None:
        cmd = [sys.executable, str(ROOT / "bench" / "serve_sampled.py"), sample_to, str(port)]
    proc = subprocess.Popen(
        cmd,
        env=env,
        stdout=logfile,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"helpline serve exited with {proc.returncode}; see {logfile.name}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    proc.terminate()
    raise SystemExit("helpline serve did not answer /healthz within 90 s")


class Runner:
    def __init__(self, a: argparse.Namespace, state: dict[str, Any], work: Workload, matches: dict[str, int]):
        self.a, self.state, self.work, self.matches = a, state, work, matches
        self.db = dialect(a.database_url)
        self.op = ""

    def report(
        self, op: str, mode: str, res: Result | WrkResult, cpu: dict[str, float], **extra: Any
    ) -> None:
        emit(
            bench=f"{mode}.{op}",
            mode=mode,
            op=op,
            db=self.db,
            tickets=self.state["tickets"],
            clients=extra.pop("clients", self.a.clients),
            **res.summary(),
            **cpu,
            matches=self.matches.get(op),
            param=str(self.work.arg(op, 0))[:60],
            **extra,
        )

    async def _spy(self, server_pid: int | None) -> asyncio.subprocess.Process | None:
        """With --profile, sample the server's stacks (py-spy, GIL holders only) during the run."""
        spy = shutil.which("py-spy", path=os.path.dirname(sys.executable)) or shutil.which("py-spy")
        if not self.a.profile or server_pid is None or spy is None:
            return None
        out = VAR / f"profile-{self.db}-{self.op}.txt"
        args = ["record", "--pid", str(server_pid), "--duration", str(int(self.a.seconds)), "--rate", "250"]
        args += ["--format", "raw", "--gil", "--nonblocking", "--subprocesses", "--output", str(out)]
        return await asyncio.create_subprocess_exec(
            spy, *args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    async def measure(
        self, call: Callable[[int], Awaitable[None]], clients: int, server_pid: int | None
    ) -> tuple[Result, dict[str, float]]:
        await drive(call, clients=clients, seconds=self.a.warmup, max_requests=10**9)
        spy = await self._spy(server_pid)
        meter = CpuMeter(server_pid)
        meter.start()
        res = await drive(call, clients=clients, seconds=self.a.seconds, max_requests=self.a.requests)
        cpu = meter.stop(len(res.lat_ms))
        if spy is not None:
            await spy.wait()
        return res, cpu

    async def api(self, base: str, pid: int) -> None:
        if self.a.client == "wrk":
            for op in self.a.ops:
                self.op = op
                req = partial(self.work.request, op)
                token, n = self.state["token"], self.a.clients
                await run_wrk(base, token, req, clients=n, seconds=self.a.warmup)
                spy = await self._spy(pid)
                meter = CpuMeter(pid)
                meter.start()
                res = await run_wrk(base, token, req, clients=n, seconds=self.a.seconds)
                cpu = meter.stop(res.ok)
                if spy is not None:
                    await spy.wait()
                self.report(op, "api", res, cpu, workers=self.a.workers, client="wrk", note=NOTE_API_WRK)
            return
        headers = {"Authorization": f"Bearer {self.state['token']}"}
        limits = httpx.Limits(max_connections=self.a.clients, max_keepalive_connections=self.a.clients)
        async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=60) as client:
            for op in self.a.ops:
                self.op = op

                async def call(i: int, op: str = op) -> None:
                    method, path, payload = self.work.request(op, i)
                    r = await client.request(method, path, json=payload)
                    if r.status_code not in (200, 201):
                        raise StatusError(str(r.status_code))

                res, cpu = await self.measure(call, self.a.clients, pid)
                self.report(op, "api", res, cpu, workers=self.a.workers, client="httpx", note=NOTE_API)

    def bare_call(self, ops: PgOps | SqliteOps, op: str) -> Callable[[int], Any]:
        w = self.work
        sq = self.db == "sqlite"
        table: dict[str, Callable[[int], Any]] = {
            "ticket_get": lambda i: ops.ticket_get(w.arg(op, i)),
            "list_status": lambda i: ops.listing("list_status", "open", "high"),
            "list_tag": lambda i: ops.listing("list_tag", w.arg(op, i)),
            "search_rare": lambda i: ops.listing(
                "search_pg", fts_phrase(w.arg(op, i)) if sq else w.arg(op, i)
            ),
            "search_common": lambda i: ops.listing(
                "search_pg", fts_phrase(w.arg(op, i)) if sq else w.arg(op, i)
            ),
            "ticket_create": lambda i: ops.ticket_create(w.arg(op, i)),
        }
        return table[op]

    async def bare_pg(self) -> None:
        pool = await asyncpg.create_pool(
            plain_pg_url(self.a.database_url), min_size=self.a.clients, max_size=self.a.clients
        )
        try:
            ops = PgOps(self.state, pool)
            for op in self.a.ops:
                if op == "healthz":
                    continue
                res, cpu = await self.measure(self.bare_call(ops, op), self.a.clients, None)
                self.report(op, "bare", res, cpu, note=NOTE_BARE["postgresql"])
        finally:
            await pool.close()

    def bare_sqlite(self) -> None:
        ops = SqliteOps(self.state, str(sqlite_path(self.a.database_url)))
        for op in self.a.ops:
            if op == "healthz":
                continue
            call = self.bare_call(ops, op)
            drive_sync(call, seconds=self.a.warmup, max_requests=10**9)
            meter = CpuMeter()
            meter.start()
            res = drive_sync(call, seconds=self.a.seconds, max_requests=self.a.requests)
            self.report(op, "bare", res, meter.stop(len(res.lat_ms)), clients=1, note=NOTE_BARE["sqlite"])


def run_async(coro: Awaitable[Any]) -> Any:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)  # type: ignore[arg-type]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--database-url", default=DEFAULT_PG)
    p.add_argument("--seconds", type=float, default=10, help="measured seconds per operation")
    p.add_argument("--warmup", type=float, default=2, help="unmeasured seconds before each operation")
    p.add_argument("--requests", type=int, default=100_000, help="at most this many requests per operation")
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--workers", type=int, default=1, help="helpline serve --workers (PostgreSQL only)")
    p.add_argument("--ops", default=",".join(OPS), help=f"comma-separated subset of {','.join(OPS)}")
    p.add_argument("--mode", choices=["api", "bare", "both"], default="both")
    p.add_argument(
        "--client", choices=["auto", "wrk", "httpx"], default="auto", help="auto: wrk if installed"
    )
    p.add_argument(
        "--profile", action="store_true", help="py-spy the server: var/bench/profile-<db>-<op>.txt"
    )
    a = p.parse_args()
    a.ops = [o for o in a.ops.split(",") if o]
    if a.client == "auto":
        a.client = "wrk" if shutil.which("wrk") else "httpx"
    path = state_path(a.database_url)
    if not path.exists():
        raise SystemExit(f"{path} is missing: run bench/seed.py --database-url {a.database_url} first")
    state = json.loads(path.read_text())
    lo, hi, matches = run_async(counts(a.database_url, state))
    runner = Runner(a, state, Workload(state, lo, hi), matches)
    if a.mode in ("api", "both"):
        proc, base = start_server(a.database_url, a.workers)
        log(f"helpline serve (pid {proc.pid}, {a.workers} worker(s)) on {base}")
        try:
            run_async(runner.api(base, proc.pid))
        finally:
            proc.terminate()
            proc.wait(30)
    if a.mode in ("bare", "both"):
        runner.work.run = uuid.uuid4().hex[:8]  # new requesters of its own
        if runner.db == "postgresql":
            run_async(runner.bare_pg())
        else:
            runner.bare_sqlite()


if __name__ == "__main__":
    main()
