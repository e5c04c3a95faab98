"""Server time of the console's heaviest pages on a seeded database (issue target: with 1M tickets on
PostgreSQL, the inbox renders in < 150 ms at p95, a ticket with 200 messages in < 200 ms, global search
with snippets in < 150 ms).

"Server time" is measured in process (wall time, plus ``python_cpu_ms_p50``: the CPU the app's
Python spent, which holds up when other work shares the machine): the whole ASGI app (session
lookup, queries, template rendering) driven by an in-memory HTTP client, one request at a time, so
the figure is what the server spends on a page, without network or load-generator noise. Seed first
(``bench/seed.py``); this script signs the seeded admin and an agent in, makes one ticket with 200
messages (removed afterwards), and prints one JSON line per page:
``{"bench": "console_page", "page": …, "p50_ms": …, "p95_ms": …}``.

    python bench/console_pages.py --database-url postgresql://postgres@127.0.0.1:5432/helpline_bench
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DEFAULT_PG, async_url, emit, log

from helpline.app import create_app
from helpline.domains.accounts import service as accounts
from helpline.domains.tickets import queries, service
from helpline.domains.tickets.models import Ticket
from helpline.domains.tickets.schemas import MessageCreate, TicketCreate
from helpline.platform.runtime import build_platform
from helpline.settings import Settings
from helpline.web.deps import SESSION_COOKIE


def state_for(url: str) -> dict[str, Any]:
    from seed import state_path  # type: ignore[import-not-found]

    path = state_path(url)
    if not path.exists():
        raise SystemExit(f"{path} is missing: seed first (python bench/seed.py --database-url {url})")
    return json.loads(path.read_text())  # type: ignore[no-any-return]


async def principal_of(platform: Any, user_id: int, workspace_id: int) -> Any:
    from helpline.domains.accounts import queries as account_queries
    from helpline.domains.accounts.security import token_hash

    async with platform.db.transaction() as uow:
        cookie, _ = await accounts.start_session(uow, user_id, workspace_id, days=1)
    async with platform.db.read() as conn:
        found = await account_queries.session_principal(conn, token_hash(cookie))
    assert found is not None
    return cookie, found[0]


async def run(a: argparse.Namespace) -> None:
    state = state_for(a.database_url)
    settings = Settings(database_url=async_url(a.database_url), run_jobs_in_process=False)
    platform = build_platform(settings)
    app = create_app(platform=platform)
    ws = state["workspace_id"]
    admin_cookie, admin = await principal_of(platform, state["admin_id"], ws)
    agent_id = state["agent_ids"][0]
    agent_cookie, _ = await principal_of(platform, agent_id, ws)
    async with platform.db.transaction() as uow:
        tid = await service.create_ticket(
            uow,
            platform.pubsub,
            admin,
            TicketCreate(
                subject="Bench: a long conversation",
                body="The first message.",
                requester={"email": "bench-long@example.com", "name": "Long Talker"},
            ),
        )
    for i in range(199):
        async with platform.db.transaction() as uow:
            ticket = await queries.access_ticket(uow.conn, admin, tid)
            await service.add_message(
                uow,
                platform.pubsub,
                admin,
                ticket,
                MessageCreate(
                    body=f"Reply {i}: " + "we looked into it and here is what we found. " * 8,
                    public=i % 4 != 0,
                ),
            )
    log(f"ticket {tid} has 200 messages")
    group = state["group_ids"][0]
    common, rare = state["common_words"], state["rare_words"]
    pages = [
        ("inbox_all", "/inbox?view=all", admin_cookie),
        ("inbox_all_counts_recomputed", "/inbox?view=all", admin_cookie),
        ("inbox_unassigned", "/inbox?view=unassigned", admin_cookie),
        ("inbox_mine_agent", "/inbox?view=mine", agent_cookie),
        ("inbox_group_queue", f"/inbox?view=group:{group}", admin_cookie),
        ("inbox_filtered", "/inbox?view=all&status=open&priority=high", admin_cookie),
        ("ticket_200_messages", f"/tickets/{tid}", admin_cookie),
        # global search with snippets (issue target: < 150 ms p95 at 1M tickets on PostgreSQL)
        ("search_snippets_common", f"/search?q={common[3]}", admin_cookie),
        ("search_snippets_two_common", f"/search?q={common[0]}+{common[1]}", admin_cookie),
        ("search_snippets_rare", f"/search?q={rare[0]}", admin_cookie),
        ("search_snippets_page_3", f"/search?q={common[2]}&tab=tickets&page=3", admin_cookie),
        ("search_snippets_filtered_agent", f"/search?q={common[4]}&status=open", agent_cookie),
    ]
    if a.only:
        pages = [p for p in pages if p[0].startswith(tuple(a.only.split(",")))]
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as c:
            for name, path, cookie in pages:
                c.cookies.set(SESSION_COOKIE, cookie)
                for _ in range(a.warmup):
                    r = await c.get(path)
                    assert r.status_code == 200, (path, r.status_code, r.text[:300])
                times, cpu = [], []
                for _ in range(a.requests):
                    if name.endswith("_counts_recomputed"):  # the counts' cache expired every time
                        await platform.cache.delete(f"inbox:counts:{ws}:{admin.user_id}")
                    t0, c0 = time.perf_counter(), time.process_time()
                    r = await c.get(path)
                    times.append((time.perf_counter() - t0) * 1000)
                    cpu.append((time.process_time() - c0) * 1000)
                    assert r.status_code == 200
                times.sort()
                emit(
                    bench="console_page",
                    db=platform.db.dialect,
                    page=name,
                    path=path,
                    requests=len(times),
                    p50_ms=round(statistics.median(times), 1),
                    p95_ms=round(times[int(len(times) * 0.95) - 1], 1),
                    max_ms=round(times[-1], 1),
                    python_cpu_ms_p50=round(statistics.median(cpu), 1),
                    load_average=round(os.getloadavg()[0], 1),
                    bytes=len(r.content),
                )
    finally:
        tickets = Ticket.__table__
        async with platform.db.transaction() as uow:
            await uow.execute(sa.delete(tickets).where(tickets.c.id == tid))
        await platform.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--database-url", default=DEFAULT_PG)
    p.add_argument("--requests", type=int, default=100)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--only", default="", help="comma-separated page-name prefixes, e.g. search_")
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
