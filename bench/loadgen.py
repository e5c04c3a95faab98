"""Closed-loop load generation and what it costs: latencies, throughput, and who used the CPU.

``drive`` runs ``clients`` asyncio tasks that each send one request after the other until
``seconds`` pass or ``max_requests`` are done; ``drive_sync`` does the same with one caller.
``CpuMeter`` reads /proc to split the machine's CPU time over the run between this process (the
load generator), the server under test, PostgreSQL, and everything else on the machine.
"""

from __future__ import annotations

import asyncio
import os
import resource
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

TICK = os.sysconf("SC_CLK_TCK")


def percentile(sorted_ms: list[float], q: float) -> float:
    if not sorted_ms:
        return float("nan")
    return sorted_ms[min(len(sorted_ms) - 1, int(q * len(sorted_ms)))]


class Result:
    def __init__(self) -> None:
        self.lat_ms: list[float] = []
        self.errors: dict[str, int] = {}
        self.elapsed = 0.0

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.lat_ms)
        ok = len(lat)
        return {
            "requests": ok + sum(self.errors.values()),
            "errors": self.errors or 0,
            "seconds": round(self.elapsed, 2),
            "rps": round(ok / self.elapsed, 1) if self.elapsed else 0,
            "p50_ms": round(percentile(lat, 0.50), 2),
            "p90_ms": round(percentile(lat, 0.90), 2),
            "p99_ms": round(percentile(lat, 0.99), 2),
            "max_ms": round(lat[-1], 2) if lat else None,
        }


async def drive(
    call: Callable[[int], Awaitable[None]], *, clients: int, seconds: float, max_requests: int
) -> Result:
    """``clients`` concurrent loops of ``await call(i)``; an exception counts as an error."""
    res = Result()
    deadline = time.perf_counter() + seconds
    issued = 0

    async def loop() -> None:
        nonlocal issued
        while issued < max_requests and time.perf_counter() < deadline:
            i = issued
            issued += 1
            t0 = time.perf_counter()
            try:
                await call(i)
            except Exception as exc:
                res.error(type(exc).__name__ + (f" {exc}" if isinstance(exc, StatusError) else ""))
                continue
            res.lat_ms.append((time.perf_counter() - t0) * 1000)

    start = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(clients)))
    res.elapsed = time.perf_counter() - start
    return res


def drive_sync(call: Callable[[int], None], *, seconds: float, max_requests: int) -> Result:
    res = Result()
    start = time.perf_counter()
    deadline = start + seconds
    i = 0
    while i < max_requests and time.perf_counter() < deadline:
        t0 = time.perf_counter()
        try:
            call(i)
        except Exception as exc:
            res.error(type(exc).__name__)
        else:
            res.lat_ms.append((time.perf_counter() - t0) * 1000)
        i += 1
    res.elapsed = time.perf_counter() - start
    return res


class StatusError(Exception):
    """An HTTP answer with an unexpected status."""


def _proc_cpu(pid: int) -> tuple[int, str, float]:
    """(parent pid, command, CPU seconds) of a process."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[1]), comm, (int(fields[11]) + int(fields[12])) / TICK


def _machine_busy() -> float:
    parts = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = parts[3] + parts[4]
    return (sum(parts[:8]) - idle) / TICK


class CpuMeter:
    """CPU seconds used between ``start()`` and ``stop()``, split by who used them, in cores."""

    def __init__(self, server_pid: int | None = None) -> None:
        self.server_pid = server_pid

    def _sample(self) -> dict[str, Any]:
        procs: dict[int, tuple[int, str, float]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    procs[int(entry)] = _proc_cpu(int(entry))
                except (OSError, ValueError):
                    continue
        server: set[int] = set()
        if self.server_pid is not None:
            server.add(self.server_pid)
            grew = True
            while grew:
                kids = {p for p, (ppid, _, _) in procs.items() if ppid in server} - server
                server |= kids
                grew = bool(kids)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk, once it has exited
        return {
            "client": time.process_time() + kids.ru_utime + kids.ru_stime,
            "server": {p: procs[p][2] for p in server if p in procs},
            "db": {p: cpu for p, (_, comm, cpu) in procs.items() if comm.startswith("postgres")},
            "machine": _machine_busy(),
            "t": time.perf_counter(),
        }

    def start(self) -> None:
        self._t0 = self._sample()

    def stop(self, requests: int = 0) -> dict[str, float]:
        """Cores used by each party (``cpu_*``) and, given ``requests``, CPU ms per request."""
        t0, t1 = self._t0, self._sample()
        dt = t1["t"] - t0["t"]

        def grown(key: str) -> float:  # processes that exited in between are left out
            return sum(cpu - t0[key].get(p, 0.0) for p, cpu in t1[key].items())

        used = {
            "client": (t1["client"] - t0["client"]) / dt,
            "server": grown("server") / dt,
            "db": grown("db") / dt,
            "machine": (t1["machine"] - t0["machine"]) / dt,
        }
        used["other"] = max(0.0, used["machine"] - used["client"] - used["server"] - used["db"])
        out = {f"cpu_{k}": round(v, 2) for k, v in used.items()}
        if requests:
            for k in ("client", "server", "db"):
                out[f"cpu_ms_per_req_{k}"] = round(used[k] * dt * 1000 / requests, 3)
        return out


#: Counters of pg_stat_database that ``Backends.sample`` reads with the CPU.
PG_COUNTERS = "xact_commit, blks_hit + blks_read, tup_returned + tup_fetched, tup_inserted"


class Backends:
    """CPU seconds of the PostgreSQL backends connected to ``conn``'s database (the server's pool),
    and that database's counters: what one database costs on a server others share."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def sample(self) -> tuple[dict[int, float], tuple[int, ...]]:
        pids = await self.conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        cpu: dict[int, float] = {}
        for (pid,) in pids:
            try:
                cpu[int(pid)] = _proc_cpu(int(pid))[2]
            except (OSError, ValueError):
                continue
        row = await self.conn.fetchrow(
            f"SELECT {PG_COUNTERS} FROM pg_stat_database WHERE datname = current_database()"
        )
        return cpu, tuple(int(v) for v in row)

    @staticmethod
    def used(t0: dict[int, float], t1: dict[int, float]) -> float:
        """CPU seconds between two samples; a backend born in between counts from zero."""
        return sum(cpu - t0.get(pid, 0.0) for pid, cpu in t1.items())


def rotate(items: Iterable[Any]) -> Callable[[int], Any]:
    seq = list(items)
    return lambda i: seq[i % len(seq)]
