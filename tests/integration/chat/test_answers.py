"""Deflection in the chat widget (``/chat/help/*``): suggestions while the visitor types, the answer bot
on the first question, the steps counted, and a hand-over that tells the agent what the bot had said.
Only public, published articles reach a visitor; the routes obey the widget's origin allow-list and
its ``answer_bot`` switch; the hand-over note is built from the database, never from what the visitor's
browser claims, and never travels back to the visitor."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa

from helpline.domains.accounts.models import Role
from tests.integration.knowledge.conftest import KB
from tests.integration.knowledge.conftest import principal as kb_principal

from .conftest import HOST_ORIGIN, latest_ticket

H = {"Origin": HOST_ORIGIN}


async def _kb(ws: Any) -> dict[str, int]:
    kb = KB(ws, kb_principal(await ws.person(Role.admin), ws))
    ids = {
        "card": await kb.article(
            "My card has not arrived",
            "Cards arrive within 5 working days.\n\nIf your card has not arrived after 7 days, freeze it "
            "in the app and order a new card for free.",
        ),
        "internal": await kb.article(
            "Card delivery escalation codes",
            "Courier escalation code QX-19 for cards.",
            visibility="internal",
        ),
        "draft": await kb.article("Card delivery by drone", "Drones will deliver cards.", publish=False),
    }
    return ids


async def _slug(ws: Any) -> str:
    async with ws.platform.db.read() as conn:
        return str(
            (await conn.execute(sa.text("SELECT slug FROM workspaces WHERE id = :w"), {"w": ws.id})).scalar()
        )


async def _events(ws: Any, visit: str) -> list[str]:
    async with ws.platform.db.read() as conn:
        rows = await conn.execute(
            sa.text(
                "SELECT kind FROM kb_deflection_events WHERE workspace_id = :w AND visit = :v ORDER BY id"
            ),
            {"w": ws.id, "v": visit},
        )
        return [r[0] for r in rows]


async def _messages(ws: Any, ticket: int) -> list[dict[str, Any]]:
    async with ws.platform.db.read() as conn:
        rows = await conn.execute(
            sa.text("SELECT body_text, public FROM messages WHERE ticket_id = :t ORDER BY id"), {"t": ticket}
        )
        return [{"body_text": r.body_text, "public": bool(r.public)} for r in rows]


async def test_suggestions_bot_and_events_for_the_widget(
    ws: Any, server: str, widget: dict[str, Any]
) -> None:
    ids = await _kb(ws)
    slug = await _slug(ws)
    key = widget["key"]
    async with httpx.AsyncClient(base_url=server, headers=H, timeout=30) as c:
        r = await c.get(
            "/chat/help/suggest", params={"widget": key, "q": "my card has not arrived", "visit": "w1"}
        )
        assert r.status_code == 200, r.text
        assert r.headers["access-control-allow-origin"] == HOST_ORIGIN
        got = r.json()["articles"]
        assert got and got[0]["id"] == ids["card"], got
        assert got[0]["url"].startswith(f"/help/{slug}/en/articles/{ids['card']}-")
        # Typing "courier escalation code" or "drone" never surfaces the internal or unpublished article.
        for q in ("courier escalation code QX", "card delivery by drone"):
            r = await c.get("/chat/help/suggest", params={"widget": key, "q": q, "visit": "w1"})
            assert {a["id"] for a in r.json()["articles"]} <= {ids["card"]}, r.json()
            assert "QX-19" not in r.text and "Drones" not in r.text

        r = await c.post(
            "/chat/help/answer",
            params={"widget": key},
            json={"question": "my new card still has not arrived, what should I do?", "visit": "w1"},
        )
        assert r.status_code == 200, r.text
        a = r.json()
        assert a["handover"] is False and a["article"]["id"] == ids["card"], a
        assert "arrive" in a["answer"]
        human = await c.post(
            "/chat/help/answer",
            params={"widget": key},
            json={"question": "let me talk to a person", "visit": "w2"},
        )
        assert human.json() == {
            "answer": None,
            "article": None,
            "confidence": 0.0,
            "handover": True,
            "reason": "asked_for_human",
        }
        for kind in ("opened", "solved"):
            r = await c.post(
                "/chat/help/events",
                params={"widget": key},
                json={"visit": "w1", "kind": kind, "article_id": ids["card"]},
            )
            assert r.status_code == 204, r.text
    kinds = await _events(ws, "w1")
    assert kinds[0] == "shown" and kinds[-3:] == ["bot_answered", "opened", "solved"], kinds
    assert await _events(ws, "w2") == ["handover"]


async def test_bad_input_origin_and_switch(ws: Any, server: str, widget: dict[str, Any]) -> None:
    key = widget["key"]
    async with httpx.AsyncClient(base_url=server, timeout=30) as c:
        other = await c.get(
            "/chat/help/suggest", params={"widget": key, "q": "card"}, headers={"Origin": "https://evil.test"}
        )
        assert other.status_code == 403
        assert other.headers["content-type"].startswith("application/problem+json")
        empty = await c.post("/chat/help/answer", params={"widget": key}, json={"question": ""}, headers=H)
        assert empty.status_code == 422 and "question" in empty.text
        kind = await c.post(
            "/chat/help/events", params={"widget": key}, json={"visit": "x", "kind": "shown"}, headers=H
        )
        assert kind.status_code == 422 and "kind" in kind.text
        locale = await c.get(
            "/chat/help/suggest", params={"widget": key, "q": "card", "locale": "../x"}, headers=H
        )
        assert locale.status_code == 422 and "locale" in locale.text
        nowhere = await c.get("/chat/help/suggest", params={"widget": "nope", "q": "card"}, headers=H)
        assert nowhere.status_code == 404

    admin = await ws.person(Role.admin)
    async with ws.client(admin) as api:
        r = await api.patch(f"/chat/widgets/{widget['id']}", json={"answer_bot": False})
        assert r.status_code == 200 and r.json()["answer_bot"] is False, r.text
    async with httpx.AsyncClient(base_url=server, headers=H, timeout=30) as c:
        off = await c.get("/chat/help/suggest", params={"widget": key, "q": "card"})
        assert off.status_code == 404
        hello = await c.post(f"/chat/poll?widget={key}", json={"hello": True, "wait": 0})
        welcome = hello.json()["events"][0]
        assert welcome["t"] == "welcome" and welcome["config"]["answers"] is False


async def test_hand_over_tells_the_agent_what_the_bot_said(
    ws: Any, server: str, widget: dict[str, Any]
) -> None:
    ids = await _kb(ws)
    slug = await _slug(ws)
    key = widget["key"]
    async with httpx.AsyncClient(base_url=server, headers=H, timeout=30) as c:
        r = await c.post(
            f"/chat/frame?widget={key}",
            json={
                "frame": {
                    "t": "start",
                    "fields": {"name": "Bea"},
                    "body": "my card has not arrived",
                    "cid": "b0",
                    "bot": {"reason": "not_helpful", "article_id": ids["card"], "locale": "en"},
                }
            },
        )
        started = r.json()
        assert started["t"] == "started", started
        ticket = await latest_ticket(ws.platform)
        msgs = await _messages(ws, ticket)
        assert msgs[0] == {"body_text": "my card has not arrived", "public": True}
        note = msgs[1]
        assert note["public"] is False
        assert "handed over: the visitor said the bot's answer did not help" in note["body_text"]
        assert "“My card has not arrived”" in note["body_text"]
        assert f"/help/{slug}/en/articles/{ids['card']}-" in note["body_text"]
        # The visitor's stream carries their own message only, never the note.
        r = await c.post(f"/chat/poll?widget={key}", json={"token": started["token"], "after": 0, "wait": 0})
        bodies = [e.get("body") for e in r.json()["events"] if e["t"] == "msg"]
        assert bodies == ["my card has not arrived"], r.json()

        # A forged citation (an internal article's id) is not looked up for the note.
        r = await c.post(
            f"/chat/frame?widget={key}",
            json={
                "frame": {
                    "t": "start",
                    "fields": {"name": "Mal"},
                    "body": "hello",
                    "cid": "m0",
                    "bot": {"reason": "asked_for_human", "article_id": ids["internal"]},
                }
            },
        )
        assert r.json()["t"] == "started"
        forged = await _messages(ws, await latest_ticket(ws.platform))
        assert "the visitor asked for a person" in forged[1]["body_text"]
        assert "escalation" not in forged[1]["body_text"] and "QX-19" not in forged[1]["body_text"]
