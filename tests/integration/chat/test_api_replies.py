"""Replies to a chat's ticket sent through the REST API reach the visitor like those typed in the
console: numbered in the chat and on the visitor's socket; a retried POST with the same
Idempotency-Key is one message; an internal note never reaches the visitor."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa

from helpline.domains.accounts.models import Role
from helpline.domains.channels.chat import routing

from .conftest import latest_ticket, principal, visitor


def api(server: str, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"{server}/api/v1", headers={"Authorization": f"Bearer {token}"})


async def test_an_api_reply_reaches_the_visitor_and_a_retry_is_one_message(
    ws: Any, server: str, widget: dict[str, Any]
) -> None:
    person = await ws.person(Role.agent)
    agent = principal(ws, person)
    v, _ = await visitor(server, widget["key"])
    await v.start("Hello?", "c-0", name="Vera")
    ticket_id = await latest_ticket(ws.platform)
    await routing.accept(ws.platform, agent, ticket_id)
    assert (await v.until("state"))["state"] == "active"
    async with api(server, person.token) as c:
        first = await c.post(
            f"/tickets/{ticket_id}/messages",
            json={"body": "Hi Vera, from our CRM"},
            headers={"Idempotency-Key": "k1"},
        )
        again = await c.post(
            f"/tickets/{ticket_id}/messages",
            json={"body": "Hi Vera, from our CRM"},
            headers={"Idempotency-Key": "k1"},
        )
        note = await c.post(f"/tickets/{ticket_id}/messages", json={"body": "internal: VIP", "public": False})
    assert first.status_code == 201 and again.status_code == 201 and note.status_code == 201, first.text
    assert first.json()["id"] == again.json()["id"] and first.json()["body_text"] == "Hi Vera, from our CRM"
    # The same key from another agent is another message; the same person's key for another text
    # is refused, as everywhere in the API (keyed by person and key; the body must match).
    other = await ws.person(Role.agent)
    async with api(server, other.token) as c:
        theirs = await c.post(
            f"/tickets/{ticket_id}/messages",
            json={"body": "Hi Vera, from our CRM"},
            headers={"Idempotency-Key": "k1"},
        )
    async with api(server, person.token) as c:
        reused = await c.post(
            f"/tickets/{ticket_id}/messages",
            json={"body": "Also: it ships today"},
            headers={"Idempotency-Key": "k1"},
        )
        changed = await c.post(
            f"/tickets/{ticket_id}/messages",
            json={"body": "Also: it ships today"},
            headers={"Idempotency-Key": "k2"},
        )
    assert reused.status_code == 422, reused.text
    assert len({first.json()["id"], theirs.json()["id"], changed.json()["id"]}) == 3
    got = [await v.until("msg") for _ in range(3)]
    assert [(m["seq"], m["from"]) for m in got] == [(2, "agent"), (3, "agent"), (4, "agent")]
    assert got[0]["body"] == "Hi Vera, from our CRM" and got[2]["body"] == "Also: it ships today"
    rest = await v.drain(0.7)
    assert not [f for f in rest if f["t"] == "msg"] and "VIP" not in repr(rest), rest
    async with ws.platform.db.read() as conn:
        numbered = (
            await conn.execute(
                sa.text("SELECT seq, public FROM chat_messages WHERE ticket_id = :t ORDER BY seq"),
                {"t": ticket_id},
            )
        ).all()
        stored = (
            await conn.execute(
                sa.text("SELECT count(*) FROM messages WHERE ticket_id = :t"), {"t": ticket_id}
            )
        ).scalar()
    assert [tuple(r) for r in numbered] == [(1, True), (2, True), (3, False), (4, True), (5, True)]
    assert stored == 5
    await v.close()


async def test_a_light_agents_api_reply_on_a_chat_is_refused_like_anywhere(
    ws: Any, server: str, widget: dict[str, Any]
) -> None:
    light = await ws.person(Role.light_agent)
    v, _ = await visitor(server, widget["key"])
    await v.start("Hello?", "c-0", name="Vera")
    ticket_id = await latest_ticket(ws.platform)
    async with api(server, light.token) as c:
        r = await c.post(f"/tickets/{ticket_id}/messages", json={"body": "public words"})
    assert r.status_code in (403, 404, 422), r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    rest = await v.drain(0.5)
    assert "public words" not in repr(rest)
    await v.close()
