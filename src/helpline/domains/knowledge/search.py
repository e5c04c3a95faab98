"""Article search: lexical (FTS5 / PostgreSQL full text) and semantic (sentence embeddings) fused.

- Lexical: the query's words (stop words dropped, at most 12) are OR-ed and ranked by BM25 on SQLite
  (title weighted 5:1) and by ``ts_rank`` on PostgreSQL, each translation indexed with its language's
  text-search configuration (``content.pg_config``). Words that are neither in the knowledge base nor
  English words are corrected to the nearest word it does contain (edit distance ≤ 2, most frequent
  first), and only when the corrected words find clearly better matches (:func:`clearly_better`).
- Semantic (``helpline[ai]``): each published translation's chunks are embedded; an article's score is
  its best chunk's cosine similarity to the query. Vectors are held in memory per workspace and
  reloaded when the workspace's published articles change (a cheap stamp query per search).
- Fused: ``semantic + LEX_WEIGHT * lexical / best lexical`` over the union of both candidate lists
  (0.12 on SQLite, 0.04 on PostgreSQL).

Only published versions are indexed; ``customer=True`` keeps internal articles out (``a.visibility``).
A result keeps its candidates, so :func:`narrow` can give a customer's ranking of a staff search (the
ticket page's suggested reply) without searching again.
Weights were chosen on a development split of BANKING77 (bench/kb_eval.py, docs/performance.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.domains.knowledge import content, embed, index, typo
from helpline.domains.knowledge.typo import Vocabulary

MAX_TERMS = 12
CANDIDATES = 40
#: Weight of the (normalised) lexical score in the fused one, per database: BM25 (SQLite) helps more
#: than PostgreSQL's ts_rank, which has no inverse document frequency. Chosen on the development split.
LEX_WEIGHT = {"sqlite": 0.12, "postgresql": 0.04}
#: Below this fused score a semantic-only hit is noise, not a result.
MIN_SEMANTIC = 0.35
#: With ``min_overlap``, an article sharing fewer words is still a hit from this similarity up.
STRONG_SEMANTIC = 0.55
#: With ``min_overlap`` and semantic search on, an article this far from the query in meaning is no
#: hit whatever words it shares ("Feature request: dark mode" and "Request a refund": 0.004).
SEMANTIC_FLOOR = 0.25

_STOP_WORDS = (
    "a an and are as at be been but by can could do does did for from had has have how i if in into is "
    "it its me my of on or our please so than that the their them then there these they this to too us "
    "was we were what when where which who why will with would you your yours hi hello thanks thank "
    # the rest of a common English stop-word list: words that say nothing about what an article is about
    "about above after again against all also am any because before being below between both during "
    "each few further here hers herself him himself his i'm just more most no nor not now off once only "
    "other ours ourselves out over own same she should some such theirs themselves those through under "
    "until up very while whom yourself yourselves he her ve ll re don't dont get got still since yet "
    "ago already always ever every never often sometimes today yesterday tomorrow"
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
            "excerpt": self.excerpt,  # Markup: escaped, with <mark>; JSON gets the same string
            "score": round(self.score, 4),
        }


@dataclass
class Candidate:
    """A translation one side of the search found: its raw lexical score (None: not found lexically),
    its semantic similarity (None: not found semantically), and who may read it in which language."""

    public: bool
    locale: str
    lexical: float | None = None
    semantic: float | None = None


@dataclass
class Result:
    hits: list[Hit]
    mode: str  # "fused", "lexical" or "semantic"
    corrected: str | None = None
    semantic_off: str | None = None
    words: list[str] = field(default_factory=list)
    #: Every candidate of the search (translation id → scores), so :func:`narrow` can rank a narrower
    #: view of the same search (a customer's, one language) without searching again.
    pool: dict[int, Candidate] = field(default_factory=dict, repr=False)
    dialect: str = ""


#: A correction must beat the words as typed by this factor (best lexical score) to be used.
BETTER = 1.5


def clearly_better(
    fixed: list[tuple[int, float, str, str]], typed: list[tuple[int, float, str, str]]
) -> bool:
    """Whether the corrected words' matches are clearly better than the typed words': they find
    something where the typed words find nothing, or their best match scores :data:`BETTER` times
    higher (it matches more of the words, or rarer ones)."""
    if not fixed:
        return False
    if not typed:
        return True
    return max(r[1] for r in fixed) >= BETTER * max(r[1] for r in typed)


def _rewrite(q: str, fixes: dict[str, str]) -> str:
    """``q`` as typed with each corrected word replaced (case-insensitive, whole words)."""
    fixes = {a: b for a, b in fixes.items() if a != b}
    if not fixes:
        return q
    pattern = re.compile(r"\b(" + "|".join(re.escape(w) for w in fixes) + r")\b", re.IGNORECASE)
    return " ".join(pattern.sub(lambda m: fixes[m.group(0).lower()], q[:500]).split())


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
    rows = await _lexical_rows(conn, workspace_id, terms, customer=customer, locale=locale, limit=limit)
    return {tid: score for tid, score, _, _ in rows}


async def _lexical_rows(
    conn: AsyncConnection,
    workspace_id: int,
    terms: list[str],
    *,
    customer: bool,
    locale: str | None,
    limit: int = CANDIDATES,
) -> list[tuple[int, float, str, str]]:
    """(translation id, lexical score, article visibility, locale) of the best ``limit`` matches."""
    if not terms:
        return []
    params: dict[str, Any] = {"ws": workspace_id, "locale": locale, "n": limit}
    if conn.dialect.name == "sqlite":
        params["q"] = " OR ".join(f'"{w}"' for w in terms)
        sql = (  # only fixed clauses are formatted in; every value is bound
            "SELECT f.rowid, bm25(kb_fts, 5.0, 1.0) AS r, a.visibility, t.locale FROM kb_fts f "  # noqa: S608
            "JOIN kb_translations t ON t.id = f.rowid JOIN kb_articles a ON a.id = t.article_id "
            f"WHERE kb_fts MATCH :q AND {_visible(customer, locale)} ORDER BY r LIMIT :n"
        )
        rows = (await conn.execute(sa.text(sql), params)).all()
        return [(int(r[0]), -float(r[1]), r[2], r[3]) for r in rows]
    params["q"] = " | ".join(terms)
    params["cfg"] = content.pg_config(locale or "en")
    # One language: its configuration as a constant, so the GIN index answers; all languages: each row's.
    tsq = "to_tsquery(CAST(:cfg AS regconfig), :q)" if locale else "to_tsquery(s.config, :q)"
    sql = (  # only fixed clauses are formatted in; every value is bound
        f"SELECT s.translation_id, ts_rank(s.doc, {tsq}) * 10 AS r, a.visibility, t.locale "  # noqa: S608
        "FROM kb_search s "
        "JOIN kb_translations t ON t.id = s.translation_id JOIN kb_articles a ON a.id = t.article_id "
        f"WHERE s.doc @@ {tsq} AND s.workspace_id = :ws AND {_visible(customer, locale)} "
        "ORDER BY r DESC LIMIT :n"
    )
    rows = (await conn.execute(sa.text(sql), params)).all()
    return [(int(r[0]), float(r[1]), r[2], r[3]) for r in rows]


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
    correct: bool = True,
    min_overlap: int = 0,
) -> Result:
    """Published articles for ``q``, best first. ``customer=True`` never returns an internal article.
    ``mode`` is ``fused`` (the default), ``lexical`` or ``semantic``; without the ``ai`` extra every
    mode runs lexically and ``Result.semantic_off`` says why.

    Typos: a word that is neither in the published articles nor an English word is replaced by the
    nearest word of the articles (``typo``), and the replacement is kept only when it finds clearly
    better results (:func:`clearly_better`); ``Result.corrected`` is then ``q`` with those words
    replaced. ``correct=False`` searches the words as typed ("search instead for …").

    ``min_overlap`` (the ticket page's suggestions, searching a whole message): an article must share
    a word of its title with the query, or that many distinct words of its text (stop words never
    count; fewer when the query has fewer), or be very close in meaning (:data:`STRONG_SEMANTIC`):
    one everyday word of its text in common is no match. With semantic search on, it must also not
    be far apart in meaning (:data:`SEMANTIC_FLOOR`)."""
    terms = query_words(q)
    why_off = embed.unavailable()
    use_lex = mode in ("fused", "lexical") or why_off is not None
    use_sem = mode in ("fused", "semantic") and why_off is None
    corpus = await index.corpus(conn, workspace_id, vectors=use_sem)
    vocab: Vocabulary = corpus.vocabulary
    lexical_rows = await _lexical_rows(conn, workspace_id, terms, customer=customer, locale=locale)
    corrected = None
    fixed = [w if typo.is_english(w) else vocab.correct(w) for w in terms] if correct else terms
    if fixed != terms:
        fixed_rows = await _lexical_rows(conn, workspace_id, fixed, customer=customer, locale=locale)
        if clearly_better(fixed_rows, lexical_rows):
            lexical_rows, corrected = fixed_rows, _rewrite(q, dict(zip(terms, fixed, strict=True)))
            terms = fixed
    pool: dict[int, Candidate] = {}
    if use_lex:
        for tid, score, visibility, loc in lexical_rows:
            pool[tid] = Candidate(visibility == "public", loc, lexical=score)
    if use_sem:
        for tid, (sim, public, loc) in corpus.semantic_scored(
            q, customer=customer, locale=locale, k=CANDIDATES
        ).items():
            pool.setdefault(tid, Candidate(public, loc)).semantic = sim
    used = "lexical" if not use_sem else ("semantic" if not use_lex else "fused")
    result = Result([], used, corrected, why_off, terms, pool, conn.dialect.name)
    result.hits = await _ranked_hits(
        conn, result, customer=customer, locale=locale, limit=limit, min_overlap=min_overlap
    )
    return result


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def overlap(hit: Hit, words: list[str]) -> int:
    """How many distinct ``words`` (stemmed crudely) the article's title and text contain."""
    have = {_stem(w) for w in content.words(f"{hit.title} {hit.text}")}
    return len({_stem(w) for w in words if w not in STOP} & have)


async def narrow(conn: AsyncConnection, wide: Result, *, locale: str | None = "en", limit: int = 3) -> Result:
    """What a customer's search would find, from a staff search over every language (``customer=False,
    locale=None``) already run: public articles in ``locale`` (in any language when there are none
    and ``locale`` is not English, as :func:`with_fallback` does), ranked the same way from the same
    candidates, without searching again. The hits are checked against the database again as in
    :func:`search`. Used where one page needs both (the ticket page: suggestions and the bot's reply)."""
    known = {h.translation_id: h for h in wide.hits}
    view = Result([], wide.mode, wide.corrected, wide.semantic_off, wide.words, wide.pool, wide.dialect)
    view.hits = await _ranked_hits(conn, view, customer=True, locale=locale, limit=limit, known=known)
    if not view.hits and falls_back(locale):
        view.hits = await _ranked_hits(conn, view, customer=True, locale=None, limit=limit, known=known)
    return view


def falls_back(locale: str | None) -> bool:
    """A customer search in this language that finds nothing is run again over every language."""
    return bool(locale) and locale != "en"


async def with_fallback(
    conn: AsyncConnection, workspace_id: int, q: str, *, customer: bool, locale: str | None, limit: int
) -> Result:
    """:func:`search`, and over every language when a language other than English finds nothing."""
    result = await search(conn, workspace_id, q, customer=customer, locale=locale, limit=limit)
    if not result.hits and falls_back(locale):
        result = await search(conn, workspace_id, q, customer=customer, locale=None, limit=limit)
    return result


def _rank(
    result: Result, *, customer: bool, locale: str | None, limit: int
) -> list[tuple[int, float, float, float]]:
    """(translation id, fused score, normalised lexical, semantic) of the best ``limit`` candidates a
    reader (a customer or not, one language or all) may see: ``semantic + LEX_WEIGHT * lexical / best
    lexical``, the best lexical score taken among those candidates only."""
    pool = {
        tid: c
        for tid, c in result.pool.items()
        if (c.public or not customer) and (not locale or c.locale == locale)
    }
    use_lex = result.mode in ("fused", "lexical")
    use_sem = result.mode in ("fused", "semantic")
    best_lex = max((c.lexical for c in pool.values() if c.lexical is not None), default=0.0) or 1.0
    weight = LEX_WEIGHT.get(result.dialect, 0.08)
    scores: list[tuple[int, float, float, float]] = []
    for tid, c in pool.items():
        lx = (c.lexical or 0.0) / best_lex
        sm = c.semantic or 0.0
        if use_sem and use_lex:
            total = sm + weight * lx
            if c.lexical is None and total < MIN_SEMANTIC:
                continue
        elif use_sem:
            total = sm
            if total < MIN_SEMANTIC:
                continue
        else:
            total = lx
        scores.append((tid, total, lx, sm))
    scores.sort(key=lambda s: (-s[1], s[0]))
    return scores[:limit]


async def _ranked_hits(
    conn: AsyncConnection,
    result: Result,
    *,
    customer: bool,
    locale: str | None,
    limit: int,
    known: dict[int, Hit] | None = None,
    min_overlap: int = 0,
) -> list[Hit]:
    """The hits of :func:`_rank`, read from the database (those in ``known`` were read by this search
    already: reused, for a customer only if public); with ``min_overlap``, only those sharing enough
    words with the query (see :func:`search`)."""
    ranked = _rank(result, customer=customer, locale=locale, limit=len(result.pool) if min_overlap else limit)
    wanted = {r[0] for r in ranked}
    known = known or {}
    hits = {
        tid: replace(h)
        for tid, h in known.items()
        if tid in wanted and (h.visibility == "public" or not customer)
    }
    missing = [tid for tid in wanted if tid not in known]
    hits.update(await _load_hits(conn, missing, customer=customer))
    out = []
    for tid, total, lx, sm in ranked:
        if (hit := hits.get(tid)) is None:
            continue
        hit.score, hit.lexical, hit.semantic = total, lx, sm
        if min_overlap and sm < STRONG_SEMANTIC:
            meaningful = [w for w in dict.fromkeys(result.words) if w not in STOP]
            in_title = overlap(replace(hit, text=""), meaningful)
            if in_title == 0 and overlap(hit, meaningful) < min(min_overlap, len(meaningful)):
                continue
            if result.mode == "fused" and sm < SEMANTIC_FLOOR:  # words in common, meaning apart
                continue
        hit.excerpt = content.excerpt(hit.text, result.words)
        out.append(hit)
        if len(out) == limit:
            break
    return out


def article_url(slug: str, hit: Hit) -> str:
    """The help-centre address of a hit (customers); staff links go to /kb/articles/{id}."""
    return f"/help/{slug}/{hit.locale}/articles/{hit.article_id}-{hit.slug}"
