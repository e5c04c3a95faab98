"""Console pages of the knowledge base: write with preview, submit for review, publish (admins), a new
version stays unpublished until published, diff and restore, translations, files, categories,
insights, suggested articles on a ticket and an article from a ticket; customers are kept out."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa

from helpline.domains.accounts.models import Role
from helpline.domains.knowledge import embed
from helpline.domains.tickets import service as tickets
from helpline.domains.tickets.schemas import TicketCreate
from tests.integration.knowledge.conftest import anonymous, principal, slug_of


async def test_write_review_publish_diff_restore(ws: Any, console: Any) -> None:
    slug = await slug_of(ws)
    _, agent = await console(Role.agent)
    _, admin = await console(Role.admin)
    new = await agent.get("/kb/new")
    assert new.status_code == 200 and "Body (Markdown)" in new.text
    preview = await agent.post(
        "/kb/new", {"title": "Reset a password", "body_md": "Press **Forgot**.", "action": "preview"}
    )
    assert "<strong>Forgot</strong>" in preview.text and "Preview (not saved)" in preview.text
    made = await agent.post(
        "/kb/new",
        {"title": "Reset a password", "body_md": "Press **Forgot**.", "locale": "en", "visibility": "public"},
    )
    assert made.status_code == 303
    aid = int(re.search(r"/kb/articles/(\d+)", made.headers["location"])[1])
    assert (
        await agent.post(f"/kb/articles/{aid}/state", {"locale": "en", "state": "review"})
    ).status_code == 303
    assert (
        await agent.post(f"/kb/articles/{aid}/state", {"locale": "en", "state": "published"})
    ).status_code == 403
    async with anonymous(ws) as c:
        assert (await c.get(f"/help/{slug}/en/articles/{aid}-reset-a-password")).status_code == 404
    assert (
        await admin.post(f"/kb/articles/{aid}/state", {"locale": "en", "state": "published"})
    ).status_code == 303
    saved = await agent.post(
        f"/kb/articles/{aid}",
        {
            "title": "Reset a password",
            "body_md": "Press **Forgot password**.",
            "locale": "en",
            "visibility": "public",
            "note": "clearer",
        },
    )
    assert saved.status_code == 303
    async with anonymous(ws) as c:
        live = await c.get(f"/help/{slug}/en/articles/{aid}-reset-a-password")
        assert "Forgot</strong>" in live.text and "Forgot password" not in live.text
    page = await agent.get(f"/kb/articles/{aid}")
    assert "Version 2" in page.text and "a version is live" in page.text
    async with ws.platform.db.read() as conn:
        v1, v2 = (
            await conn.execute(
                sa.text(
                    "SELECT v.id FROM kb_versions v JOIN kb_translations t ON t.id = "
                    "v.translation_id WHERE t.article_id = :a ORDER BY v.number"
                ),
                {"a": aid},
            )
        ).scalars()
    diff = await agent.get(f"/kb/versions/{v2}")
    assert 'class="kb-del"' in diff.text and 'class="kb-add"' in diff.text and "Forgot password" in diff.text
    assert (await agent.post(f"/kb/versions/{v1}/restore")).status_code == 303
    page = await agent.get(f"/kb/articles/{aid}")
    assert "Version 3" in page.text and "restored version 1" in page.text
    fr = await agent.get(f"/kb/articles/{aid}?locale=fr")
    assert "No Français text yet" in fr.text
    assert (
        await agent.post(
            f"/kb/articles/{aid}",
            {"title": "Nouveau mot de passe", "body_md": "Cliquez.", "locale": "fr", "visibility": "public"},
        )
    ).status_code == 303
    up = await agent.client.post(
        f"/kb/articles/{aid}/files",
        data={"csrf_token": agent.csrf},
        files={"file": ("shot.png", b"\x89PNG\r\n\x1a\nxx", "image/png")},
    )
    assert up.status_code == 303
    listing = await agent.get("/kb")
    assert "Reset a password" in listing.text


async def test_customers_and_anonymous_are_kept_out(ws: Any, console: Any) -> None:
    async with anonymous(ws) as c:
        r = await c.get("/kb")
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
    cust = await ws.person(Role.customer, password="correct horse battery")
    async with anonymous(ws) as c:
        signed = await c.post(
            "/api/v1/session", json={"email": cust.email, "password": "correct horse battery"}
        )
        assert signed.status_code == 200, signed.text
        for path in ("/kb", "/kb/insights", "/kb/articles/new"):
            r = await c.get(path)
            assert r.status_code in (303, 403), (path, r.status_code)
            assert "Knowledge base" not in r.text or r.status_code == 303


async def test_insights_and_ticket_suggestions(ws: Any, console: Any, kbase: Any) -> None:
    slug = await slug_of(ws)
    aid = await kbase.article("Refund a payment", "Open Payments, choose the payment and press Refund.")
    internal = await kbase.article(
        "Refund approvals", "Refunds over 500 need approval.", visibility="internal"
    )
    person, agent = await console(Role.agent)
    async with ws.platform.db.transaction() as uow:
        t = await tickets.create_ticket(
            uow,
            ws.platform.pubsub,
            principal(person, ws),
            TicketCreate(
                subject="How do I refund a payment?",
                body="How can I refund a payment I made?",
                requester={"email": "c@example.test", "name": "C"},
            ),
        )
    tid = t["id"] if isinstance(t, dict) else t
    frag = await agent.get(f"/kb/suggest-for-ticket/{tid}")
    assert frag.status_code == 200 and "Refund a payment" in frag.text and "Refund approvals" in frag.text
    assert f"/help/{slug}/en/articles/{aid}-refund-a-payment" in frag.text and "data-kb-insert" in frag.text
    if embed.unavailable() is None:  # the bot is confident here, and cites the public article only
        assert "Suggested reply" in frag.text
        assert (
            "from “Refund a payment”" in frag.text
            and "over 500" not in frag.text.split("Suggested reply")[1][:300]
        )
    made = await agent.post(f"/kb/from-ticket/{tid}")
    assert made.status_code == 303
    async with anonymous(ws) as c:
        await c.get(f"/help/{slug}/en/search", params={"q": "refund"})
        await c.get(f"/help/{slug}/en/search", params={"q": "teleport"})
        frag = await c.get(f"/help/{slug}/en/suggest", params={"q": "refund payment", "visit": "abc"})
        assert "Refund a payment" in frag.text and "Refund approvals" not in frag.text, frag.text
        await c.post(
            f"/api/v1/help/{slug}/events",
            json={"visit": "abc", "kind": "solved", "source": "portal", "article_id": aid},
        )
    page = await agent.get("/kb/insights")
    assert page.status_code == 200
    assert "teleport" in page.text and "refund" in page.text and "100.0 %" in page.text
    assert internal
