"""Seed a benchmark database with N tickets (1 to 3 messages each, events, tags, the search index).

Measures: how long seeding takes (one JSON line on stdout: ``{"bench": "seed", "seconds": …}``).

The workspace, its admin, agents, groups and an API token are made through the domain services, so
the API can be driven afterwards; everything else is bulk SQL: ``INSERT … SELECT generate_series``
on PostgreSQL (see ``seed_pg.py``), ``executemany`` in one transaction on SQLite. What the load test
needs (token, ids, words) goes to ``var/bench/<database>.json``.

    .venv/bin/python bench/seed.py --tickets 1000000 --reset
    .venv/bin/python bench/seed.py --database-url sqlite:///var/bench/helpline_bench.db --reset
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

import asyncpg
from common import (
    ADMIN_EMAIL,
    DEFAULT_PG,
    GROUPS,
    N_AGENTS,
    RARE,
    TAGS,
    VAR,
    WORDS,
    WORKSPACE_SLUG,
    async_url,
    dialect,
    emit,
    plain_pg_url,
    sqlite_path,
)

from helpline.db.migrate import upgrade
from helpline.domains.accounts import service as accounts
from helpline.domains.accounts.models import Role
from helpline.platform.db import Database


def state_path(url: str) -> Path:
    name = sqlite_path(url).stem if dialect(url) == "sqlite" else "pg-" + url.rsplit("/", 1)[1]
    return VAR / f"{name}.json"


async def prepare_postgresql(url: str, reset: bool) -> None:
    """Create the database if missing; with ``reset``, empty it."""
    dsn = plain_pg_url(url)
    base, name = dsn.rsplit("/", 1)
    admin = await asyncpg.connect(f"{base}/test")
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await admin.execute(f'CREATE DATABASE "{name}"')
            return
    finally:
        await admin.close()
    conn = await asyncpg.connect(dsn)
    try:
        if reset:
            await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        elif await conn.fetchval("SELECT to_regclass('workspaces') IS NOT NULL") and await conn.fetchval(
            "SELECT 1 FROM workspaces WHERE slug = $1", WORKSPACE_SLUG
        ):
            raise SystemExit(f"{name} is seeded already: pass --reset to start over")
    finally:
        await conn.close()


def prepare_sqlite(url: str, reset: bool) -> None:
    path = sqlite_path(url)
    if reset:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    elif path.exists():
        raise SystemExit(f"{path} exists: pass --reset to start over")


async def create_accounts(url: str) -> dict[str, Any]:
    """Workspace, admin, agents, groups and a token, through the domain services."""
    db = Database(async_url(url))
    try:
        async with db.transaction() as uow:
            ws = await accounts.create_workspace(uow, "Bench", WORKSPACE_SLUG)
            admin = await accounts.create_user(uow, ws, email=ADMIN_EMAIL, role=Role.admin, name="Admin")
            agents = [
                await accounts.create_user(
                    uow, ws, email=f"agent{i}@bench.example.com", role=Role.agent, name=f"Agent {i}"
                )
                for i in range(N_AGENTS)
            ]
            groups = [await accounts.create_group(uow, ws, name) for name in GROUPS]
            for k, gid in enumerate(groups):
                await accounts.set_group_members(uow, ws, gid, agents[k :: len(groups)])
            _, token = await accounts.create_token(uow, ws, admin, name="bench")
    finally:
        await db.dispose()
    return {"workspace_id": ws, "admin_id": admin, "agent_ids": agents, "group_ids": groups, "token": token}


# --- main -----------------------------------------------------------------------------------------


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--database-url", default=DEFAULT_PG)
    p.add_argument("--tickets", type=int, default=100_000)
    p.add_argument("--contacts", type=int, default=50_000)
    p.add_argument("--organizations", type=int, default=2_000)
    p.add_argument("--reset", action="store_true", help="empty the database first")
    a = p.parse_args()
    url, kind = a.database_url, dialect(a.database_url)
    VAR.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if kind == "postgresql":
        asyncio.run(prepare_postgresql(url, a.reset))
    else:
        prepare_sqlite(url, a.reset)
    upgrade(async_url(url))
    ids = asyncio.run(create_accounts(url))
    t1 = time.perf_counter()
    if kind == "postgresql":
        from seed_pg import load

        result = asyncio.run(load(plain_pg_url(url), ids, a.tickets, a.contacts, a.organizations))
    else:
        from seed_sqlite import load_sqlite

        result = load_sqlite(sqlite_path(url), ids, a.tickets, a.contacts, a.organizations)
    seconds = time.perf_counter() - t0
    state = {
        **ids,
        "url": url,
        "tickets": a.tickets,
        "contacts": a.contacts,
        "organizations": a.organizations,
        "common_words": WORDS[:5],
        "rare_words": RARE[:20],
        "tags": TAGS[:5],
    }
    state_path(url).write_text(json.dumps(state, indent=1))
    emit(
        bench="seed",
        db=kind,
        tickets=a.tickets,
        contacts=a.contacts,
        seconds=round(seconds, 1),
        migrate_and_accounts_s=round(t1 - t0, 1),
        **result,
    )


if __name__ == "__main__":
    main()
