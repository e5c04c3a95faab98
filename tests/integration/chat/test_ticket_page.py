"""A chat answered from the ordinary ticket page (not the chat page) still reaches the visitor."""

from __future__ import annotations

from typing import Any

from helpline.domains.accounts.models import Role
from helpline.domains.channels.chat import routing

from .conftest import latest_ticket, principal, visitor


async def test_a_reply_from_the_ticket_page_reaches_the_visitor_with_its_number(
    ws: Any, server: str, widget: dict[str, Any]
) -> None:
    """Agents may answer a chat from the ordinary ticket page: it goes through the chat service."""
    import re

    import httpx

    from tests.conftest import PASSWORD

    person = await ws.person(Role.agent, password=PASSWORD)
    agent = principal(ws, person)
    v, _ = await visitor(server, widget["key"])
    await v.start("Is anyone there?", "c-0", name="Ola", email="ola@example.test")
    ticket_id = await latest_ticket(ws.platform)
    await routing.accept(ws.platform, agent, ticket_id)
    async with httpx.AsyncClient(base_url=server) as c:
        r = await c.post("/api/v1/session", json={"email": person.email, "password": PASSWORD})
        csrf = r.json()["csrf_token"]
        page = await c.get(f"/tickets/{ticket_id}")
        assert "Open the live chat" in page.text
        seen = re.search(r'name="seen_message_id" value="(\d+)"', page.text).group(1)  # type: ignore[union-attr]
        r = await c.post(
            f"/tickets/{ticket_id}/messages",
            data={"body": "Yes, Ola, here.", "public": "true", "csrf_token": csrf, "seen_message_id": seen},
        )
        assert r.status_code == 303, r.text
    m = await v.until("msg")
    assert (m["from"], m["body"], m["seq"]) == ("agent", "Yes, Ola, here.", 2)
    await v.close()
