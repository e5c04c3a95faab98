"""What reaches the search log (and so the insights page's top searches and content gaps): a finished
query, not every prefix a customer types. Typing in the portal form or the widget is one search per
visit, its latest text; the question the visit then puts to the bot takes that row over; the help
centre's search page logs every search. Deflection steps are recorded as before. One suggestion
function serves the JSON endpoint, the portal's HTML fragment and the package's ``suggest``."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa

from helpline.domains import knowledge
from helpline.domains.accounts.models import Role
from tests.integration.knowledge.conftest import anonymous, slug_of

CARD = (
    "My card has not arrived",
    "Cards arrive within 5 working days after you order them.\n\n"
    "If yours has not arrived after 7 days, freeze it in the app and order a new one for free.",
)


async def _log(ws: Any) -> list[tuple[str, str, int]]:
    async with ws.platform.db.read() as conn:
        rows = await conn.execute(
            sa.text("SELECT query, source, results FROM kb_search_log WHERE workspace_id = :w ORDER BY id"),
            {"w": ws.id},
        )
        return [(r[0], r[1], int(r[2])) for r in rows]


async def _shown(ws: Any) -> list[str]:
    async with ws.platform.db.read() as conn:
        rows = await conn.execute(
            sa.text(
                "SELECT visit FROM kb_deflection_events "
                "WHERE workspace_id = :w AND kind = 'shown' ORDER BY id"
            ),
            {"w": ws.id},
        )
        return [r[0] for r in rows]


def _prefixes(text: str) -> list[str]:
    """What a customer's browser sends while they type ``text``, a word at a time."""
    words = text.split()
    return [" ".join(words[: n + 1]) for n in range(len(words))]


async def test_typing_is_one_search_per_visit(ws: Any, kbase: Any, console: Any) -> None:
    slug = await slug_of(ws)
    await kbase.article(*CARD)
    async with anonymous(ws) as c:
        for q in _prefixes("my card has not arrived"):  # the portal form's fragment
            r = await c.get(f"/help/{slug}/en/suggest", params={"q": q, "visit": "portal-1"})
            assert r.status_code == 200
        assert "My card has not arrived" in r.text
        for q in _prefixes("quantum teleportation fees"):  # the widget's JSON, a content gap
            r = await c.get(f"/api/v1/help/{slug}/suggest", params={"q": q, "visit": "widget-1"})
            assert r.status_code == 200
        assert r.json()["articles"] == []
        for q in _prefixes("card not arrived"):  # no visit: nothing tells a fragment from a question
            await c.get(f"/api/v1/help/{slug}/suggest", params={"q": q})
    assert await _log(ws) == [
        ("my card has not arrived", "portal", 1),
        ("quantum teleportation fees", "widget", 0),
    ]
    # Every list of suggestions shown is still a deflection step: the portal's visit saw one at each
    # of its four prefixes that found the article ("my" is too short to search), the visit-less
    # calls one each under a visit of their own.
    shown = await _shown(ws)
    assert shown.count("portal-1") == 4 and len(shown) == 4 + 3, shown
    _, agent = await console(Role.agent)
    page = await agent.get("/kb/insights")
    top = page.text.split('id="in-top"')[1].split("</section>")[0]
    gaps = page.text.split('id="in-gaps"')[1].split("</section>")[0]
    assert "my card has not arrived" in top and "quantum teleportation fees" in gaps
    assert re.findall(r"<tr><td>([^<]+)</td>", top) == [
        "my card has not arrived",
        "quantum teleportation fees",
    ]
    assert re.findall(r"<tr><td>([^<]+)</td>", gaps) == ["quantum teleportation fees"]


