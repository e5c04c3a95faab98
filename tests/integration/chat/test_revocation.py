"""Taking an agent's access ends their live connections at once, in every process, and a socket applies
the same role rules as pages and the API.

- Two ``helpline serve`` processes on PostgreSQL and Redis: an agent's chat socket on each; the agent
  deactivated, removed from the chat's group, or signed out: both sockets close within a second, a
  visitor's line sent after the revoking request returned reaches neither, and what the agent sends
  then is not stored.
- One process, both databases: the console's event stream (``/inbox/live``) ends the same way, and
  a ticket change after the revocation is not sent on it; an API token's live connection ends when
  the token is revoked.
- A light agent's ``end`` frame is refused like the page; an agent demoted to light agent is
  disconnected and their new socket follows the new role.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import websockets

from helpline.db.base import utcnow
from helpline.domains.accounts import live, principal_cache
from helpline.domains.accounts import service as accounts
from helpline.domains.accounts.models import Role, WebSession
from helpline.domains.accounts.security import token_hash
from helpline.domains.channels.chat.models import ChatSession
from helpline.domains.tickets.models import Message
from helpline.platform.db import QUIET
from helpline.platform.runtime import build_platform
from helpline.settings import Settings
from tests.conftest import REDIS_PREFIX, REDIS_URL, WS

from .conftest import (
    HOST_ORIGIN,
    PASSWORD,
    SECRET,
    Wire,
    agent_socket,
    latest_ticket,
    set_status,
    sign_in,
    visitor,
)

HOWS = ["deactivate", "ungroup", "sign_out"]


async def _until_closed(w: Wire) -> tuple[list[dict[str, Any]], int | None, float]:
    """Every frame until the server closes the socket; the close code and when it closed."""
    frames: list[dict[str, Any]] = []
    try:
        while True:
            frames.append(json.loads(await w.conn.recv()))
    except websockets.ConnectionClosed as exc:
        return frames, exc.rcvd.code if exc.rcvd else None, time.monotonic()


async def _revoke(
    how: str, base: str, admin_token: str, agent_id: int, cookie: str, csrf: str
) -> httpx.Response:
    """Take the agent's access the way ``how`` says, through the API; the answer."""
    async with httpx.AsyncClient(base_url=f"{base}/api/v1", timeout=10) as c:
        if how == "sign_out":
            return await c.delete("/session", headers={"Cookie": cookie, "X-CSRF-Token": csrf})
        body = {"is_active": False} if how == "deactivate" else {"group_ids": []}
        return await c.patch(
            f"/users/{agent_id}", json=body, headers={"Authorization": f"Bearer {admin_token}"}
        )


async def _stored(platform: Any, ticket: int, body: str) -> int:
    m = Message.__table__
    async with platform.db.read() as conn:
        return int(
            (
                await conn.execute(
                    sa.select(sa.func.count()).where(m.c.ticket_id == ticket, m.c.body_text.contains(body))
                )
            ).scalar_one()
        )


# --- (a) two processes sharing PostgreSQL and Redis ---------------------------------------------------


@pytest.fixture
async def pg_platform(pg_database: str) -> AsyncIterator[Any]:
    platform = build_platform(
        Settings(database_url=pg_database, secret_key=SECRET, redis_url=REDIS_URL, redis_prefix=REDIS_PREFIX)
    )
    yield platform
    await platform.close()


