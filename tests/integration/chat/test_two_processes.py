"""Two ``helpline serve`` processes sharing PostgreSQL and Redis: a visitor on process A, an agent on
process B. Presence, queue, assignment, messages, typing and read receipts cross through Redis; the
visitor then reconnects to B and resumes without loss.

Skipped, with the reason printed, when PostgreSQL or Redis is not reachable (failed instead with
HELPLINE_TEST_REQUIRE_SERVICES=1).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from helpline.domains.accounts import service as accounts
from helpline.domains.accounts.models import Role
from helpline.platform.runtime import build_platform
from helpline.settings import Settings
from tests.conftest import REDIS_PREFIX, REDIS_URL

from .conftest import HOST_ORIGIN, PASSWORD, SECRET, agent_socket, sign_in, visitor


@pytest.fixture
async def setup(pg_database: str) -> AsyncIterator[dict[str, Any]]:
    platform = build_platform(
        Settings(database_url=pg_database, secret_key=SECRET, redis_url=REDIS_URL, redis_prefix=REDIS_PREFIX)
    )
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
    assert welcome["status"] == "online"  # an agent's default
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
