"""Every staff reply on a live chat goes through the chat adapter, whatever wrote it and whatever
it carries: the REST API (text, HTML, a file) and the ticket page (a file) reach the visitor's
socket numbered in one sequence with the chat box's lines, and a reply too long for a chat is
refused whole (nothing stored) instead of being stored where the visitor never sees it."""

from __future__ import annotations

import re
from typing import Any

import httpx
import sqlalchemy as sa

from helpline.domains.accounts.models import Role
from helpline.domains.channels.chat import routing, service
from tests.conftest import PASSWORD

from .conftest import latest_ticket, principal, visitor


async def test_api_and_page_replies_of_any_form_reach_the_visitor_through_the_chat(
    ws: Any, server: str, widget: dict[str, Any]
) -> None:
    person = await ws.person(Role.agent, password=PASSWORD)
    agent = principal(ws, person)
    v, _ = await visitor(server, widget["key"])
    await v.start("Hello?", "c-0", name="Vera")
    ticket_id = await latest_ticket(ws.platform)
    await routing.accept(ws.platform, agent, ticket_id)
    assert (await v.until("state"))["state"] == "active"
    api = httpx.AsyncClient(base_url=f"{server}/api/v1", headers={"Authorization": f"Bearer {person.token}"})
    async with api as c:
        r = await c.post(
            f"/tickets/{ticket_id}/messages",
            json={"body": "<p>Hi <b>Vera</b>, from the CRM</p>", "html": True},
        )
        assert r.status_code == 201, r.text
        up = await c.post("/uploads", files={"file": ("label.pdf", b"%PDF-1.4 label", "application/pdf")})
        r = await c.post(
            f"/tickets/{ticket_id}/messages",
            json={"body": "Your return label.", "attachments": [up.json()["token"]]},
        )
        assert r.status_code == 201, r.text
    await service.agent_send(ws.platform, agent, ticket_id, "box-1", "Typed in the chat box.")
    async with httpx.AsyncClient(base_url=server) as c:
        r = await c.post("/api/v1/session", json={"email": person.email, "password": PASSWORD})
        csrf = r.json()["csrf_token"]
        page = await c.get(f"/tickets/{ticket_id}")
        seen = re.search(r'name="seen_message_id" value="(\d+)"', page.text).group(1)  # type: ignore[union-attr]
        r = await c.post(
            f"/tickets/{ticket_id}/messages",
            data={"body": "And the invoice.", "public": "true", "csrf_token": csrf, "seen_message_id": seen},
            files={"files": ("invoice.txt", b"total: 12", "text/plain")},
        )
        assert r.status_code == 303, r.text
    got = [await v.until("msg") for _ in range(4)]
    assert [(m["seq"], m["from"], m["body"]) for m in got] == [
        (2, "agent", "Hi Vera, from the CRM"),
        (3, "agent", "Your return label."),
        (4, "agent", "Typed in the chat box."),
        (5, "agent", "And the invoice."),
    ]
    assert [[f["name"] for f in m["files"]] for m in got] == [[], ["label.pdf"], [], ["invoice.txt"]]
    await v.close()


async def test_a_reply_too_long_for_a_chat_is_refused_whole(
    ws: Any, server: str, widget: dict[str, Any]
) -> None:
    person = await ws.person(Role.agent)
    v, _ = await visitor(server, widget["key"])
    await v.start("Hello?", "c-0", name="Vera")
    ticket_id = await latest_ticket(ws.platform)
    await routing.accept(ws.platform, principal(ws, person), ticket_id)
    most = ws.platform.settings.chat_max_message_chars
    async with httpx.AsyncClient(
        base_url=f"{server}/api/v1", headers={"Authorization": f"Bearer {person.token}"}
    ) as c:
        r = await c.post(f"/tickets/{ticket_id}/messages", json={"body": "x" * (most + 1)})
    assert r.status_code == 422, r.text
    async with ws.platform.db.read() as conn:
        stored = (
            await conn.execute(
                sa.text("SELECT count(*) FROM messages WHERE ticket_id = :t"), {"t": ticket_id}
            )
        ).scalar()
    assert stored == 1  # the visitor's first line only
    await v.close()
