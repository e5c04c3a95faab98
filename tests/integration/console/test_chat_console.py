"""The chat inside the console without a browser (SQLite and PostgreSQL): the navigation's chat
count, agents available while a console page is open (unless they set away), the public address
pages derive from the request when HELPLINE_BASE_URL is unset, and each person's time zone."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC
from zoneinfo import ZoneInfo

import httpx
import sqlalchemy as sa

from helpline.domains.accounts.models import Role

SERVED = "http://shop.test:9000"


async def _widget(ws, admin, origins: list[str]) -> dict:
    async with ws.client(admin) as api:
        r = await api.post("/chat/widgets", json={"name": "Help", "allowed_origins": origins})
        assert r.status_code == 201, r.text
        return r.json()


async def _welcome(ws, key: str, origin: str, base: str = "http://testserver") -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=ws.app), base_url=base) as c:
        return await c.post(
            f"/chat/poll?widget={key}", json={"hello": True, "wait": 0}, headers={"Origin": origin}
        )


async def test_an_agent_with_a_console_page_open_is_available_and_sees_the_count(ws, console):
    admin = await ws.person(Role.admin)
    w = await _widget(ws, admin, ["https://shop.example"])
    first = await _welcome(ws, w["key"], "https://shop.example")
    assert first.json()["events"][0]["online"] is False  # nobody has the console open

    _, c = await console(Role.agent, name="Ari Agent")
    inbox = await c.get("/inbox")
    # Chats in the main navigation, with the count (no JavaScript needed to see it).
    link = re.search(
        r'<a href="/chats"[^>]*>Chats <span class="badge nav-count"[^>]*>(.*?)</span></a>', inbox.text, re.S
    )
    assert link, inbox.text[:3000]
    assert ">0<" in link.group(1) and "0 waiting, 0 open with you" in link.group(1)
    await asyncio.sleep(2.1)  # the widget's count of available agents is kept 2 s
    assert (await _welcome(ws, w["key"], "https://shop.example")).json()["events"][0]["online"] is True
    page = await c.get("/chats")
    assert '<option value="online" selected>' in page.text  # the default, said on the page

    # A light agent (who does not take chats) makes no one available; one who sets away neither.
    r = await c.post("/chats/status", {"status": "away"})
    assert r.status_code == 303
    _, light = await console(Role.light_agent)
    assert (await light.get("/inbox")).status_code == 200
    await asyncio.sleep(2.1)
    assert (await _welcome(ws, w["key"], "https://shop.example")).json()["events"][0]["online"] is False

    # The count the page asks for every 20 s: the same fragment.
    frag = await c.get("/chats/count")
    assert frag.status_code == 200 and 'hx-get="/chats/count"' in frag.text


async def test_pages_use_the_address_they_are_served_at_when_no_base_url_is_set(ws, console):
    admin, c = await console(Role.admin)
    w = await _widget(ws, admin, [])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=ws.app),
        base_url=SERVED,
        cookies={k.name: k.value for k in c.client.cookies.jar},
    ) as there:
        page = await there.get(f"/admin/chat-widgets/{w['id']}")
        assert page.status_code == 200
        assert f"{SERVED}/widget.js" in page.text and "127.0.0.1:8000" not in page.text
        async with ws.platform.db.read() as conn:
            slug = (
                await conn.execute(sa.text("SELECT slug FROM workspaces WHERE id = :i"), {"i": ws.id})
            ).scalar_one()
        sitemap = await there.get(f"/help/{slug}/sitemap.xml")
        assert f"<loc>{SERVED}/help/{slug}/" in sitemap.text
    # The install's own pages may show its widgets on whatever address it is served; others may not.
    assert (await _welcome(ws, w["key"], SERVED, base=SERVED)).status_code == 200
    assert (await _welcome(ws, w["key"], "https://evil.example", base=SERVED)).status_code == 403


async def test_each_agent_sees_times_in_their_own_time_zone(ws, console):
    await _set_workspace_zone(ws, "Asia/Kolkata")
    berlin_agent, berlin = await console(Role.agent)
    _, ny = await console(Role.agent)
    _, plain = await console(Role.agent)
    for c, zone in ((berlin, "Europe/Berlin"), (ny, "America/New_York")):
        page = await c.get("/profile")
        assert "The workspace&#39;s: Asia/Kolkata" in page.text
        r = await c.post("/profile", {"name": "Someone", "timezone": zone})
        assert r.status_code == 200 and "Saved." in r.text
    bad = await berlin.post("/profile", {"name": "Someone", "timezone": "Europe/Atlantis"})
    assert bad.status_code == 422 and "is not a time zone" in bad.text
    async with ws.client(berlin_agent) as api:
        r = await api.post(
            "/tickets",
            json={
                "subject": "Clock test",
                "requester": {"email": "c@example.test"},
                "body": "Hi",
            },
        )
        assert r.status_code == 201, r.text
        tid = r.json()["id"]
    async with ws.platform.db.read() as conn:
        created = (
            await conn.execute(sa.text("SELECT created_at FROM tickets WHERE id = :i"), {"i": tid})
        ).scalar_one()
    if isinstance(created, str):
        from datetime import datetime

        created = datetime.fromisoformat(created)
    created = created.replace(tzinfo=UTC) if created.tzinfo is None else created
    iso = created.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    shown = {}
    for c, zone in ((berlin, "Europe/Berlin"), (ny, "America/New_York"), (plain, "Asia/Kolkata")):
        page = await c.get(f"/tickets/{tid}/print")
        assert page.status_code == 200
        local = created.astimezone(ZoneInfo(zone))
        want = f'<time datetime="{iso}">{local.strftime("%Y-%m-%d %H:%M %Z")}</time>'
        assert want in page.text, (zone, want)
        shown[zone] = want
    assert len(set(shown.values())) == 3
    assert " UTC</time>" not in (await berlin.get(f"/tickets/{tid}")).text


async def _set_workspace_zone(ws, zone: str) -> None:
    async with ws.platform.db.transaction() as uow:
        await uow.execute(
            sa.text("UPDATE workspaces SET settings = :s WHERE id = :i"),
            {"s": json.dumps({"timezone": zone}), "i": ws.id},
        )


async def _start_chat(ws, key: str, origin: str, name: str) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=ws.app), base_url="http://testserver"
    ) as c:
        frame = {"t": "start", "fields": {"name": name}, "body": f"Hello from {name}", "cid": "c0"}
        r = await c.post(f"/chat/frame?widget={key}", json={"frame": frame}, headers={"Origin": origin})
        assert r.json()["t"] == "started", r.text


def _count(html: str) -> str:
    found = re.search(r"\((\d+) waiting, (\d+) open with you\)", html)
    assert found, html[:2000]
    return f"{found.group(1)}/{found.group(2)}"


async def test_the_chat_count_is_the_workspaces_queue_and_my_own_chats(ws, make_ws, console):
    admin = await ws.person(Role.admin)
    w = await _widget(ws, admin, ["https://shop.example"])
    _, ari = await console(Role.agent)
    r = await ari.post("/chats/status", {"status": "away"})  # takes no chat: the chats wait
    assert r.status_code == 303
    _, bo = await console(Role.agent)
    assert (await bo.post("/chats/status", {"status": "away"})).status_code == 303

    # Another workspace's waiting chat is not counted here.
    other = await make_ws("Other Co")
    other_admin = await other.person(Role.admin)
    ow = await _widget(other, other_admin, ["https://other.example"])
    await _start_chat(other, ow["key"], "https://other.example", "Olga")
    assert _count((await ari.get("/chats/count")).text) == "0/0"

    await _start_chat(ws, w["key"], "https://shop.example", "Vic")
    await _start_chat(ws, w["key"], "https://shop.example", "Val")
    assert _count((await ari.get("/inbox")).text) == "2/0"
    page = await ari.get("/chats")
    ticket = int(re.findall(r'action="/chats/(\d+)/accept"', page.text)[0])
    assert (await ari.post(f"/chats/{ticket}/accept", {})).status_code == 303
    assert _count((await ari.get("/chats/count")).text) == "1/1"  # one waits, one is Ari's
    assert _count((await bo.get("/chats/count")).text) == "1/0"  # Ari's chat is not Bo's
