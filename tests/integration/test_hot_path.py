"""What keeps the API's hot paths cheap, checked where it can silently come back: plan caching on
PostgreSQL (reads plan every call, writes keep their plans), and no thread-pool hop per request."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
import pytest
import sqlalchemy as sa

from helpline.domains.accounts.models import Role

PROBE = "SELECT count(*) FROM workspaces WHERE id = $1 AND 'hot path probe' <> ''"


async def _plans(conn: Any) -> tuple[int, int]:
    row = (
        await conn.execute(
            sa.text(
                "SELECT coalesce(sum(generic_plans), 0), coalesce(sum(custom_plans), 0) "
                "FROM pg_prepared_statements WHERE statement LIKE '%hot path probe%' "
                "AND statement NOT LIKE '%pg_prepared_statements%'"
            )
        )
    ).one()
    return int(row[0]), int(row[1])


async def _probe(conn: Any, times: int) -> None:
    stmt = sa.text(PROBE.replace("$1", ":ws"))
    for _ in range(times):
        await conn.execute(stmt, {"ws": 1})


async def test_postgresql_writes_reuse_plans_and_reads_plan_every_call(platform):
    """Writes (and the foreign-key checks they fire) keep a generic plan after five runs: planning
    them on every call was half of a ticket create's database CPU. Reads are planned for their
    values every time (a generic plan of the search picked a 2 s path for common words), and run in
    autocommit: no transaction is held open between a read's statements."""
    if platform.db.dialect != "postgresql":
        pytest.skip("plan caching is PostgreSQL's")
    async with platform.db.transaction() as uow:
        await _probe(uow.conn, 8)
        generic, custom = await _plans(uow.conn)
        assert generic >= 1 and custom <= 5, (generic, custom)
    async with platform.db.read() as conn:
        await _probe(conn, 8)
        generic, custom = await _plans(conn)
        assert generic == 0 and custom >= 8, (generic, custom)
        # Each statement is its own transaction.
        xids = [(await conn.execute(sa.text("SELECT txid_current()"))).scalar() for _ in range(2)]
        assert xids[0] != xids[1]


async def test_api_requests_take_no_thread_pool_hop(ws, monkeypatch):
    """A plain ``def`` dependency or endpoint runs in the thread pool: a hand-off to another thread
    and back on every request. Creating, reading and listing tickets need none."""
    hops: list[str] = []
    run_sync = anyio.to_thread.run_sync

    async def counting(func: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(getattr(func, "__qualname__", repr(func)))
        return await run_sync(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    agent = await ws.person(Role.agent)
    async with ws.client(agent) as c:
        r = await c.post(
            "/tickets",
            json={"subject": "Hop", "body": "No hop.", "requester": {"email": "hop@example.test"}},
        )
        assert r.status_code == 201, r.text
        assert (await c.get(f"/tickets/{r.json()['id']}")).status_code == 200
        assert (await c.get("/tickets?status=new")).status_code == 200
    assert hops == []
