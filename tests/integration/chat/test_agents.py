"""Agents and availability: auto-assignment within the per-agent limit, the live queue (position and
estimated wait), accept, transfer to an agent or a group, the transcript mailed on close, opening
hours and presence deciding chat or the offline form (an email ticket), and the console pages."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from helpline.domains.accounts.models import Role
from helpline.domains.channels.chat import routing
from tests.conftest import drain

from .conftest import HOST_ORIGIN, PASSWORD, latest_ticket, principal, sign_in, visitor


async def online(ws: Any, **kw: Any) -> Any:
    person = await ws.person(Role.agent, **kw)
    p = principal(ws, person)
    await routing.heartbeat(ws.platform, ws.id, p.user_id)  # what a console socket does every 20 s
    await routing.set_status(ws.platform, p, "online")
    return p


async def test_auto_assign_within_the_limit_and_live_queue(
    ws: Any, server: str, widget: dict[str, Any]
) -> None:
    agent = await online(ws)
    chats = []
    for i in range(3):
        v, w = await visitor(server, widget["key"])
        assert w["online"] is True
        started, _ = await v.start(f"question {i}", f"q{i}")
        chats.append((v, started, await latest_ticket(ws.platform)))
    assert [c[1]["chat"]["state"] for c in chats] == ["active", "active", "queued"]  # limit 2 per agent
    third = chats[2][0]
    q = await third.until("queue")
    assert q["position"] == 1 and q["wait"] > 0
    # The agent closes one chat: the waiting one is assigned at once, and its visitor is told.
    await routing.end(ws.platform, ws.id, chats[0][2], agent)
    st = await third.until("state")
    assert st["state"] == "active" and st["agent"]
    ended = await chats[0][0].until("state")
    assert ended["state"] == "ended"
    await drain(ws.platform)  # the visitor gave no email: no transcript, and nothing fails
    for v, _, _ in chats:
        await v.close()


async def test_accept_transfer_and_transcript(ws: Any, server: str, widget: dict[str, Any]) -> None:
    first = principal(ws, await ws.person(Role.agent, groups=["Billing"]), ["Billing"])
    second = principal(ws, await ws.person(Role.agent, groups=["Billing"]), ["Billing"])
    email = f"t-{uuid.uuid4().hex[:6]}@example.test"
    v, w = await visitor(server, widget["key"])
    assert w["online"] is False  # nobody available: the widget offers the offline form
    started, _ = await v.start("Invoice question", "i1", name="Ivy", email=email)
    assert started["chat"]["state"] == "queued"
    ticket = await latest_ticket(ws.platform)
    await routing.accept(ws.platform, first, ticket)
    assert (await v.until("state"))["state"] == "active"
    await routing.transfer(ws.platform, first, ticket, agent_id=second.user_id)
    st = await v.until("state")
    assert (st["state"], st["agent"]) == ("active", second.name)
    await routing.transfer(ws.platform, second, ticket, group_id=ws.groups["Billing"])
    assert (await v.until("state"))["state"] == "queued"
    from helpline.domains.channels.chat import service

    await service.agent_send(ws.platform, second, ticket, "n", "internal only", public=False)
    await service.agent_send(ws.platform, second, ticket, "r", "We will sort it out")
    await routing.end(ws.platform, ws.id, ticket, second)
    await drain(ws.platform)
    mail = [m for m in ws.platform.mail.sent if m["To"] == email]
    assert mail, [m["To"] for m in ws.platform.mail.sent]
    body = mail[-1].get_content()
    assert "Invoice question" in body and "We will sort it out" in body and "internal only" not in body
    async with ws.client(await ws.person(Role.admin)) as c:
        t = (await c.get(f"/tickets/{ticket}")).json()
    assert t["status"] == "solved" and t["channel"] == "chat" and t["group_id"] == ws.groups["Billing"]
    await v.close()


async def test_opening_hours_and_offline_form(ws: Any, server: str, widget: dict[str, Any]) -> None:
    await online(ws)
    admin = await ws.person(Role.admin)
    async with ws.client(admin) as c:
        r = await c.patch(
            f"/chat/widgets/{widget['id']}",
            json={"schedule": {"sun": [["00:00", "00:01"]]}, "timezone": "Pacific/Kiritimati"},
        )
        assert r.status_code == 200, r.text
        bad = await c.patch(f"/chat/widgets/{widget['id']}", json={"schedule": {"someday": []}})
        assert bad.status_code == 422
    from helpline.domains.channels.chat import queries

    queries.forget_widget(widget["key"])
    v, w = await visitor(server, widget["key"])
    assert w["online"] is False
    await v.close()
    async with httpx.AsyncClient(base_url=server) as c:
        r = await c.post(
            f"/chat/offline?widget={widget['key']}",
            headers={"Origin": HOST_ORIGIN},
            json={"fields": {"email": "late@example.test", "name": "Lou"}, "body": "Call me back"},
        )
        assert r.status_code == 201, r.text
    async with ws.client(admin) as c:
        found = (await c.get("/tickets", params={"channel": "email"})).json()
    items = found.get("items", found.get("tickets", found)) if isinstance(found, dict) else found
    assert any("Offline message" in t["subject"] for t in items), found


async def test_console_pages(ws: Any, server: str, widget: dict[str, Any]) -> None:
    person = await ws.person(Role.agent, password=PASSWORD)
    v, _ = await visitor(server, widget["key"])
    await v.start("Page test", "p1", name="Pam")
    ticket = await latest_ticket(ws.platform)
    cookie, csrf = await sign_in(server, person.email)
    async with httpx.AsyncClient(base_url=server, headers={"Cookie": cookie}) as c:
        # Available by default while a console page is open: set away, this agent accepts by hand.
        r = await c.post("/chats/status", data={"csrf_token": csrf, "status": "away"})
        assert r.status_code == 303
        page = await c.get("/chats")
        assert page.status_code == 200 and "Pam" in page.text and "Accept chat" in page.text
        r = await c.post(f"/chats/{ticket}/accept", data={"csrf_token": csrf})
        assert r.status_code == 303
        assert (await v.until("state"))["state"] == "active"
        r = await c.post(f"/chats/{ticket}/send", data={"csrf_token": csrf, "body": "From the form"})
        assert r.status_code == 303
        assert (await v.until("msg", seq=2))["body"] == "From the form"
        page = await c.get(f"/chats/{ticket}")
        assert page.status_code == 200 and "From the form" in page.text and 'data-last-seq="2"' in page.text
        no_csrf = await c.post(f"/chats/{ticket}/close", data={})
        assert no_csrf.status_code == 403
        r = await c.post(f"/chats/{ticket}/close", data={"csrf_token": csrf})
        assert r.status_code == 303
    await v.close()
