"""The public help centre over HTTP: pages, clean URLs, SEO, feedback, views, search logging, sitemap,
and 404 for internal, unpublished and other workspaces' articles (anonymous and signed-in customers)."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa

from helpline.domains.knowledge import service as kb
from tests.integration.knowledge.conftest import anonymous, slug_of

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


async def _count(ws: Any, sql: str) -> int:
    async with ws.platform.db.read() as conn:
        return int((await conn.execute(sa.text(sql), {"ws": ws.id})).scalar_one())


async def test_help_centre_pages(ws: Any, kbase: Any) -> None:
    slug = await slug_of(ws)
    async with ws.platform.db.transaction() as uow:
        cat = await kb.do_create_category(
            uow, kbase.admin, "Orders & payments", description="All about orders"
        )
        sec = await kb.do_create_category(uow, kbase.admin, "Refunds", parent_id=cat)
    aid = await kbase.article(
        "How do I get a refund?",
        "Open **Orders** and press *Refund*.\n\n<script>alert(1)</script>",
        section_id=sec,
        description="Refunds in three steps.",
    )
    secret = await kbase.article(
        "Refund override codes", "Code ZETA-77.", visibility="internal", section_id=sec
    )
    draft = await kbase.article("Refund draft", "Unfinished refund text.", publish=False, section_id=sec)
    async with anonymous(ws) as c:
        r = await c.get(f"/help/{slug}")
        assert r.status_code == 303 and r.headers["location"] == f"/help/{slug}/en"
        home = await c.get(f"/help/{slug}/en")
        assert home.status_code == 200 and "Orders &amp; payments" in home.text
        cat_page = await c.get(f"/help/{slug}/en/categories/orders-payments")
        assert "How do I get a refund?" in cat_page.text and "override" not in cat_page.text
        assert "Refund draft" not in cat_page.text
        moved = await c.get(f"/help/{slug}/en/articles/{aid}")
        assert moved.status_code == 301 and moved.headers["location"].endswith(
            f"/articles/{aid}-how-do-i-get-a-refund"
        )
        page = await c.get(moved.headers["location"])
        assert page.status_code == 200
        # No HELPLINE_BASE_URL in these tests: the address the page was requested at.
        assert '<link rel="canonical" href="http://testserver/help/' in page.text
        assert '<meta name="description" content="Refunds in three steps.">' in page.text
        assert "<strong>Orders</strong>" in page.text and "<script>alert" not in page.text
        assert 'aria-label="Breadcrumb"' in page.text and "Orders &amp; payments" in page.text
        for hidden in (secret, draft):
            assert (await c.get(f"/help/{slug}/en/articles/{hidden}")).status_code == 404
        assert (await c.get(f"/help/{slug}/en/articles/999999999")).status_code == 404
        feedback = await c.post(
            f"/help/{slug}/en/articles/{aid}/feedback",
            data={"helpful": "no", "comment": "Missing the fees", "csrf_token": TOKEN.search(page.text)[1]},
        )
        assert feedback.status_code == 303
        refused = await c.post(
            f"/help/{slug}/en/articles/{aid}/feedback", data={"helpful": "yes", "csrf_token": "forged"}
        )
        assert refused.status_code == 403
        sitemap = await c.get(f"/help/{slug}/sitemap.xml")
        assert (
            f"/articles/{aid}-how-do-i-get-a-refund" in sitemap.text
            and f"/articles/{secret}-" not in sitemap.text
        )
        found = await c.get(f"/help/{slug}/en/search", params={"q": "refnud"})
        assert (
            "How do I get a refund?" in found.text and "override" not in found.text and "<mark>" in found.text
        )
        none = await c.get(f"/help/{slug}/en/search", params={"q": "quantum teleportation"})
        assert "No article matches" in none.text
    assert (
        await _count(ws, "SELECT view_count FROM kb_articles WHERE workspace_id = :ws AND view_count > 0")
        == 1
    )
    assert await _count(ws, "SELECT count(*) FROM kb_feedback WHERE workspace_id = :ws AND NOT helpful") == 1
    assert (
        await _count(ws, "SELECT count(*) FROM kb_search_log WHERE workspace_id = :ws AND results = 0") == 1
    )


async def test_translated_article_and_switcher(ws: Any, kbase: Any) -> None:
    slug = await slug_of(ws)
    async with ws.platform.db.transaction() as uow:
        await uow.execute(
            sa.text("UPDATE workspaces SET settings = :s WHERE id = :i"),
            {"s": '{"languages": ["en", "fr"]}', "i": ws.id},
        )
    aid = await kbase.article("Change your address", "Open your profile.")
    await kbase.translate(aid, "fr", "Changer votre adresse", "Ouvrez votre profil.")
    async with anonymous(ws) as c:
        fr = await c.get(f"/help/{slug}/fr/articles/{aid}-changer-votre-adresse")
        assert fr.status_code == 200 and '<html lang="fr">' in fr.text and "Ouvrez votre profil" in fr.text
        assert f'href="/help/{slug}/en/articles/{aid}"' in fr.text and "Français" in fr.text
        assert (await c.get(f"/help/{slug}/de/articles/{aid}")).status_code == 404


async def test_other_workspace_slug_does_not_show_articles(ws: Any, kbase: Any, make_ws: Any) -> None:
    aid = await kbase.article("Private to ws", "Text")
    other = await make_ws("Other")
    async with anonymous(ws) as c:
        assert (await c.get(f"/help/{await slug_of(other)}/en/articles/{aid}")).status_code == 404
        assert (await c.get("/help/no-such-workspace/en")).status_code == 404
