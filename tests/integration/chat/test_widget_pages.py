"""The admins' chat widget pages: create a widget, change every setting through the form (the API's
checks apply, errors name the field), copy the snippet; agents and other workspaces' admins are kept
out."""

from __future__ import annotations

import re
from typing import Any

import httpx

from helpline.domains.accounts.models import Role
from tests.conftest import PASSWORD, Console, field_error


async def _console(ws: Any, role: Role) -> Console:
    person = await ws.person(role, password=PASSWORD)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=ws.app), base_url="http://testserver")
    r = await client.post("/api/v1/session", json={"email": person.email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return Console(client, r.json()["csrf_token"])


FORM = {
    "name": "Shop help",
    "enabled": "on",
    "allowed_origins": "https://shop.example\nhttps://www.shop.example/",
    "greeting": "Hello there",
    "locale": "fr",
    "colour": "#0b6e4f",
    "position": "left",
    "logo_url": "https://shop.example/logo.png",
    "prechat_fields": "name | Your name | text | required\norder | Order number",
    "group_id": "",
    "max_chats_per_agent": "4",
    "schedule": "mon 09:00-12:00 13:00-17:30\nFri 10:00-16:00",
    "timezone": "Europe/Oslo",
}


async def test_admin_creates_and_configures_a_widget(ws: Any) -> None:
    admin = await _console(ws, Role.admin)
    try:
        r = await admin.post(
            "/admin/chat-widgets", {"name": "Shop help", "allowed_origins": "https://shop.example"}
        )
        assert r.status_code == 303, r.text
        page = r.headers["location"]
        widget_id = int(re.search(r"/admin/chat-widgets/(\d+)", page).group(1))  # type: ignore[union-attr]
        r = await admin.get(page)
        assert r.status_code == 200
        assert "Created." in r.text and "/widget.js" in r.text and "data-widget=" in r.text
        listing = await admin.get("/admin/chat-widgets")
        assert "Shop help" in listing.text and "https://shop.example" in listing.text

        r = await admin.post(f"/admin/chat-widgets/{widget_id}", FORM)
        assert r.status_code == 303, r.text
        async with ws.client(await ws.person(Role.admin)) as api:
            w = (await api.get(f"/chat/widgets/{widget_id}")).json()
        assert w["allowed_origins"] == ["https://shop.example", "https://www.shop.example"]
        assert w["theme"] == {
            "position": "left",
            "colour": "#0b6e4f",
            "logo_url": "https://shop.example/logo.png",
        }
        assert w["locale"] == "fr" and w["greeting"] == "Hello there" and w["timezone"] == "Europe/Oslo"
        assert w["prechat_fields"] == [
            {"name": "name", "label": "Your name", "type": "text", "required": True},
            {"name": "order", "label": "Order number", "type": "text", "required": False},
        ]
        assert w["schedule"] == {"mon": [["09:00", "12:00"], ["13:00", "17:30"]], "fri": [["10:00", "16:00"]]}
        assert w["max_chats_per_agent"] == 4 and w["enabled"] is True and w["answer_bot"] is False
        again = await admin.get(f"/admin/chat-widgets/{widget_id}")
        assert "mon 09:00-12:00 13:00-17:30" in again.text and "order | Order number | text" in again.text

        # Bad input: the form comes back (422) with the field named, and nothing changes.
        for field, value, says in (
            ("allowed_origins", "shop.example/path", "is not an origin"),
            ("schedule", "someday 09:00-10:00", "write a day"),
            ("schedule", "mon 9-25", "HH:MM"),
            ("timezone", "Mars/Olympus", "time zone"),
            ("colour", "green", "#rrggbb"),
            ("prechat_fields", "onlykey", "key | Label"),
            ("prechat_fields", "Bad Key | Label", "match pattern"),
            ("logo_url", "http://insecure.example/x.png", "https://"),
            ("max_chats_per_agent", "lots", "whole number"),
            ("max_chats_per_agent", "9" * 5000, "whole number"),  # int() itself refuses this many digits
            ("group_id", "999999", "group"),
            ("group_id", "9" * 20, "group"),  # past 64 bits: the database would refuse it
        ):
            bad = await admin.post(f"/admin/chat-widgets/{widget_id}", {**FORM, field: value})
            assert bad.status_code == 422, (field, bad.status_code)
            # Shown under its own field, not only somewhere on a page whose hints say the same.
            assert says in field_error(bad.text, field), (field, says)
        async with ws.client(await ws.person(Role.admin)) as api:
            still = (await api.get(f"/chat/widgets/{widget_id}")).json()
        assert still["timezone"] == "Europe/Oslo" and still["theme"]["colour"] == "#0b6e4f"
        nameless = await admin.post("/admin/chat-widgets", {"name": ""})
        assert nameless.status_code == 422 and "name" in nameless.text
    finally:
        await admin.client.aclose()


async def test_agents_and_other_workspaces_are_kept_out(ws: Any, make_ws: Any) -> None:
    other_ws = await make_ws("Other company")
    admin = await _console(ws, Role.admin)
    agent = await _console(ws, Role.agent)
    stranger = await _console(other_ws, Role.admin)
    try:
        r = await admin.post("/admin/chat-widgets", {"name": "Mine", "allowed_origins": ""})
        widget_id = int(r.headers["location"].split("/")[-1].split("?")[0])
        for path in ("/admin/chat-widgets", f"/admin/chat-widgets/{widget_id}"):
            assert (await agent.get(path)).status_code == 403
        assert (await agent.post(f"/admin/chat-widgets/{widget_id}", FORM)).status_code == 403
        assert (await agent.post("/admin/chat-widgets", {"name": "x"})).status_code == 403
        assert (await stranger.get(f"/admin/chat-widgets/{widget_id}")).status_code == 404
        assert (await stranger.post(f"/admin/chat-widgets/{widget_id}", FORM)).status_code == 404
        assert "Mine" not in (await stranger.get("/admin/chat-widgets")).text
        page = await admin.get(f"/admin/chat-widgets/{widget_id}")
        assert page.status_code == 200 and "Mine" in page.text
    finally:
        for c in (admin, agent, stranger):
            await c.client.aclose()
