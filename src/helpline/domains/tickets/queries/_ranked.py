"""Tickets by relevance: the console's global search (``/search``) and ``GET /api/v1/search``.

The newest :data:`CANDIDATES` tickets the actor may open that match every word (the same statement,
scope and filters as the ticket list, ``list_tickets``; ids and subjects only) are ranked, then one
page of them is read and shown with a highlighted snippet. Ranking a bounded set keeps a word found
in most tickets as cheap as a rare one (ADR 0004); the total is exact up to the cap, "1,000+" beyond.

Score: ``2 * (share of the query's words in the subject) + body rank``, the body rank being PostgreSQL's
``ts_rank_cd(doc_all, query, 32)`` or FTS5's ``bm25`` squashed into 0..1 the same way (``r / (r + 1)``),
so a subject match always outranks a body-only one, and ties go to the newer ticket.
Snippets come from the database (``ts_headline`` / FTS5 ``snippet()``) with private-use characters
as highlight markers; :func:`marked` escapes the text first and only then turns the markers into
``<mark>``, so a snippet can never carry markup of its own.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.domains.accounts.principal import Principal
from helpline.domains.tickets.queries._listing import matching_subjects
from helpline.domains.tickets.queries._tables import tickets
from helpline.domains.tickets.queries._visibility import visible
from helpline.platform import search

#: How many of the newest matches are ranked; also the cap of the total ("1,000+").
CANDIDATES = 1000
_START, _STOP = "\ue000", "\ue001"
_MARKED = re.compile(f"{_START}([^{_START}{_STOP}]*){_STOP}")
_SUFFIXES = ("ing", "ed", "es", "s")


@dataclass
class RankedPage:
    rows: list[dict[str, Any]]  # ticket rows, each with ``score`` and ``snippet`` (Markup)
    total: int
    capped: bool  # True: more than ``total`` tickets match (the total is a floor)
    page: int
    per_page: int
    words: list[str] = field(default_factory=list)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def marked(text: str) -> Markup:
    """``text`` (with highlight markers) as HTML: everything escaped, then each marked run in <mark>.
    Unpaired markers are dropped."""
    out, last = [], 0
    for m in _MARKED.finditer(text):
        out.append(html.escape(text[last : m.start()]))
        out.append("<mark>" + html.escape(m.group(1)) + "</mark>")
        last = m.end()
    out.append(html.escape(text[last:]))
    return Markup("".join(out).replace(_START, "").replace(_STOP, ""))  # noqa: S704 (escaped above)


def _stem(word: str) -> str:
    w = word.lower()
    for suffix in _SUFFIXES:
        if len(w) > len(suffix) + 3 and w.endswith(suffix):
            return w[: -len(suffix)]
    return w


def subject_share(subject: str, words: list[str]) -> float:
    """The share of ``words`` (query words) that appear in ``subject``, comparing crude stems."""
    return _SubjectMatcher(words)(subject)


class _SubjectMatcher:
    """:func:`subject_share` for one query over many subjects: one regular expression pass each."""

    def __init__(self, words: list[str]) -> None:
        self.stems = [_stem(w) for w in words]
        alternatives = "|".join(re.escape(s) for s in sorted(set(self.stems), key=len, reverse=True))
        self.pattern = re.compile(rf"\b({alternatives})(?:s|es|ed|ing)?\b", re.IGNORECASE) if words else None

    def __call__(self, subject: str) -> float:
        if self.pattern is None or not subject:
            return 0.0
        found = {m.lower() for m in self.pattern.findall(subject)}
        return sum(1 for s in self.stems if s in found) / len(self.stems)


async def _body_ranks(conn: AsyncConnection, dialect: str, q: str, ids: list[int]) -> dict[int, float]:
    if not ids:
        return {}
    if dialect == "sqlite":
        params = search.query_params(dialect, q, public_only=False) or {}
        lo, hi = min(ids), max(ids)
        rows = await conn.execute(
            sa.text(
                "SELECT rowid, -bm25(ticket_fts) FROM ticket_fts "
                "WHERE ticket_fts MATCH :fts_q AND rowid BETWEEN :lo AND :hi"
            ),
            {**params, "lo": lo, "hi": hi},
        )
        wanted = set(ids)
        raw = {int(r[0]): max(float(r[1]), 0.0) for r in rows if int(r[0]) in wanted}
        return {i: r / (r + 1.0) for i, r in raw.items()}
    rows = await conn.execute(
        sa.text(
            "SELECT ticket_id, ts_rank_cd(doc_all, plainto_tsquery('english', :pg_q), 32) "
            "FROM ticket_search WHERE ticket_id = ANY(:ids)"
        ),
        {"pg_q": " ".join(search.terms(q)), "ids": ids},
    )
    return {int(r[0]): float(r[1]) for r in rows}


_PG_SNIPPETS = """
SELECT t.id, ts_headline('english', coalesce(m.body_text, t.subject), plainto_tsquery('english', :pg_q),
       'StartSel=' || chr(57344) || ', StopSel=' || chr(57345)
       || ', MaxWords=28, MinWords=12, MaxFragments=2, FragmentDelimiter=" … "')