@pytest.mark.parametrize("how", HOWS)
async def test_revoking_an_agent_closes_their_sockets_in_every_process(
    processes: list[str], pg_platform: Any, how: str
) -> None:
    a, b = processes
    async with pg_platform.db.transaction() as uow:
        ws = await accounts.create_workspace(uow, "Revocation", f"ws-{uuid.uuid4().hex[:10]}")
        admin = await accounts.create_user(
            uow, ws, email=f"admin-{uuid.uuid4().hex[:6]}@example.test", role=Role.admin, password=PASSWORD
        )
        email = f"agent-{uuid.uuid4().hex[:6]}@example.test"
        agent_id = await accounts.create_user(
            uow,
            ws,
            email=email,
            role=Role.agent,
            name="Bo Agent",
            password=PASSWORD,
            group_names=["Billing"],
            create_groups=True,
        )
        group = await accounts.group_id_for(uow, ws, "Billing")
        _, admin_token = await accounts.create_token(uow, ws, admin, name="test")
    async with httpx.AsyncClient(
        base_url=f"{a}/api/v1", headers={"Authorization": f"Bearer {admin_token}"}
    ) as c:
        r = await c.post(
            "/chat/widgets", json={"name": "Shop", "allowed_origins": [HOST_ORIGIN], "group_id": group}
        )
        assert r.status_code == 201, r.text
        key = r.json()["key"]

    cookie, csrf = await sign_in(a, email)
    on_a, _ = await agent_socket(a, cookie)
    on_b, _ = await agent_socket(b, cookie)
    # The agent stays offline: the chat waits in the Billing group, which they see as a member.
    v, _ = await visitor(a, key)
    await v.start("My invoice is wrong", "v-1", name="Pat", email="pat@example.test")
    ses = ChatSession.__table__
    async with pg_platform.db.read() as conn:
        ticket = int(
            (await conn.execute(sa.select(ses.c.ticket_id).where(ses.c.workspace_id == ws))).scalar_one()
        )
    for sock in (on_a, on_b):
        await sock.send(t="sub", ticket=ticket, after=0)
        assert (await sock.until("msg", seq=1))["body"] == "My invoice is wrong"
        await sock.drain(0.2)
    readers = [asyncio.create_task(_until_closed(sock)) for sock in (on_a, on_b)]

    r = await _revoke(how, b if how == "sign_out" else a, admin_token, agent_id, cookie, csrf)
    assert r.status_code in (200, 204), r.text
    revoked = time.monotonic()
    # Right after the revoking request returned: the agent writes on both sockets, the visitor writes.
    for name, sock in (("A", on_a), ("B", on_b)):
        with contextlib.suppress(websockets.ConnectionClosed):
            await sock.send(t="msg", ticket=ticket, cid=f"late-{name}", body=f"Late reply {name}")
    await v.send(t="msg", cid="v-2", body="Anyone there after revocation?")
    assert (await v.until("ack", cid="v-2"))["seq"] == 2  # stored and published

    for reader in readers:
        frames, code, closed = await asyncio.wait_for(reader, max(0.05, revoked + 1.0 - time.monotonic()))
        assert closed - revoked < 1.0
        assert code == (live.RIGHTS_CHANGED if how == "ungroup" else live.SIGNED_OUT), code
        assert not [f for f in frames if f.get("t") == "msg" and f.get("seq", 0) >= 2], frames
        assert not [f for f in frames if f.get("t") == "ack"], frames
    await asyncio.sleep(0.3)  # anything the agent's late frames could have written has been written
    for name in ("A", "B"):
        assert await _stored(pg_platform, ticket, f"Late reply {name}") == 0
    assert await _stored(pg_platform, ticket, "Anyone there after revocation?") == 1
    await v.close()


# --- (b) one process, both databases: the console's event stream --------------------------------------


async def _data_lines(lines: AsyncIterator[str], into: list[str]) -> float:
    """Collect the stream's ``data:`` lines until it ends; when it ended."""
    with contextlib.suppress(httpx.ReadError, httpx.RemoteProtocolError):
        async for line in lines:
            if line.startswith("data:"):
                into.append(line)
    return time.monotonic()


async def _new_ticket(ws: WS, who: Any) -> None:
    async with ws.client(who) as c:
        r = await c.post(
            "/tickets", json={"subject": "Live?", "body": "b", "requester": {"email": "c@example.test"}}
        )
        assert r.status_code == 201, r.text


@pytest.mark.parametrize("how", HOWS)
async def test_revoking_an_agent_ends_their_console_stream(ws: WS, server: str, how: str) -> None:
    admin = await ws.person(Role.admin)
    agent = await ws.person(Role.agent, groups=["Billing"], password=PASSWORD)
    cookie, csrf = await sign_in(server, agent.email)
    async with (
        httpx.AsyncClient(base_url=server, headers={"Cookie": cookie}, timeout=10) as c,
        c.stream("GET", "/inbox/live") as r,
    ):
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        lines = r.aiter_lines()
        assert await anext(lines) == "retry: 3000"
        got: list[str] = []
        reader = asyncio.create_task(_data_lines(lines, got))
        for _ in range(20):  # the stream is live: a ticket change reaches it
            await _new_ticket(ws, admin)
            await asyncio.sleep(0.1)
            if got:
                break
        assert got and json.loads(got[0].removeprefix("data:")) == {"kind": "changed"}
        got.clear()

        answer = await _revoke(how, server, admin.token, agent.user_id, cookie, csrf)
        assert answer.status_code in (200, 204), answer.text
        revoked = time.monotonic()
        await _new_ticket(ws, admin)  # published after the revocation committed: not sent
        ended = await asyncio.wait_for(reader, 1.0)
        assert ended - revoked < 1.0
        assert got == []


