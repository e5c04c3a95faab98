"""Chat security with two principals on real sockets: the origin allow-list, forged tokens and
identities, internal notes never on a visitor's socket, rate and size limits, the agent socket's
same-origin and session checks, CORS on the HTTP fallback."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import websockets

from helpline.domains.accounts.models import Role
from helpline.domains.channels.chat import identity, routing, service

from .conftest import (
    HOST_ORIGIN,
    PASSWORD,
    Wire,
    agent_socket,
    latest_ticket,
    principal,
    sign_in,
    visitor,
    ws_url,
)


async def test_origin_not_allowed_is_refused_at_the_handshake(server: str, widget: dict[str, Any]) -> None:
    with pytest.raises(websockets.InvalidStatus) as bad:
        await websockets.connect(
            f"{ws_url(server)}/chat/ws?widget={widget['key']}", origin="https://evil.test"
        )  # type: ignore[arg-type]
    assert bad.value.response.status_code == 403
    with pytest.raises(websockets.InvalidStatus):
        await websockets.connect(f"{ws_url(server)}/chat/ws?widget=nope", origin=HOST_ORIGIN)  # type: ignore[arg-type]


async def test_notes_and_agent_data_never_reach_the_visitor(
    ws: Any, server: str, widget: dict[str, Any]
) -> None:
    person = await ws.person(Role.agent, password=PASSWORD)
    agent = principal(ws, person)
    v, _ = await visitor(server, widget["key"])
    await v.start("Hi", "c1", name="Val")
    ticket = await latest_ticket(ws.platform)
    await routing.accept(ws.platform, agent, ticket)
    cookie, _ = await sign_in(server, person.email)
    a, _ = await agent_socket(server, cookie)
    await a.send(t="sub", ticket=ticket, after=0)
    await a.until("msg", seq=1)
    await a.send(t="msg", ticket=ticket, cid="n1", body="SECRET note: refund approved", note=True)
    await a.send(t="msg", ticket=ticket, cid="r1", body="Hello Val")
    note = await a.until("msg", seq=2)
    assert note["public"] is False and note["body"].startswith("SECRET")
    reply = await a.until("msg", seq=3)
    got = await v.until("msg", seq=2)  # the visitor's numbering has no gap for the note
    assert got["body"] == "Hello Val" and reply["pseq"] == 2
    frames = await v.drain(0.7)
    text = repr([got, *frames])
    assert "SECRET" not in text and "ticket" not in got and "mid" not in got and "public" not in got
    # A second visitor (another principal) with a forged token sees nothing of the first one's chat.
    forged = f"{1}.{'A' * 24}"
    v2, w2 = await visitor(server, widget["key"], token=forged)
    assert w2["chat"] is None and w2["token"] is None
    assert not [f for f in await v2.drain(0.5) if f["t"] == "msg"]
    # The visitor's token is bound to its widget.
    token = service.token_of(ws.platform, service.Visitor(widget=widget, visitor_id=1))
    assert identity.read_token(ws.platform.settings.ensure_secret_key(), widget["id"] + 1, token) is None
    for w in (v, v2, a):
        await w.close()


async def test_host_site_identity_must_be_signed(ws: Any, server: str, widget: dict[str, Any]) -> None:
    conn = await websockets.connect(f"{ws_url(server)}/chat/ws?widget={widget['key']}", origin=HOST_ORIGIN)  # type: ignore[arg-type]
    w = Wire(conn)
    await w.send(t="hello", user={"id": "42", "hash": "0" * 64})
    err = await w.until("error")
    assert err["code"] == 403
    good = {
        "id": "42",
        "hash": identity.user_hash(widget["identity_secret"], "42"),
        "email": "c42@example.test",
        "name": "Cus Tomer",
    }
    v, _ = await visitor(server, widget["key"], user=good)
    started, _ = await v.start("first chat", "f1")
    first_ticket = await latest_ticket(ws.platform)
    await v.send(t="end")
    await v.until("ended")
    # Another device, same signed-in customer: no token needed, the chat joins the same contact.
    v2, w2 = await visitor(server, widget["key"], user=good)
    assert w2["chat"] is None and w2["token"] == started["token"]
    await v2.start("second chat", "s1")
    second_ticket = await latest_ticket(ws.platform)
    async with ws.client(await ws.person(Role.admin)) as c:
        t1 = (await c.get(f"/tickets/{first_ticket}")).json()
        t2 = (await c.get(f"/tickets/{second_ticket}")).json()
    assert t1["requester_id"] == t2["requester_id"] and t1["channel"] == "chat"
    for x in (v, v2):
        await x.close()


async def test_rate_and_size_limits(ws: Any, server: str, widget: dict[str, Any]) -> None:
    ws.platform.settings.chat_messages_per_minute = 3
    v, _ = await visitor(server, widget["key"])
    await v.start("hello", "h0")
    # Over the size limit (and under the rate limit: this is the first message of the minute).
    await v.send(t="msg", cid="big", body="x" * 4001)
    big = await v.until("error", cid="big")
    assert big["code"] == 422 and "4000" in big["detail"], big
    for i in range(3):
        await v.send(t="msg", cid=f"m{i}", body=f"line {i}")
        assert (await v.until("ack", cid=f"m{i}"))["seq"] == i + 2
    await v.send(t="msg", cid="m3", body="one too many")
    err = await v.until("error", cid="m3")
    assert err["code"] == 429
    await v.conn.send("{" + '"t": "msg", "body": "' + "y" * 20000 + '"}')
    assert (await v.until("error"))["code"] == 413
    await v.close()
    before = ws.platform.settings.chat_starts_per_hour
    ws.platform.settings.chat_starts_per_hour = 1  # the platform is shared: put it back afterwards
    try:
        v2, _ = await visitor(server, widget["key"])
        await v2.send(t="start", fields={}, body="again", cid="z")
        assert (await v2.until("error"))["code"] == 429
        await v2.close()
    finally:
        ws.platform.settings.chat_starts_per_hour = before


async def test_agent_socket_needs_a_session_and_this_origin(ws: Any, server: str) -> None:
    person = await ws.person(Role.agent, password=PASSWORD)
    cookie, _ = await sign_in(server, person.email)
    with pytest.raises(websockets.InvalidStatus):
        await websockets.connect(
            f"{ws_url(server)}/chat/agent/ws",
            origin="https://evil.test",  # type: ignore[arg-type]
            additional_headers={"Cookie": cookie},
        )
    with pytest.raises(websockets.InvalidStatus):
        await websockets.connect(f"{ws_url(server)}/chat/agent/ws", origin=server)  # type: ignore[arg-type]
    customer = await ws.person(Role.customer, password=PASSWORD)
    ccookie, _ = await sign_in(server, customer.email)
    with pytest.raises(websockets.InvalidStatus):
        await websockets.connect(
            f"{ws_url(server)}/chat/agent/ws",
            origin=server,  # type: ignore[arg-type]
            additional_headers={"Cookie": ccookie},
        )


async def test_http_fallback_answers_only_allowed_origins(
    ws: Any, server: str, widget: dict[str, Any]
) -> None:
    async with httpx.AsyncClient(base_url=server) as c:
        r = await c.post(
            f"/chat/offline?widget={widget['key']}",
            headers={"Origin": "https://evil.test"},
            json={"fields": {"email": "x@example.test"}, "body": "hi"},
        )
        assert r.status_code == 403 and "access-control-allow-origin" not in r.headers
        pre = await c.options(f"/chat/poll?widget={widget['key']}", headers={"Origin": HOST_ORIGIN})
        assert pre.status_code == 204 and pre.headers["access-control-allow-origin"] == HOST_ORIGIN
        r = await c.post(
            f"/chat/poll?widget={widget['key']}",
            headers={"Origin": HOST_ORIGIN},
            json={"hello": True, "wait": 0},
        )
        assert r.status_code == 200 and r.json()["events"][0]["t"] == "welcome"
        assert r.headers["access-control-allow-origin"] == HOST_ORIGIN
