"""Deflection for customers who have not reached a person yet: suggestions while they type, the answer
bot, and the steps they take (each recorded for the insights page). One implementation serves the
help centre's public JSON (``knowledge/api.py``, addressed by workspace slug), the chat widget
(``/chat/help/*``, addressed by widget key with its origin allow-list) and the portal form's HTML
fragment (``helpcenter_views.py``); :func:`suggest` is also the package's ``knowledge.suggest``. Customers
are only ever given public, published articles."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.db.base import utcnow
from helpline.domains.knowledge import bot, queries, tracking

# The request bodies lived here; the chat widget's ``/chat/help/*`` routes still import them from here.
from helpline.domains.knowledge.schemas import AnswerIn as AnswerIn
from helpline.domains.knowledge.schemas import EventIn as EventIn
from helpline.domains.knowledge.search import article_url, with_fallback
from helpline.domains.portal.queries import workspace_slug

_HANDOVER_REASONS = {
    "asked_for_human": "the visitor asked for a person",
    "low_confidence": "the bot was not confident enough to answer",
    "not_helpful": "the visitor said the bot's answer did not help",
}


async def suggest(
    platform: Any,
    workspace_id: int,
    q: str,
    *,
    locale: str = "en",
    visit: str = "",
    source: str = "",
    customer: bool = True,
    limit: int = 5,
) -> dict[str, Any]:
    """Articles for what someone is typing: ``{"articles": [{id, title, url, excerpt, score}], "mode"}``,
    best first (``mode`` is ``none`` for fewer than 3 characters). The one implementation of "search,
    record, shape" behind the help-centre JSON (``api.py``), the chat widget (``/chat/help/suggest``),
    the portal form's HTML fragment (``helpcenter_views.suggest_fragment``) and the package's ``suggest``.

    A language other than English that finds nothing is searched again over every language. The
    excerpt is escaped HTML with ``<mark>``ed matches (``Markup``, so a template shows it as is; JSON
    gets the same string). ``customer=True`` (the default) returns public, published articles only,
    linked to the help centre; else the console's article pages. With a ``source`` (``portal``,
    ``widget``, ``helpcenter``: a customer typing), each article is counted ``shown`` for ``visit`` and
    the text is logged as the visit's latest question (``tracking.log_search(typing=True)``: one row
    per visit, not one per keystroke); without one nothing is recorded."""
    text = q.strip()
    if len(text) < 3:
        return {"articles": [], "mode": "none"}
    if source and not customer:
        raise ValueError("only what customers are shown is recorded")
    asked_at = utcnow()  # before searching: a slower, older request must not overwrite a newer one
    async with platform.db.read() as conn:
        slug = await workspace_slug(conn, workspace_id) or ""
        result = await with_fallback(conn, workspace_id, text, customer=customer, locale=locale, limit=limit)
    articles = [
        h.as_dict(article_url(slug, h) if customer else f"/kb/articles/{h.article_id}") for h in result.hits
    ]
    if source:
        shown = visit or secrets.token_hex(8)  # one list shown is one visit, whoever did not say which
        async with platform.db.transaction() as uow:
            await tracking.log_search(
                uow,
                workspace_id,
                text,
                locale=locale,
                source=source,
                results=len(articles),
                top_article_id=articles[0]["id"] if articles else None,
                visit=visit,
                typing=True,
                at=asked_at,
            )
            for a in articles:
                await tracking.record_event(uow, workspace_id, shown, "shown", source, a["id"])
    return {"articles": articles, "mode": result.mode}


async def answer(
    platform: Any, workspace_id: int, question: str, *, locale: str, visit: str, source: str
) -> dict[str, Any]:
    """The answer bot: ``{answer, article: {id, title, url}, confidence, handover: false}``, or
    ``{answer: null, article: null, confidence: 0, handover: true, reason}`` below the threshold
    (``low_confidence``) or when the customer asks for a person (``asked_for_human``)."""
    threshold = platform.settings.kb_bot_threshold
    async with platform.db.read() as conn:
        found = await bot.answer(conn, workspace_id, question, locale, threshold=threshold)
    async with platform.db.transaction() as uow:
        await tracking.log_search(
            uow,
            workspace_id,
            question,
            locale=locale,
            source="bot",
            results=1 if found else 0,
            top_article_id=found["article"]["id"] if found else None,
            visit=visit,  # the question ends the visit's typing: one row, not two
        )
        await tracking.record_event(
            uow,
            workspace_id,
            visit or secrets.token_hex(8),
            "bot_answered" if found else "handover",
            source,
            found["article"]["id"] if found else None,
        )
    if found is None:
        reason = "asked_for_human" if bot.wants_human(question) else "low_confidence"
        return {"answer": None, "article": None, "confidence": 0.0, "handover": True, "reason": reason}
    return {**found, "handover": False}


async def record(
    platform: Any, workspace_id: int, visit: str, kind: str, source: str, article_id: int | None
) -> None:
    async with platform.db.transaction() as uow:
        await tracking.record_event(uow, workspace_id, visit, kind, source, article_id)


async def handover_note(
    conn: AsyncConnection, workspace_id: int, base_url: str, bot_info: dict[str, Any]
) -> str:
    """What an agent reads on a chat the answer bot handed over: why, and the article it had cited,
    looked up here (public and published in this workspace, else left out), never taken from the
    visitor's own words."""
    reason = _HANDOVER_REASONS.get(str(bot_info.get("reason") or ""), "the visitor asked for a person")
    lines = [f"The answer bot talked to the visitor first and handed over: {reason}."]
    article_id = bot_info.get("article_id")
    locale = str(bot_info.get("locale") or "en")[:16]
    if isinstance(article_id, int) and not isinstance(article_id, bool) and 0 < article_id < 2**63:
        article = await queries.public_article(conn, workspace_id, article_id, locale)
        if article is None and locale != "en":
            article = await queries.public_article(conn, workspace_id, article_id, "en")
        if article is not None:
            slug = await workspace_slug(conn, workspace_id) or ""
            path = f"/help/{slug}/{article['locale']}/articles/{article_id}-{article['slug']}"
            url = base_url.rstrip("/") + path
            lines.append(f"It had suggested the article “{article['title']}”: {url}")
    return "\n".join(lines)
