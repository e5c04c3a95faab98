"""Article search: lexical (FTS5 / PostgreSQL full text) and semantic (sentence embeddings) fused.

- Lexical: the query's words (stop words dropped, at most 12) are OR-ed and ranked by BM25 on SQLite
  (title weighted 5:1) and by ``ts_rank`` on PostgreSQL, each translation indexed with its language's
  text-search configuration (``content.pg_config``). Words the knowledge base does not contain are
  corrected to the nearest word it does contain (edit distance ≤ 2, most frequent first).
- Semantic (``helpline[ai]``): each published translation's chunks are embedded; an article's score is
  its best chunk's cosine similarity to the query. Vectors are held in memory per workspace and
  reloaded when the workspace's published articles change (a cheap stamp query per search).
- Fused: ``semantic + LEX_WEIGHT * lexical / best lexical`` over the union of both candidate lists
  (0.12 on SQLite, 0.04 on PostgreSQL).

Only published versions are indexed; ``customer=True`` keeps internal articles out (``a.visibility``).
Weights were chosen on a development split of BANKING77 (bench/kb_eval.py, docs/performance.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.domains.knowledge import content, embed, index
from helpline.domains.knowledge.typo import Vocabulary
from helpline.domains.portal.queries import workspace_slug

MAX_TERMS = 12
CANDIDATES = 40
#: Weight of the (normalised) lexical score in the fused one, per database: BM25 (SQLite) helps more
#: than PostgreSQL's ts_rank, which has no inverse document frequency. Chosen on the development split.
LEX_WEIGHT = {"sqlite": 0.12, "postgresql": 0.04}
#: Below this fused score a semantic-only hit is noise, not a result.
MIN_SEMANTIC = 0.35

_STOP_WORDS = (
    "a an and are as at be been but by can could do does did for from had has have how i if in into is "
    "it its me my of on or our please so than that the their them then there these they this to too us "
    "was we were what when where which who why will with would you your yours hi hello thanks thank"
)
STOP = frozenset(_STOP_WORDS.split())
_SAFE_WORD = re.compile(r"^\w+$", re.UNICODE)


@dataclass
class Hit:
    article_id: int
    translation_id: int
    locale: str
    title: str
    slug: str
    visibility: str
    text: str
    score: float = 0.0
    lexical: float = 0.0
    semantic: float = 0.0
    excerpt: str = ""

    def as_dict(self, url: str) -> dict[str, Any]:
        return {
            "id": self.article_id,
            "title": self.title,
            "url": url,
            "excerpt": str(self.excerpt),
            "score": round(self.score, 4),
        }


@dataclass
class Result:
    hits: list[Hit]
    mode: str  # "fused", "lexical" or "semantic"
    corrected: str | None = None
    semantic_off: str | None = None
    words: list[str] = field(default_factory=list)


def query_words(q: str) -> list[str]:
    ws = [w for w in content.words(q[:500]) if w not in STOP and _SAFE_WORD.match(w)]
    return list(dict.fromkeys(ws))[:MAX_TERMS] or [w for w in content.words(q[:500])][:MAX_TERMS]


def _visible(customer: bool, locale: str | None) -> str:
    where = "t.workspace_id = :ws AND t.published_version_id IS NOT NULL"
    if customer:
        where += " AND a.visibility = 'public'"
    if locale:
        where += " AND t.locale = :locale"
    return where


async def lexical(
    conn: AsyncConnection,
    workspace_id: int,
    terms: list[str],
    *,
    customer: bool,
    locale: str | None,
    limit: int = CANDIDATES,
) -> dict[int, float]:
    """translation id → lexical score (higher is better) for translations matching any of ``terms``."""
    if not terms:
        return {}
    params: dict[str, Any] = {"ws": workspace_id, "locale": locale, "n": limit}
    if conn.dialect.name == "sqlite":
        params["q"] = " OR ".join(f'"{w}"' for w in terms)
        sql = (  # only fixed clauses are formatted in; every value is bound
            "SELECT f.rowid, bm25(kb_fts, 5.0, 1.0) AS r FROM kb_fts f "  # noqa: S608
            "JOIN kb_translations t ON t.id = f.rowid JOIN kb_articles a ON a.id = t.article_id "
            f"WHERE kb_fts MATCH :q AND {_visible(customer, locale)} ORDER BY r LIMIT :n"
        )
        rows = (await conn.execute(sa.text(sql), params)).all()
        return {int(r[0]): -float(r[1]) for r in rows}
    params["q"] = " | ".join(terms)
    params["cfg"] = content.pg_config(locale or "en")
    # One language: its configuration as a constant, so the GIN index answers; all languages: each row's.
    tsq = "to_tsquery(CAST(:cfg AS regconfig), :q)" if locale else "to_tsquery(s.config, :q)"
    sql = (  # only fixed clauses are formatted in; every value is bound
        f"SELECT s.translation_id, ts_rank(s.doc, {tsq}) * 10 AS r FROM kb_search s "  # noqa: S608
        "JOIN kb_translations t ON t.id = s.translation_id JOIN kb_articles a ON a.id = t.article_id "
        f"WHERE s.doc @@ {tsq} AND s.workspace_id = :ws AND {_visible(customer, locale)} "
        "ORDER BY r DESC LIMIT :n"
    )
    rows = (await conn.execute(sa.text(sql), params)).all()
    return {int(r[0]): float(r[1]) for r in rows}


async def _load_hits(conn: AsyncConnection, ids: list[int], *, customer: bool) -> dict[int, Hit]:
    """The published text of ``ids``; for a customer, public articles only (checked again here, so a
    vector cache a moment out of date can never surface an article that has just become internal)."""
    if not ids:
        return {}
    rows = (
        await conn.execute(
            sa.text(
                "SELECT t.id, t.article_id, t.locale, v.title, t.slug, a.visibility, v.body_text "
                "FROM kb_translations t JOIN kb_articles a ON a.id = t.article_id "
                "JOIN kb_versions v ON v.id = t.published_version_id WHERE t.id IN :ids"
                + (" AND a.visibility = 'public'" if customer else "")
            ).bindparams(sa.bindparam("ids", expanding=True)),
            {"ids": ids},
        )
    ).all()
    return {int(r[0]): Hit(int(r[1]), int(r[0]), r[2], r[3], r[4], r[5], r[6] or "") for r in rows}


async def search(
    conn: AsyncConnection,
    workspace_id: int,
    q: str,
    *,
    customer: bool = True,
    locale: str | None = "en",
    limit: int = 10,
    mode: str = "fused",
) -> Result:
    """Published articles for ``q``, best first. ``customer=True`` never returns an internal article.
    ``mode`` is ``fused`` (the default), ``lexical`` or ``semantic``; without the ``ai`` extra every
    mode runs lexically and ``Result.semantic_off`` says why."""
    terms = query_words(q)
    why_off = embed.unavailable()
    if mode != "lexical" and why_off is None:
        corpus = await index.corpus(conn, workspace_id)
    elif mode == "lexical" or why_off is not None:
        corpus = await index.corpus(conn, workspace_id, vectors=False)
    vocab: Vocabulary = corpus.vocabulary
    fixed = [vocab.correct(w) for w in terms]
    corrected = " ".join(fixed) if fixed != terms else None
    lex_terms = list(dict.fromkeys(terms + [w for w in fixed if w not in terms]))
    use_lex = mode in ("fused", "lexical") or why_off is not None
    use_sem = mode in ("fused", "semantic") and why_off is None
    lex = await lexical(conn, workspace_id, lex_terms, customer=customer, locale=locale) if use_lex else {}
    sem = corpus.semantic(q, customer=customer, locale=locale, k=CANDIDATES) if use_sem else {}
    best_lex = max(lex.values(), default=0.0) or 1.0
    scores: dict[int, tuple[float, float, float]] = {}
    for tid in set(lex) | set(sem):
        lx = lex.get(tid, 0.0) / best_lex
        sm = sem.get(tid, 0.0)
        if use_sem and use_lex:
            total = sm + LEX_WEIGHT.get(conn.dialect.name, 0.08) * lx
            if tid not in lex and total < MIN_SEMANTIC:
                continue
        elif use_sem:
            total = sm
            if total < MIN_SEMANTIC:
                continue
        else:
            total = lx
        scores[tid] = (total, lx, sm)
    ranked = sorted(scores, key=lambda t: scores[t][0], reverse=True)[:limit]
    hits = await _load_hits(conn, ranked, customer=customer)
    out = []
    for tid in ranked:
        if (hit := hits.get(tid)) is None:
            continue
        hit.score, hit.lexical, hit.semantic = scores[tid]
        hit.excerpt = content.excerpt(hit.text, fixed or terms)
        out.append(hit)
    used = "lexical" if not use_sem else ("semantic" if not use_lex else "fused")
    return Result(out, used, corrected, why_off, fixed)


def article_url(slug: str, hit: Hit) -> str:
    """The help-centre address of a hit (customers); staff links go to /kb/articles/{id}."""
    return f"/help/{slug}/{hit.locale}/articles/{hit.article_id}-{hit.slug}"


async def suggest(
    conn: AsyncConnection,
    workspace_id: int,
    text: str,
    locale: str = "en",
    *,
    customer: bool = True,
    limit: int = 5,
) -> list[dict[str, Any]]:
    """Articles for what a customer is typing (portal form, chat widget) or for a ticket (agents):
    ``[{id, title, url, excerpt, score}]``, best first, excerpt as HTML with ``<mark>``ed matches
    (escaped). ``customer=True`` (the default) returns public, published articles only; the url is
    then the help-centre page, else the console's article page. Nothing is logged here: callers
    record deflection steps with ``service.record_event``."""
    text = text.strip()
    if len(text) < 3:
        return []
    ws_slug = await workspace_slug(conn, workspace_id)
    result = await search(conn, workspace_id, text, customer=customer, locale=locale, limit=limit)
    if not result.hits and locale and locale != "en":
        result = await search(conn, workspace_id, text, customer=customer, locale=None, limit=limit)
    return [
        h.as_dict(article_url(ws_slug or "", h) if customer else f"/kb/articles/{h.article_id}")
        for h in result.hits
    ]
