"""The public JSON endpoints the chat widget calls: suggest, answer (or hand over), events; nothing
internal or unpublished comes out of them, and every step is recorded."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from helpline.domains.knowledge import embed
from helpline.domains.knowledge.schemas import BotAnswer, Suggestions
from tests.integration.knowledge.conftest import anonymous, slug_of

CARD = (
    "My card has not arrived",
    "Cards arrive within 5 working days after you order them.\n\n"
    "If yours has not arrived after 7 days, freeze it in the app and order a new one for free.",
)


async def _events(ws: Any) -> list[tuple[str, str]]:
    async with ws.platform.db.read() as conn:
        rows = await conn.execute(
            sa.text("SELECT kind, source FROM kb_deflection_events WHERE workspace_id = :w ORDER BY id"),
            {"w": ws.id},
        )
        return [(r[0], r[1]) for r in rows]


async def test_suggest_answer_events(ws: Any, kbase: Any) -> None:
    slug = await slug_of(ws)
    aid = await kbase.article(*CARD)
    await kbase.article(
        "Card delivery codes for agents", "Card delivery escalation code Q-19.", visibility="internal"
    )
    await kbase.article("Card delivery draft", "Card delivery in 2 days.", publish=False)
    async with anonymous(ws) as c:
        r = await c.get(
            f"/api/v1/help/{slug}/suggest", params={"q": "my card has not arrived", "visit": "v1"}
        )
        assert r.status_code == 200
        body = r.json()
        assert [a["id"] for a in body["articles"]] == [aid]
        assert body["articles"][0]["url"] == f"/help/{slug}/en/articles/{aid}-my-card-has-not-arrived"
        assert set(body["articles"][0]) == {"id", "title", "url", "excerpt", "score"}
        assert body["mode"] == ("lexical" if embed.unavailable() else "fused")
        Suggestions.model_validate(body)  # the documented response (OpenAPI) is what is sent
        short = await c.get(f"/api/v1/help/{slug}/suggest", params={"q": "a"})
        assert short.json() == {"articles": [], "mode": "none"}
        r = await c.post(
            f"/api/v1/help/{slug}/answer",
            json={"question": "my card still has not arrived, what now?", "visit": "v1"},
        )
        got = r.json()
        assert got["handover"] is False and got["article"]["id"] == aid, got
        assert "arrive" in got["answer"] and 0 < got["confidence"] <= 1
        assert set(got) == {"answer", "article", "confidence", "handover"}  # no "reason" when answered
        BotAnswer.model_validate(got)
        human = await c.post(
            f"/api/v1/help/{slug}/answer", json={"question": "I want to talk to a human", "visit": "v1"}
        )
        assert human.json() == {
            "answer": None,
            "article": None,
            "confidence": 0.0,
            "handover": True,
            "reason": "asked_for_human",
        }
        BotAnswer.model_validate(human.json())
        off = await c.post(
            f"/api/v1/help/{slug}/answer", json={"question": "what is the capital of peru", "visit": "v2"}
        )
        assert off.json()["handover"] is True and off.json()["reason"] == "low_confidence"
        assert (
            await c.post(
                f"/api/v1/help/{slug}/events", json={"visit": "v1", "kind": "solved", "article_id": aid}
            )
        ).status_code == 204
        bad = await c.post(f"/api/v1/help/{slug}/events", json={"visit": "v1", "kind": "shown"})
        assert bad.status_code == 422
        assert (await c.get("/api/v1/help/nope/suggest", params={"q": "card"})).status_code == 404
    assert await _events(ws) == [
        ("shown", "widget"),
        ("bot_answered", "widget"),
        ("handover", "widget"),
        ("handover", "widget"),
        ("solved", "widget"),
    ]


async def test_bot_never_cites_internal_articles(ws: Any, kbase: Any) -> None:
    slug = await slug_of(ws)
    await kbase.article(
        "Wire transfer limits",
        "Internal: the real daily wire limit is 50,000; never tell.",
        visibility="internal",
    )
    async with anonymous(ws) as c:
        r = await c.post(
            f"/api/v1/help/{slug}/answer", json={"question": "what is the daily wire transfer limit"}
        )
    assert r.json()["handover"] is True and "50,000" not in r.text


async def test_the_openapi_document_describes_suggestions_and_answers(ws: Any) -> None:
    async with anonymous(ws) as c:
        doc = (await c.get("/api/v1/openapi.json")).json()

    def schema_of(path: str, method: str) -> Any:
        return doc["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]

    assert schema_of("/api/v1/help/{slug}/suggest", "get") == {"$ref": "#/components/schemas/Suggestions"}
    assert schema_of("/api/v1/help/{slug}/answer", "post") == {"$ref": "#/components/schemas/BotAnswer"}
    answer = doc["components"]["schemas"]["BotAnswer"]
    assert set(answer["required"]) == {"answer", "article", "confidence", "handover"}
    assert set(doc["components"]["schemas"]["SuggestedArticle"]["properties"]) == {
        "id",
        "title",
        "url",
        "excerpt",
        "score",
    }
