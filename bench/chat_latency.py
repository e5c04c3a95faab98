"""Visitor → agent message latency under load (issue target: p99 < 100 ms at 200 messages/s).

Starts C chats from C visitor sockets; one agent's console socket (online, so the chats are
auto-assigned to them) subscribes to all of them. The visitors then send messages at a steady total
rate R for D seconds, round-robin over the chats; each message carries its send time, and the latency
is the time until the agent's socket receives it (client and agent in one process: one clock). Each
message is a real write (message row, sequence numbers, event, the ticket's update), stored alone or,
when messages arrive while others are being stored, together with them in one transaction. Prints
one JSON line: ``{"bench": "chat_latency", "rate": …, "p50_ms": …, "p99_ms": …}``.

    python bench/chat_latency.py --rate 200 --seconds 20 [--chats 20] [--profile] \
        [--database-url postgresql://…]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))
from chat_common import ORIGIN, Server, cpu_seconds, frame, load_average, sign_in, thread_cpu_seconds
from common import VAR, emit, log


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return round(s[min(len(s) - 1, int(len(s) * p))], 1) if s else 0.0


def _spy(pid: int, args: argparse.Namespace) -> subprocess.Popen[bytes] | None:
    """With --profile, sample the server's stacks while they hold the GIL (Python CPU; SQLite's own C work in
    the driver's thread releases it and is not seen)."""
    spy = shutil.which("py-spy", path=os.path.dirname(sys.executable)) or shutil.which("py-spy")
    if spy is None:
        log("py-spy is not installed: no profile")
        return None
    out = VAR / f"profile-chat-{int(args.rate)}.txt"
    cmd = [spy, "record", "--pid", str(pid), "--duration", str(int(args.seconds)), "--rate", "250"]
    cmd += ["--format", "raw", "--gil", "--nonblocking", "--output", str(out)]
    log(f"profiling the server into {out}")
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def main(args: argparse.Namespace, server: Server) -> None:
    base = server.url
    ws_base = base.replace("http", "ws", 1)
    cookie = await sign_in(base, server.seed["agents"][0])
    agent = await websockets.connect(
        f"{ws_base}/chat/agent/ws",
        origin=base,  # type: ignore[arg-type]
        additional_headers={"Cookie": cookie},
        max_queue=None,
    )
    await agent.send(frame(t="status", status="online"))
    visitors: list[Any] = []
    tickets: list[int] = []
    sent_at: dict[str, float] = {}
    latencies: list[float] = []
    done = asyncio.Event()
    expected = int(args.rate * args.seconds)
    assigned: asyncio.Queue[int] = asyncio.Queue()

    async def agent_reader() -> None:
        async for raw in agent:
            f = json.loads(raw)
            if f["t"] == "assigned":
                assigned.put_nowait(f["ticket"])
            elif f["t"] == "msg" and f.get("cid") in sent_at:
                latencies.append((time.perf_counter() - sent_at.pop(f["cid"])) * 1000)
                if len(latencies) >= expected:
                    done.set()

    reader = asyncio.create_task(agent_reader())
    for i in range(args.chats):
        v = await websockets.connect(
            f"{ws_base}/chat/ws?widget={server.seed['key']}",
            origin=ORIGIN,  # type: ignore[arg-type]
            max_queue=None,
            ping_interval=None,
        )
        await v.send(frame(t="hello"))
        await v.send(frame(t="start", fields={"name": f"Visitor {i}"}, body="hello", cid=f"start-{i}"))
        visitors.append(v)
        tickets.append(await asyncio.wait_for(assigned.get(), 30))

    async def drain(v: Any) -> None:
        async for _ in v:
            pass

    drains = [asyncio.create_task(drain(v)) for v in visitors]
    for t in tickets:
        await agent.send(frame(t="sub", ticket=t, after=1))  # after the first message: live ones only
    await asyncio.sleep(1)
    log(f"{len(visitors)} chats assigned; sending {expected} messages at {args.rate}/s")
    interval = 1.0 / args.rate
    spy = _spy(server.pid, args) if args.profile else None
    cpu0, main0 = cpu_seconds(server.pid), thread_cpu_seconds(server.pid).get(server.pid, 0.0)
    t0 = time.perf_counter()
    for n in range(expected):
        target = t0 + n * interval
        delay = target - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        cid = f"m{n}"
        sent_at[cid] = time.perf_counter()
        await visitors[n % len(visitors)].send(frame(t="msg", cid=cid, body=f"message {n} from the bench"))
    send_s = time.perf_counter() - t0
    try:
        await asyncio.wait_for(done.wait(), 60)
    except TimeoutError:
        log(f"only {len(latencies)} of {expected} arrived")
    cpu = cpu_seconds(server.pid) - cpu0
    main_cpu = thread_cpu_seconds(server.pid).get(server.pid, 0.0) - main0
    if spy is not None:
        spy.wait()
    emit(
        bench="chat_latency",
        rate=args.rate,
        seconds=args.seconds,
        chats=args.chats,
        sent=expected,
        received=len(latencies),
        achieved_rate=round(expected / send_s, 1),
        p50_ms=pct(latencies, 0.50),
        p95_ms=pct(latencies, 0.95),
        p99_ms=pct(latencies, 0.99),
        max_ms=round(max(latencies), 1) if latencies else None,
        mean_ms=round(statistics.fmean(latencies), 1) if latencies else None,
        server_cpu_ms_per_message=round(cpu * 1000 / max(1, len(latencies)), 2),
        event_loop_cpu_ms_per_message=round(main_cpu * 1000 / max(1, len(latencies)), 2),
        load_average_1m=load_average(),
        cpus=os.cpu_count(),
        database=server.url_db.split(":")[0],
        server_cpus=args.server_cpus or "any",
    )
    reader.cancel()
    for d in drains:
        d.cancel()
    await asyncio.gather(*(v.close() for v in visitors), agent.close(), return_exceptions=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--chats", type=int, default=20)
    ap.add_argument("--server-cpus", default=None, help="pin the server to these CPUs (taskset -c)")
    ap.add_argument(
        "--profile", action="store_true", help="py-spy the server: var/bench/profile-chat-<rate>.txt"
    )
    ap.add_argument("--database-url", default=None, help="default: a fresh SQLite file under var/bench/chat")
    args = ap.parse_args()
    server = Server(args.database_url, cpus=args.server_cpus, max_chats=max(50, args.chats))
    try:
        asyncio.run(main(args, server))
    finally:
        server.stop()