FROM tickets t
LEFT JOIN LATERAL (
    SELECT left(body_text, 20000) AS body_text FROM messages
    WHERE ticket_id = t.id
      AND to_tsvector('english', left(body_text, 20000)) @@ plainto_tsquery('english', :pg_q)
    ORDER BY id LIMIT 1
) m ON true
WHERE t.id = ANY(:ids)
"""


async def _snippets(conn: AsyncConnection, dialect: str, q: str, ids: list[int]) -> dict[int, str]:
    """Each ticket's best passage with the query's words between the markers (raw text, not HTML)."""
    if not ids:
        return {}
    if dialect == "sqlite":
        params = search.query_params(dialect, q, public_only=False) or {}
        placeholders = ",".join(str(int(i)) for i in ids)  # ints only, formatted by int()
        rows = await conn.execute(
            sa.text(
                "SELECT rowid, snippet(ticket_fts, -1, :a, :b, ' … ', 24) FROM ticket_fts "  # noqa: S608
                f"WHERE ticket_fts MATCH :fts_q AND rowid IN ({placeholders})"
            ),
            {**params, "a": _START, "b": _STOP},
        )
        return {int(r[0]): str(r[1] or "") for r in rows}
    rows = await conn.execute(sa.text(_PG_SNIPPETS), {"pg_q": " ".join(search.terms(q)), "ids": ids})
    return {int(r[0]): str(r[1] or "") for r in rows}


async def ranked_tickets(
    conn: AsyncConnection,
    actor: Principal,
    *,
    dialect: str,
    q: str,
    filters: dict[str, Any],
    page: int = 1,
    per_page: int = 25,
) -> RankedPage:
    """One page of the tickets ``actor`` may open that match every word of ``q`` (and ``filters``,
    as ``list_tickets`` takes them), best first, each with ``score`` and ``snippet``."""
    words = search.terms(q)
    page = max(1, page)
    if not words:
        return RankedPage([], 0, False, page, per_page)
    found = await matching_subjects(conn, actor, dialect=dialect, filters=filters, q=q, limit=CANDIDATES + 1)
    more = len(found) > CANDIDATES
    found = found[:CANDIDATES]
    ranks = await _body_ranks(conn, dialect, q, [i for i, _ in found])
    share = _SubjectMatcher(words)
    scored = sorted(
        ((2.0 * share(subject) + ranks.get(i, 0.0), i) for i, subject in found),
        key=lambda s: (-s[0], -s[1]),
    )
    shown = scored[(page - 1) * per_page : page * per_page]
    ids = [i for _, i in shown]
    rows = {
        r["id"]: dict(r)
        for r in (
            await conn.execute(sa.select(tickets).where(tickets.c.id.in_(ids), visible(actor)))
        ).mappings()
    }
    snippets = await _snippets(conn, dialect, q, ids)
    out = []
    for score, i in shown:
        if (row := rows.get(i)) is not None:
            out.append(row | {"score": score, "snippet": marked(snippets.get(i, ""))})
    return RankedPage(out, len(found), more, page, per_page, words)
