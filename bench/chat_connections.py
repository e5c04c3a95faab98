"""Idle widget connections one ``helpline serve`` holds (issue target: 10,000 on a 2-core machine),
and the server's memory per idle connection.

Opens N visitor WebSockets (``/chat/ws``, hello, welcome: what a page with the widget does before
anyone chats) from one asyncio process with a lean client (the ``websockets`` library, keepalive off
on the client; the server keeps its own 20 s pings), in batches, holds them, checks a sample still
answers, and reads the server's resident memory from /proc before and after. Prints one JSON line:
``{"bench": "chat_connections", "connections": …, "kib_per_connection": …, …}``.

    python bench/chat_connections.py --connections 10000 [--server-cpus 0] [--database-url postgresql://…]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from pathlib import Path

import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))
from chat_common import ORIGIN, Server, frame, load_average, rss_kib
from common import emit, log


async def open_one(url: str) -> object:
    conn = await websockets.connect(
        url,
        origin=ORIGIN,
        ping_interval=None,
        max_queue=4,  # type: ignore[arg-type]
        open_timeout=60,
        compression=None,
    )
    await conn.send(frame(t="hello", token=None, after=0))
    while json.loads(await asyncio.wait_for(conn.recv(), 60))["t"] != "welcome":
        pass
    return conn


async def main(args: argparse.Namespace, server: Server) -> None:
    url = f"{server.url.replace('http', 'ws', 1)}/chat/ws?widget={server.seed['key']}"
    conns: list[object] = []
    failed = 0
    try:
        await asyncio.gather(*(open_one(url) for _ in range(20)))  # warm up (imports, caches, pools)
        await asyncio.sleep(2)
        before = rss_kib(server.pid)
        t0 = time.monotonic()
        while len(conns) + failed < args.connections:
            n = min(args.batch, args.connections - len(conns) - failed)
            got = await asyncio.gather(*(open_one(url) for _ in range(n)), return_exceptions=True)
            conns += [c for c in got if not isinstance(c, BaseException)]
            bad = [c for c in got if isinstance(c, BaseException)]
            failed += len(bad)
            if bad:
                log(f"{len(bad)} failed in a batch, e.g. {bad[0]!r}")
        opened_s = time.monotonic() - t0
        log(f"{len(conns)} open in {opened_s:.1f} s; holding {args.hold} s")
        await asyncio.sleep(args.hold)
        after = rss_kib(server.pid)
        sample = conns[:: max(1, len(conns) // 50)]
        alive = 0
        for c in sample:
            await c.send(frame(t="ping"))  # type: ignore[attr-defined]
            if json.loads(await asyncio.wait_for(c.recv(), 30))["t"] == "pong":  # type: ignore[attr-defined]
                alive += 1
        emit(
            bench="chat_connections",
            connections=len(conns),
            failed=failed,
            open_seconds=round(opened_s, 1),
            held_seconds=args.hold,
            sample_alive=f"{alive}/{len(sample)}",
            server_rss_mib_before=round(before / 1024, 1),
            server_rss_mib_after=round(after / 1024, 1),
            kib_per_connection=round((after - before) / max(1, len(conns)), 1),
            client_rss_mib=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            load_average_1m=load_average(),
            database=server.url_db.split(":")[0],
            server_cpus=args.server_cpus or "any",
        )
    finally:
        await asyncio.gather(*(c.close() for c in conns), return_exceptions=True)  # type: ignore[attr-defined]
        server.stop()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--connections", type=int, default=10_000)
    ap.add_argument("--batch", type=int, default=250)
    ap.add_argument("--hold", type=float, default=30.0)
    ap.add_argument("--server-cpus", default=None, help="pin the server to these CPUs (taskset -c)")
    ap.add_argument("--database-url", default=None, help="default: a fresh SQLite file under var/bench/chat")
    args = ap.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(main(args, Server(args.database_url, cpus=args.server_cpus)))