async def test_a_stream_ends_when_its_session_expires(ws: WS, server: str, platform: Any) -> None:
    """No write announces an expiry: the registry's periodic re-check ends the stream."""
    agent = await ws.person(Role.agent)
    async with platform.db.transaction() as uow:
        cookie, _csrf = await accounts.start_session(uow, agent.user_id, ws.id, days=1)
    live.registry_of(platform).sweep = 0.2  # (60 s in production)
    async with (
        httpx.AsyncClient(base_url=server, cookies={"helpline_session": cookie}, timeout=10) as c,
        c.stream("GET", "/inbox/live") as r,
    ):
        assert r.status_code == 200
        lines = r.aiter_lines()
        assert await anext(lines) == "retry: 3000"  # registered, and its first check passed
        # The session runs out while the stream is open: the state at its expiry time, made now rather
        # than waited for (a fixed few seconds of life, which a busy machine could spend before the
        # stream even opened, made this test fail with a 303). At that time the row says expired and
        # the cached sign-in is gone (a sign-in is cached for no longer than its session lives).
        # QUIET: an expiry announces nothing.
        async with platform.db.transaction() as uow:
            sessions = WebSession.__table__
            await uow.execute(
                sessions.update()
                .where(sessions.c.token_hash == token_hash(cookie))
                .values(expires_at=utcnow() - timedelta(seconds=1))
                .execution_options(**{QUIET: True})
            )
        await platform.cache.delete(f"principal:s:{token_hash(cookie)}")
        got: list[str] = []
        ended = await asyncio.wait_for(_data_lines(lines, got), 8)
    assert ended and got == []


async def test_a_token_connection_ends_when_its_token_is_revoked(ws: WS, platform: Any) -> None:
    """The registry holds API-token connections as well as sessions (none uses one yet)."""
    agent = await ws.person(Role.agent)
    ended: list[int] = []

    async def end(code: int, _reason: str) -> None:
        ended.append(code)

    digest = token_hash(agent.token)
    signed_in = await principal_cache.principal_of_token(platform, digest)  # as a request authenticates it
    assert signed_in is not None
    conn = await live.registry_of(platform).register(live.TOKEN, digest, signed_in, end)
    try:
        assert await conn.check() is not None and not ended
        async with ws.client(agent) as c:
            token_id = (await c.get("/tokens")).json()[0]["id"]
            assert (await c.delete(f"/tokens/{token_id}")).status_code == 204
        for _ in range(50):
            if ended:
                break
            await asyncio.sleep(0.02)
        assert ended == [live.SIGNED_OUT] and conn.ended
        assert await conn.check() is None
    finally:
        conn.unregister()


# --- (c) the socket applies the pages' and API's role rules ------------------------------------------


async def _state(platform: Any, ticket: int) -> str:
    ses = ChatSession.__table__
    async with platform.db.read() as conn:
        return str((await conn.execute(sa.select(ses.c.state).where(ses.c.ticket_id == ticket))).scalar_one())


async def test_a_light_agent_cannot_end_a_chat_over_the_socket(
    ws: WS, server: str, widget: dict[str, Any], platform: Any
) -> None:
    light = await ws.person(Role.light_agent, password=PASSWORD)
    agent = await ws.person(Role.agent, password=PASSWORD)
    v, _ = await visitor(server, widget["key"])
    await v.start("Hello?", "v-1", name="Pat", email="pat@example.test")
    ticket = await latest_ticket(platform)

    cookie, csrf = await sign_in(server, light.email)
    sock, _ = await agent_socket(server, cookie)
    await sock.send(t="end", ticket=ticket)
    refused = await sock.until("error")
    assert (refused["code"], refused["ticket"]) == (403, ticket)
    await sock.send(t="msg", ticket=ticket, cid="l-1", body="A public line")
    assert (await sock.until("error"))["code"] == 403  # notes only, as on the ticket page
    async with httpx.AsyncClient(base_url=server, headers={"Cookie": cookie, "X-CSRF-Token": csrf}) as c:
        assert (await c.post(f"/chats/{ticket}/close")).status_code == 403  # the page, the same rule
    assert await _state(platform, ticket) == "queued"
    await sock.close()

    cookie, _ = await sign_in(server, agent.email)
    sock, _ = await agent_socket(server, cookie)
    await sock.send(t="end", ticket=ticket)
    assert (await sock.until("closed"))["ticket"] == ticket
    assert await _state(platform, ticket) == "ended"
    await sock.close()
    await v.close()


async def test_a_demoted_agent_is_disconnected_and_reconnects_with_the_new_role(
    ws: WS, server: str, widget: dict[str, Any], platform: Any
) -> None:
    admin = await ws.person(Role.admin)
    agent = await ws.person(Role.agent, password=PASSWORD)
    v, _ = await visitor(server, widget["key"])
    await v.start("Hello?", "v-1", name="Pat", email="pat@example.test")
    ticket = await latest_ticket(platform)
    cookie, csrf = await sign_in(server, agent.email)
    await set_status(server, cookie, csrf, "away")  # the chat stays in the queue
    sock, _ = await agent_socket(server, cookie)
    closing = asyncio.create_task(_until_closed(sock))
    async with ws.client(admin) as c:
        r = await c.patch(f"/users/{agent.user_id}", json={"role": "light-agent"})
        assert r.status_code == 200, r.text
    _frames, code, _at = await asyncio.wait_for(closing, 1.0)
    assert code == live.RIGHTS_CHANGED

    sock, _ = await agent_socket(server, cookie)  # the same session, now a light agent's
    await sock.send(t="end", ticket=ticket)
    assert (await sock.until("error"))["code"] == 403
    assert await _state(platform, ticket) == "queued"
    await sock.close()
    await v.close()
