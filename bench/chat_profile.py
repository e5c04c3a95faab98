"""CPU cost of storing one visitor chat message, in-process (no sockets, no HTTP, no load generator).

Seeds a fresh database (one workspace, agent, widget), opens ``--chats`` chats, then calls
``chat.service.visitor_send`` ``--messages`` times round-robin, one at a time, with one listener per
chat on the hub (as an agent's socket would be), so the numbers include the after-commit work (the
email channel's outbox hook, the live-inbox publish, the hub's fan-out) but not the sockets. Prints one
JSON line with the CPU milliseconds per message (all threads: SQLite's driver runs in its own; overall,
and of the best and the median of ``--batches`` batches, as other work on a shared machine inflates
CPU time too), the statements per message, and with ``--cprofile`` the heaviest functions on stderr.

    .venv/bin/python bench/chat_profile.py [--messages 2000] [--database-url postgresql://…] [--cprofile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from chat_common import ORIGIN, SECRET, _seed, load_average
from common import VAR, async_url, emit, log
from sqlalchemy import event


class Sink:
    """Stands in for an agent's socket on the hub: counts what it is handed."""

    staff = True

    def __init__(self) -> None:
        self.n = 0

    def deliver(self, event: dict[str, Any]) -> None:
        self.n += 1


async def run(a: argparse.Namespace, url: str) -> None:
    from helpline.domains.channels import startup
    from helpline.domains.channels.chat import queries, service
    from helpline.domains.channels.chat.hub import hub_of
    from helpline.platform.runtime import build_platform
    from helpline.settings import Settings

    seed = await _seed(url, 1, max(50, a.chats))
    settings = Settings(
        database_url=url,
        secret_key=SECRET,
        run_jobs_in_process=False,
        var_dir=VAR / "chat-profile",
        chat_messages_per_minute=10**9,
        chat_starts_per_hour=10**9,
    )
    platform = build_platform(settings)
    startup.install(platform)  # as ``helpline serve`` does: the channels' ports
    statements = [0]

    def count(*_: Any) -> None:
        statements[0] += 1

    engines = {id(e.sync_engine.pool): e for e in (platform.db.reader, platform.db.writer)}
    for engine in engines.values():
        event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        async with platform.db.read() as conn:
            widget = await queries.widget_by_key(conn, seed["key"])
        visitors = []
        hub = hub_of(platform)
        sinks = []
        for i in range(a.chats):
            v = await service.resolve(platform, widget, None, None, origin=ORIGIN, ip=f"10.0.0.{i}")
            await service.start(platform, v, {"name": f"Visitor {i}"}, "hello", f"start-{i}")
            assert v.session is not None
            sink = Sink()
            await hub.join(sink, v.workspace_id, f"t:{v.session['ticket_id']}")
            visitors.append(v)
            sinks.append(sink)

        async def send(n: int) -> None:
            await service.visitor_send(
                platform, visitors[n % len(visitors)], f"m{n}", f"message {n} from the bench"
            )

        for n in range(a.warmup):
            await send(-1 - n)
        await asyncio.sleep(0.2)
        prof = cProfile.Profile() if a.cprofile else None
        statements[0] = 0
        batches: list[float] = []  # CPU ms per message of each batch: the machine is shared, so
        per = max(1, a.messages // a.batches)  # the least disturbed batch is the steadiest figure
        cpu0, t0 = time.process_time(), time.perf_counter()
        if prof:
            prof.enable()
        for b in range(a.batches):
            c0 = time.process_time()
            for n in range(b * per, (b + 1) * per):
                await send(n)
            batches.append((time.process_time() - c0) * 1000 / per)
        await asyncio.sleep(0)  # let the hub hand the last events over
        if prof:
            prof.disable()
        sent = per * a.batches
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
        delivered = sum(s.n for s in sinks)
        emit(
            bench="chat_profile",
            database=url.split(":")[0].split("+")[0],
            messages=sent,
            cpu_ms_per_message=round(cpu * 1000 / sent, 3),
            cpu_ms_per_message_best_batch=round(min(batches), 3),
            cpu_ms_per_message_median_batch=round(statistics.median(batches), 3),
            wall_ms_per_message=round(wall * 1000 / sent, 3),
            statements_per_message=round(statements[0] / sent, 2),
            hub_events_delivered=delivered,
            cprofile=bool(prof),
            load_average_1m=load_average(),
        )
        if prof:
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats(a.sort).print_stats(a.top)
            print(out.getvalue(), file=sys.stderr)
    finally:
        await platform.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--batches", type=int, default=10, help="CPU is also reported per batch (best, median)")
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--chats", type=int, default=20)
    ap.add_argument("--cprofile", action="store_true")
    ap.add_argument("--sort", default="tottime", help="pstats sort key with --cprofile (tottime, cumulative)")
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--database-url", default=None, help="default: a fresh SQLite file under var/bench")
    a = ap.parse_args()
    from helpline.db import migrate

    if a.database_url:
        url = a.database_url
    else:
        d = VAR / "chat-profile"
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        url = f"sqlite:///{d / 'chat.db'}"
    for k in [k for k in os.environ if k.startswith("HELPLINE_")]:
        del os.environ[k]
    migrate.upgrade(async_url(url))
    log(f"chat_profile on {url.split(':')[0]}")
    asyncio.run(run(a, async_url(url)))


if __name__ == "__main__":
    main()