async def test_the_question_to_the_bot_finishes_the_visits_typing(ws: Any, kbase: Any) -> None:
    slug = await slug_of(ws)
    await kbase.article(*CARD)
    async with anonymous(ws) as c:
        for q in _prefixes("my card has not arrived yet"):
            await c.get(f"/api/v1/help/{slug}/suggest", params={"q": q, "visit": "v1"})
        answered = await c.post(
            f"/api/v1/help/{slug}/answer", json={"question": "my card has not arrived yet", "visit": "v1"}
        )
        assert answered.json()["handover"] is False
        # A suggestion request still in flight when the visitor pressed "Start chat" changes nothing.
        await c.get(f"/api/v1/help/{slug}/suggest", params={"q": "my card has not arriv", "visit": "v1"})
        # A second question of the visit, and questions from a visit that never typed, are rows.
        await c.post(f"/api/v1/help/{slug}/answer", json={"question": "how do I order a card", "visit": "v1"})
        await c.post(
            f"/api/v1/help/{slug}/answer", json={"question": "when does my card arrive", "visit": "v2"}
        )
        await c.post(f"/api/v1/help/{slug}/answer", json={"question": "what about a lost card"})
        # The help centre's search page: each search is finished, each is logged.
        await c.get(f"/help/{slug}/en/search", params={"q": "card"})
        await c.get(f"/help/{slug}/en/search", params={"q": "card"})
    logged = await _log(ws)
    assert [(q, source) for q, source, _ in logged] == [
        ("my card has not arrived yet", "bot"),
        ("how do I order a card", "bot"),
        ("when does my card arrive", "bot"),
        ("what about a lost card", "bot"),
        ("card", "helpcenter"),
        ("card", "helpcenter"),
    ]
    assert logged[0][2] == 1 and logged[-1][2] == 1  # the bot answered; the search found the article


async def test_one_suggestion_function_for_every_caller(ws: Any, kbase: Any) -> None:
    """The JSON endpoint, the portal's fragment and ``knowledge.suggest`` give the same articles in the
    same order with the same addresses, in the help centre's French too: a language with no article
    for the text falls back to every language (before, only ``knowledge.suggest`` did)."""
    slug = await slug_of(ws)
    card = await kbase.article(*CARD)
    pin = await kbase.article("I forgot my card PIN", "Open Cards, choose the card and press Show PIN.")
    answers: dict[str, Any] = {}
    for locale in ("en", "fr"):
        q = "my card has not arrived and I forgot the PIN"
        async with anonymous(ws) as c:
            api = (await c.get(f"/api/v1/help/{slug}/suggest", params={"q": q, "locale": locale})).json()
            frag = (
                await c.get(f"/help/{slug}/{locale}/suggest", params={"q": q, "visit": f"f-{locale}"})
            ).text
        ids = [a["id"] for a in api["articles"]]
        assert sorted(ids[:2]) == sorted([card, pin]), (locale, api)
        assert [int(i) for i in re.findall(r'data-article="(\d+)"', frag)] == ids
        for a in api["articles"]:
            assert f'href="{a["url"]}"' in frag and a["url"].startswith(f"/help/{slug}/en/articles/")
        assert "<mark>" in frag and "&lt;mark&gt;" not in frag  # the excerpt's highlights, escaped once
        answers[locale] = api
    for locale, api in answers.items():
        q = "my card has not arrived and I forgot the PIN"
        assert await knowledge.suggest(ws.platform, ws.id, q, locale=locale) == api


async def test_an_older_prefix_arriving_late_does_not_overwrite_the_newer_text(ws: Any) -> None:
    """Suggestions are answered out of order (a slow search for an earlier prefix finishes last):
    the visit's row keeps the text asked for last, not the one answered last."""
    from datetime import UTC, datetime, timedelta

    from helpline.domains.knowledge import tracking

    asked = datetime.now(UTC)
    for text, at in (
        ("my card has not arrived", asked),
        ("my card has", asked - timedelta(milliseconds=300)),
    ):
        async with ws.platform.db.transaction() as uow:
            await tracking.log_search(
                uow,
                ws.id,
                text,
                locale="en",
                source="portal",
                results=1,
                top_article_id=None,
                visit="v-late",
                typing=True,
                at=at,
            )
    assert await _log(ws) == [("my card has not arrived", "portal", 1)]
