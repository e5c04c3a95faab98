"""Public JSON endpoints of the help centre, for the chat widget and any other front end. No credential:
they only ever return what the help centre shows anyone (public, published articles).

- ``GET  /api/v1/help/{slug}/suggest?q=…&locale=en&visit=…&source=widget`` →
  ``{"articles": [{id, title, url, excerpt, score}], "mode": "fused"|"lexical"}``; records a
  ``shown`` step per article for ``visit`` and logs the text as the visit's search (rewritten on each
  call: one search per visit, not one per keystroke; not logged without a ``visit``).
- ``POST /api/v1/help/{slug}/answer`` ``{"question", "locale", "visit", "source"}`` →
  ``{"answer", "article": {id, title, url}, "confidence", "handover": false}`` or, below the bot's
  threshold or when the customer asks for a person, ``{"answer": null, "article": null,
  "confidence", "handover": true, "reason": "low_confidence"|"asked_for_human"}``.
- ``POST /api/v1/help/{slug}/events`` ``{"visit", "kind", "source", "article_id"}`` → 204: a deflection
  step (``opened``, ``solved``, ``abandoned``, ``submitted``, ``handover``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from helpline.domains.knowledge import deflection
from helpline.domains.knowledge.schemas import AnswerIn, BotAnswer, EventIn, Suggestions
from helpline.domains.portal import queries as portal_queries
from helpline.errors import NotFound
from helpline.web.deps import PlatformDep
from helpline.web.responses import JSON

router = APIRouter(prefix="/help", tags=["help centre"])


async def _workspace(platform: Any, slug: str) -> int:
    async with platform.db.read() as conn:
        row = await portal_queries.workspace_by_slug(conn, slug)
    if row is None:
        raise NotFound("there is no help centre at this address")
    return int(row["id"])


@router.get("/{slug}/suggest", response_model=Suggestions)
async def suggest(
    platform: PlatformDep,
    slug: str,
    q: Annotated[str, Query(max_length=500)] = "",
    locale: Annotated[str, Query(max_length=16)] = "en",
    visit: Annotated[str, Query(max_length=64)] = "",
    source: Annotated[str, Query(pattern="^(widget|portal|helpcenter)$")] = "widget",
) -> JSON:
    """Public, published articles for what a customer is typing, best first."""
    ws = await _workspace(platform, slug)
    return JSON(await deflection.suggest(platform, ws, q, locale=locale, visit=visit, source=source))


@router.post("/{slug}/answer", response_model=BotAnswer)
async def answer(platform: PlatformDep, slug: str, body: AnswerIn) -> JSON:
    """The answer bot: an answer citing one article, or a hand-over to a person."""
    ws = await _workspace(platform, slug)
    return JSON(
        await deflection.answer(
            platform, ws, body.question, locale=body.locale, visit=body.visit, source=body.source
        )
    )


@router.post("/{slug}/events", status_code=204)
async def event(platform: PlatformDep, slug: str, body: EventIn) -> Response:
    ws = await _workspace(platform, slug)
    await deflection.record(platform, ws, body.visit, body.kind, body.source, body.article_id)
    return Response(status_code=204)
