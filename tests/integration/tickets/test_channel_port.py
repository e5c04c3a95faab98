"""The tickets domain tells its channels about staff messages through one port, whichever way the
message was written: with the in-memory twin holding a ticket, replies from the REST API and from
the ticket page both reach it (and notes reach it without being delivered); the first channel that
holds a ticket takes the message and the later ones are not asked."""

from __future__ import annotations

from typing import Any

import httpx

from helpline.domains.accounts.models import Role
from helpline.domains.channels.memory import MemoryChannel
from helpline.domains.tickets import channel_port
from tests.conftest import PASSWORD, WS


async def _ticket(ws: WS, agent: Any) -> int:
    async with ws.client(agent) as c:
        r = await c.post(
            "/tickets", json={"subject": "Help", "body": "Hi", "requester": {"email": "r@p.test"}}
        )
        assert r.status_code == 201, r.text
        return int(r.json()["id"])


async def test_replies_from_the_api_and_the_page_both_reach_the_port(ws: WS) -> None:
    twin = MemoryChannel()
    channel_port.registry_of(ws.platform.db).register(twin, first=True)
    agent = await ws.person(Role.agent, password=PASSWORD)
    ticket_id = await _ticket(ws, agent)
    twin.hold(ticket_id)
    async with ws.client(agent) as c:
        r = await c.post(f"/tickets/{ticket_id}/messages", json={"body": "From the API."})
        assert r.status_code == 201, r.text
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=ws.app), base_url="http://testserver"
    ) as c:
        r = await c.post("/api/v1/session", json={"email": agent.email, "password": PASSWORD})
        csrf = r.json()["csrf_token"]
        for body, public in (("From the page.", "true"), ("A note from the page.", "false")):
            r = await c.post(
                f"/tickets/{ticket_id}/messages",
                data={"body": body, "public": public, "csrf_token": csrf, "confirm": "1"},
                files={"files": ("a.txt", b"attached", "text/plain")} if public == "true" else None,
            )
            assert r.status_code == 303, r.text
        page = await c.get(f"/tickets/{ticket_id}")
    assert [(m.body_text, m.public) for m in twin.taken] == [
        ("From the API.", True),
        ("From the page.", True),
        ("A note from the page.", False),
    ]
    assert [m.body_text for m in twin.delivered] == ["From the API.", "From the page."]
    assert [m.files for m in twin.taken] == [0, 1, 0]
    assert {m.author.user_id for m in twin.taken} == {agent.user_id}
    assert page.text.count('data-delivered-by="memory"') == 2 and 'data-channel="memory"' in page.text


async def test_the_first_channel_that_holds_a_ticket_takes_the_message(ws: WS) -> None:
    registry = channel_port.registry_of(ws.platform.db)
    first, second = MemoryChannel("first"), MemoryChannel("second")
    registry.register(second)
    registry.register(first, first=True)
    assert registry.names()[0] == "first" and registry.names()[-1] == "second"
    agent = await ws.person(Role.agent)
    both, only_second = await _ticket(ws, agent), await _ticket(ws, agent)
    first.hold(both)
    second.hold(both)
    second.hold(only_second)
    async with ws.client(agent) as c:
        for ticket_id in (both, only_second):
            r = await c.post(f"/tickets/{ticket_id}/messages", json={"body": f"To #{ticket_id}."})
            assert r.status_code == 201, r.text
    assert [m.ticket_id for m in first.delivered] == [both]
    assert [m.ticket_id for m in second.delivered] == [only_second]
    # A customer's message is not a staff message: no channel is told.
    customer = await ws.person(Role.customer)
    async with ws.client(customer) as c:
        r = await c.post("/tickets", json={"subject": "Mine", "body": "Hello"})
        assert r.status_code == 201, r.text
        mine = int(r.json()["id"])
        first.hold(mine)
        assert (await c.post(f"/tickets/{mine}/messages", json={"body": "More."})).status_code == 201
    assert [m.ticket_id for m in first.taken] == [both]
