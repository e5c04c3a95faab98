"""Two ``helpline serve`` processes sharing PostgreSQL and Redis: a visitor on process A, an agent on
process B. Presence, queue, assignment, messages, typing and read receipts cross through Redis; the
visitor then reconnects to B and resumes without loss.

Skipped, with the reason printed, when PostgreSQL or Redis is not reachable (failed instead with
HELPLINE_TEST_REQUIRE_SERVICES=1).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from helpline.db import migrate
from helpline.domains.accounts import service as accounts
from helpline.domains.accounts.models import Role
from helpline.platform.runtime import build_platform
from helpline.settings import Settings
from tests.conftest import PG_URL, _pg_reachable

from .conftest import HOST_ORIGIN, PASSWORD, agent_socket, free_port, sign_in, visitor

REDIS = os.environ.get("HELPLINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
SECRET = "two-process-test-secret-0123456789"


def _redis_reachable(url: str) -> str | None:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


def _need(what: str, why: str | None) -> None:
    if why is None:
        return
    if os.environ.get("HELPLINE_TEST_REQUIRE_SERVICES"):
        pytest.fail(f"{what} is required but not reachable: {why}")
    print(f"skipping the two-process chat test: {what} not reachable ({why})")
    pytest.skip(f"{what} not reachable: {why}")


@pytest.fixture(scope="module")
def pg_database() -> Iterator[str]:
    _need("PostgreSQL", _pg_reachable(PG_URL))
    _need("Redis", _redis_reachable(REDIS))
    import asyncpg

    name = f"helpline_chat2p_{uuid.uuid4().hex[:8]}"
    base = PG_URL.replace("+asyncpg", "")

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(base)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = base.rsplit("/", 1)[0] + f"/{name}"
    migrate.upgrade(Settings(database_url=url).effective_database_url)
    yield url
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="module")
def processes(pg_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    root = tmp_path_factory.mktemp("chat2p")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPLINE_")}
    env.update(
        HELPLINE_DATABASE_URL=pg_database,
        HELPLINE_REDIS_URL=REDIS,
        HELPLINE_SECRET_KEY=SECRET,
        HELPLINE_VAR_DIR=str(root / "var"),
        HELPLINE_MAIL_TRANSPORT="console",
    )
    urls, procs, logs = [], [], []
    for i in range(2):
        port = free_port()
        log = open(root / f"serve{i}.log", "w")  # noqa: SIM115 (open for the process's life)
        # Jobs run in process A only, as with one worker beside N web processes.
        e = {**env, "HELPLINE_RUN_JOBS_IN_PROCESS": "true" if i == 0 else "false"}
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "helpline.cli", "serve", "--port", str(port)],
                env=e,
                cwd=root,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        logs.append(log)
        urls.append(f"http://127.0.0.1:{port}")
    try:
        for url, proc in zip(urls, procs, strict=True):
            end = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None or time.monotonic() > end:
                    raise RuntimeError(
                        "helpline serve did not start:\n"
                        + "".join((root / f"serve{i}.log").read_text() for i in range(2))
                    )
                time.sleep(0.2)
        yield urls
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)
        for log in logs:
            log.close()
        for i in range(2):
            text = (root / f"serve{i}.log").read_text()
            assert "Traceback" not in text, text


@pytest.fixture
async def setup(pg_database: str) -> AsyncIterator[dict[str, Any]]:
    platform = build_platform(Settings(database_url=pg_database, secret_key=SECRET, redis_url=REDIS))
    try:
        async with platform.db.transaction() as uow:
            ws = await accounts.create_workspace(uow, "Two processes", f"ws-{uuid.uuid4().hex[:10]}")
            admin = await accounts.create_user(
                uow,
                ws,
                email=f"admin-{uuid.uuid4().hex[:6]}@example.test",
                role=Role.admin,
                name="Ada Admin",
                password=PASSWORD,
            )
            email = f"agent-{uuid.uuid4().hex[:6]}@example.test"
            await accounts.create_user(
                uow, ws, email=email, role=Role.agent, name="Bo Agent", password=PASSWORD
            )
            _, token = await accounts.create_token(uow, ws, admin, name="test")
        yield {"ws": ws, "agent_email": email, "admin_token": token}
    finally:
        await platform.close()


async def test_visitor_on_a_agent_on_b(processes: list[str], setup: dict[str, Any]) -> None:
    a, b = processes
    async with httpx.AsyncClient(
        base_url=f"{a}/api/v1", headers={"Authorization": f"Bearer {setup['admin_token']}"}
    ) as c:
        r = await c.post("/chat/widgets", json={"name": "Shop", "allowed_origins": [HOST_ORIGIN]})
        assert r.status_code == 201, r.text
        key = r.json()["key"]
    cookie, _csrf = await sign_in(b, setup["agent_email"])
    agent, welcome = await agent_socket(b, cookie)
    assert welcome["status"] == "offline"
    await agent.send(t="status", status="online")
    await agent.until("status")

    v, vw = await visitor(a, key)
    assert vw["online"] is True  # the agent's presence on B, seen from A
    started, first = await v.start("My parcel is late", "v-1", name="Pat", email="pat@example.test")
    assert first["seq"] == 1
    assigned = await agent.until("assigned")  # auto-assigned on A, announced on B
    ticket = assigned["ticket"]
    # Assigned while the chat was being started: the started frame already says so.
    assert (started["chat"]["state"], started["chat"]["agent"]) == ("active", "Bo Agent")

    await agent.send(t="sub", ticket=ticket, after=0)
    m1 = await agent.until("msg", seq=1)
    assert m1["body"] == "My parcel is late" and m1["from"] == "visitor"

    await v.send(t="typing", on=True)
    typing = await agent.until("typing")
    assert typing["by"] == "visitor" and typing["on"] is True
    await agent.send(t="typing", ticket=ticket, on=True)
    assert (await v.until("typing"))["on"] is True

    await agent.send(t="msg", ticket=ticket, cid="b-1", body="Let me check, Pat.")
    got = await v.until("msg", seq=2)
    assert got["from"] == "agent" and got["name"] == "Bo Agent"
    await v.send(t="read", seq=2)
    receipt = await agent.until("read")
    assert receipt["by"] == "visitor" and receipt["seq"] == 2
    await agent.send(t="read", ticket=ticket, seq=1)
    assert (await v.until("read"))["seq"] == 1

    # The visitor drops and comes back on the other process, after the agent wrote twice more.
    await v.close()
    await agent.send(t="msg", ticket=ticket, cid="b-2", body="It left the depot today.")
    await agent.send(t="msg", ticket=ticket, cid="b-3", body="Tomorrow before noon.")
    await agent.until("ack", cid="b-3")
    v2, w2 = await visitor(b, key, token=started["token"], after=2)
    assert w2["chat"]["state"] == "active"
    again = [await v2.until("msg") for _ in range(2)]
    assert [(m["seq"], m["body"]) for m in again] == [
        (3, "It left the depot today."),
        (4, "Tomorrow before noon."),
    ]
    await v2.send(t="msg", cid="v-2", body="Thanks!")
    assert (await agent.until("msg", seq=5))["body"] == "Thanks!"
    await v2.close()
    await agent.close()
