"""The answer bot: answers a customer's question from the public knowledge base, citing the article,
or says nothing (``None``) when it is not confident enough, so a human takes over.

Confidence is the fused search score of the best article (semantic similarity plus a lexical bonus),
capped at 1; without the ``ai`` extra it is the share of the question's words the best article
contains, scaled by how far that article leads the next one. ``THRESHOLD`` (setting
``HELPLINE_KB_BOT_THRESHOLD``) was chosen on BANKING77 for about 95 % precision: 0.9 on SQLite (84 %
coverage), 0.85 on PostgreSQL (78 %), 0.65 lexical only (46 %) (docs/performance.md).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.domains.knowledge import content
from helpline.domains.knowledge.search import Result, article_url, with_fallback
from helpline.domains.portal.queries import workspace_slug

#: Per database, as the fused score mixes in less of PostgreSQL's lexical rank (search.LEX_WEIGHT).
THRESHOLD = {"sqlite": 0.9, "postgresql": 0.85}
LEXICAL_THRESHOLD = 0.65
_HUMAN = re.compile(
    r"\b(human|person|agent|operator|representative|someone real|real person|talk to (?:someone|somebody)|"
    r"speak to (?:someone|somebody)|staff|support team|mensch|humain|persona|humano)\b",
    re.IGNORECASE,
)


def wants_human(text: str) -> bool:
    """The customer asks for a person: the widget hands over at once, whatever the bot could say."""
    return bool(_HUMAN.search(text))


def confidence(result: Result) -> float:
    if not result.hits:
        return 0.0
    top = result.hits[0]
    if result.mode != "lexical":
        return min(1.0, top.score)
    mine = set(content.words(f"{top.title} {top.text}"))
    stems = {w[:5] for w in mine}
    asked = result.words
    covered = sum(1 for w in asked if w in mine or w[:5] in stems) / max(len(asked), 1)
    second = result.hits[1].lexical if len(result.hits) > 1 else 0.0
    lead = 1.0 - second / top.lexical if top.lexical else 0.0
    return round(covered * (0.6 + 0.4 * lead), 4)


def _best_passage(text: str, words: list[str], limit: int = 400) -> str:
    """The paragraph of the article that shares most words with the question (its first otherwise)."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n|\n(?=[-*] )", text) if p.strip()]
    if not paragraphs:
        return ""
    asked = {w[:5] for w in words}
    best = max(
        paragraphs, key=lambda p: (sum(1 for w in content.words(p) if w[:5] in asked), -paragraphs.index(p))
    )
    return best if len(best) <= limit else best[:limit].rsplit(" ", 1)[0] + " …"


async def answer(
    conn: AsyncConnection,
    workspace_id: int,
    text: str,
    locale: str = "en",
    *,
    threshold: float | None = None,
    found: Result | None = None,
) -> dict[str, Any] | None:
    """``{answer, article: {id, title, url}, confidence}`` from the public, published articles, or
    ``None`` below the threshold, for a question asking for a person, or for an empty question.
    ``found``: a customer's search for ``text`` the caller already ran (``search.narrow`` of the one
    search a ticket page runs); searched here (``search.with_fallback``) when not given."""
    text = text.strip()
    if len(text) < 3 or wants_human(text):
        return None
    result = found
    if result is None:
        result = await with_fallback(conn, workspace_id, text, customer=True, locale=locale, limit=3)
    conf = confidence(result)
    if threshold is not None:
        limit = threshold
    elif result.mode == "lexical":
        limit = LEXICAL_THRESHOLD
    else:
        limit = THRESHOLD.get(conn.dialect.name, 0.9)
    if not result.hits or conf < limit:
        return None
    top = result.hits[0]
    if top.visibility != "public":  # a staff search handed in by mistake never reaches a customer
        return None
    slug = await workspace_slug(conn, workspace_id)
    return {
        "answer": _best_passage(top.text, result.words),
        "article": {"id": top.article_id, "title": top.title, "url": article_url(slug or "", top)},
        "confidence": round(conf, 4),
    }
