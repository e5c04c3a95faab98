"""Public JSON endpoints of the help centre, for the chat widget and any other front end. No credential:
they only ever return what the help centre shows anyone (public, published articles).

- ``GET  /api/v1/help/{slug}/suggest?q=…&locale=en&visit=…&source=widget`` →
  ``{"articles": [{id, title, url, excerpt, score}], "mode": "fused"|"lexical"}``; records a
  ``shown`` step per article for ``visit``.
- ``POST /api/v1/help/{slug}/answer`` ``{"question", "locale", "visit", "source"}`` →
  ``{"answer", "article": {id, title, url}, "confidence", "handover": false}`` or, below the bot's
  threshold or when the customer asks for a person, ``{"answer": null, "article": null,
  "confidence", "handover": true, "reason": "low_confidence"|"asked_for_human"}``.
- ``POST /api/v1/help/{slug}/events`` ``{"visit", "kind", "source", "article_id"}`` → 204: a deflection
  step (``opened``, ``solved``, ``abandoned``, ``submitted``, ``handover``).
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from helpline.domains.knowledge import bot, tracking
from helpline.domains.knowledge.search import article_url, search
from helpline.domains.portal import queries as portal_queries
from helpline.web.deps import PlatformDep
from helpline.web.errors import NotFound

router = APIRouter(prefix="/help", tags=["help centre"])


class AnswerIn(BaseModel):
    question: str = Field(min_length=1, max_length=2000)
    locale: str = Field(default="en", max_length=16, pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
    visit: str = Field(default="", max_length=64)
    source: str = Field(default="widget", pattern="^(widget|portal|email|helpcenter)$")


class EventIn(BaseModel):
    visit: str = Field(min_length=1, max_length=64)
    kind: str = Field(pattern="^(opened|solved|abandoned|submitted|handover)$")
    source: str = Field(default="widget", pattern="^(widget|portal|helpcenter|email)$")
    article_id: int | None = None


async def _workspace(platform: Any, slug: str) -> int:
    async with platform.db.read() as conn:
        row = await portal_queries.workspace_by_slug(conn, slug)
    if row is None:
        raise NotFound("there is no help centre at this address")
    return int(row["id"])


@router.get("/{slug}/suggest")
async def suggest(
    platform: PlatformDep,
    slug: str,
    q: Annotated[str, Query(max_length=500)] = "",
    locale: Annotated[str, Query(max_length=16)] = "en",
    visit: Annotated[str, Query(max_length=64)] = "",
    source: Annotated[str, Query(pattern="^(widget|portal|helpcenter)$")] = "widget",
) -> dict[str, Any]:
    """Public, published articles for what a customer is typing, best first."""
    ws = await _workspace(platform, slug)
    if len(q.strip()) < 3:
        return {"articles": [], "mode": "none"}
    async with platform.db.read() as conn:
        result = await search(conn, ws, q, customer=True, locale=locale, limit=5)
    articles = [h.as_dict(article_url(slug, h)) for h in result.hits]
    async with platform.db.transaction() as uow:
        await tracking.log_search(
            uow,
            ws,
            q,
            locale=locale,
            source=source,
            results=len(articles),
            top_article_id=articles[0]["id"] if articles else None,
        )
        for a in articles:
            await tracking.record_event(uow, ws, visit or secrets.token_hex(8), "shown", source, a["id"])
    return {"articles": articles, "mode": result.mode}


@router.post("/{slug}/answer")
async def answer(platform: PlatformDep, slug: str, body: AnswerIn) -> dict[str, Any]:
    """The answer bot: an answer citing one article, or a hand-over to a person."""
    ws = await _workspace(platform, slug)
    threshold = platform.settings.kb_bot_threshold
    async with platform.db.read() as conn:
        found = await bot.answer(conn, ws, body.question, body.locale, threshold=threshold)
    visit = body.visit or secrets.token_hex(8)
    async with platform.db.transaction() as uow:
        await tracking.log_search(
            uow,
            ws,
            body.question,
            locale=body.locale,
            source="bot",
            results=1 if found else 0,
            top_article_id=found["article"]["id"] if found else None,
        )
        await tracking.record_event(
            uow,
            ws,
            visit,
            "bot_answered" if found else "handover",
            body.source,
            found["article"]["id"] if found else None,
        )
    if found is None:
        reason = "asked_for_human" if bot.wants_human(body.question) else "low_confidence"
        return {"answer": None, "article": None, "confidence": 0.0, "handover": True, "reason": reason}
    return {**found, "handover": False}


@router.post("/{slug}/events", status_code=204)
async def event(platform: PlatformDep, slug: str, body: EventIn) -> Response:
    ws = await _workspace(platform, slug)
    async with platform.db.transaction() as uow:
        await tracking.record_event(uow, ws, body.visit, body.kind, body.source, body.article_id)
    return Response(status_code=204)
