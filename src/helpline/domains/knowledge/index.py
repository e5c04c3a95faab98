"""The search index of published article translations, and a per-process cache of what search needs
in memory (the vocabulary for typo correction and the sentence vectors), reloaded when a workspace's
published articles change.

``index_translations(uow, ids)`` is called by the service in the transaction that publishes or
unpublishes a translation or deletes an article, for those translations only: it rewrites the lexical
document (FTS5 row or ``kb_search`` tsvector) from the published version and, with the ``ai`` extra,
the chunk vectors. Nothing else is stored here (no visibility: search joins ``kb_articles``), so
saving a draft or changing an article's visibility, section or tags rewrites no row.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.domains.knowledge import content, embed
from helpline.domains.knowledge.typo import Vocabulary
from helpline.platform.db import UnitOfWork

_PUBLISHED = (
    "SELECT t.id, t.workspace_id, t.locale, v.title, v.description, v.body_text "
    "FROM kb_translations t JOIN kb_versions v ON v.id = t.published_version_id WHERE t.id IN :ids"
)


async def index_translations(uow: UnitOfWork, ids: list[int]) -> None:
    """Rebuild the search rows of translations ``ids`` (unpublished ones are removed)."""
    if not ids:
        return
    ids = sorted(set(ids))
    expanding: sa.BindParameter[Any] = sa.bindparam("ids", expanding=True)
    rows = (await uow.execute(sa.text(_PUBLISHED).bindparams(expanding), {"ids": ids})).all()
    if uow.dialect == "sqlite":
        await uow.execute(
            sa.text("DELETE FROM kb_fts WHERE rowid IN :ids").bindparams(expanding), {"ids": ids}
        )
        if rows:
            await uow.execute(
                sa.text("INSERT INTO kb_fts (rowid, title, body) VALUES (:id, :title, :body)"),
                [{"id": r[0], "title": r[3], "body": f"{r[4]}\n{r[5]}"} for r in rows],
            )
    else:
        await uow.execute(
            sa.text("DELETE FROM kb_search WHERE translation_id IN :ids").bindparams(expanding), {"ids": ids}
        )
        if rows:
            await uow.execute(
                sa.text(
                    "INSERT INTO kb_search (translation_id, workspace_id, config, doc) VALUES "
                    "(:id, :ws, CAST(:cfg AS regconfig), "
                    "setweight(to_tsvector(CAST(:cfg AS regconfig), :title), 'A') || "
                    "setweight(to_tsvector(CAST(:cfg AS regconfig), left(:body, 500000)), 'D'))"
                ),
                [
                    {
                        "id": r[0],
                        "ws": r[1],
                        "cfg": content.pg_config(r[2]),
                        "title": r[3],
                        "body": f"{r[4]}\n{r[5]}",
                    }
                    for r in rows
                ],
            )
    await uow.execute(
        sa.text("DELETE FROM kb_embeddings WHERE translation_id IN :ids").bindparams(expanding), {"ids": ids}
    )
    if rows and embed.unavailable() is None:
        pieces = [(r[0], i, c) for r in rows for i, c in enumerate(content.chunks(r[3], f"{r[4]}\n{r[5]}"))]
        vectors = embed.encode([p[2] for p in pieces])
        await uow.execute(
            sa.text(
                "INSERT INTO kb_embeddings (translation_id, chunk, model, vector) VALUES (:t, :c, :m, :v)"
            ),
            [
                {"t": p[0], "c": p[1], "m": embed.MODEL, "v": vectors[n].tobytes()}
                for n, p in enumerate(pieces)
            ],
        )


@dataclass
class Corpus:
    """What search keeps in memory for one workspace."""

    stamp: tuple[Any, ...]
    vocabulary: Vocabulary
    checked: float = field(default_factory=time.monotonic)
    has_vectors: bool = False
    matrix: Any = None  # (chunks, 384) float32
    starts: Any = None  # first chunk row of each translation
    tids: Any = None  # translation id per translation row
    public: Any = None  # bool per translation row
    locales: Any = None  # locale per translation row

    def semantic(self, q: str, *, customer: bool, locale: str | None, k: int) -> dict[int, float]:
        """translation id → best chunk's cosine similarity to ``q``, the ``k`` best."""
        return {t: s[0] for t, s in self.semantic_scored(q, customer=customer, locale=locale, k=k).items()}

    def semantic_scored(
        self, q: str, *, customer: bool, locale: str | None, k: int
    ) -> dict[int, tuple[float, bool, str]]:
        """translation id → (best chunk's cosine similarity to ``q``, public, locale), the ``k`` best."""
        import numpy as np

        if self.matrix is None or not len(self.tids):
            return {}
        v = embed.encode([q])[0]
        per = np.maximum.reduceat(self.matrix @ v, self.starts)
        if customer:
            per = np.where(self.public, per, -1.0)
        if locale:
            per = np.where(self.locales == locale, per, -1.0)
        k = min(k, len(per))
        top = np.argpartition(-per, k - 1)[:k]
        return {
            int(self.tids[i]): (float(per[i]), bool(self.public[i]), str(self.locales[i]))
            for i in top
            if per[i] > -1.0
        }


_cache: dict[tuple[str, int], Corpus] = {}
_cache_lock = threading.Lock()
#: How long a workspace's cached corpus is used without asking the database whether it changed. Safe:
#: every hit is re-read from the database with the visibility rules (``search._load_hits``); a new or
#: changed article may only be missing from typo correction and semantic matches for this long.
FRESH_SECONDS = 1.0


async def _stamp(conn: AsyncConnection, workspace_id: int) -> tuple[Any, ...]:
    row = (
        await conn.execute(
            sa.text(
                "SELECT count(t.published_version_id), max(t.updated_at), max(a.updated_at) "
                "FROM kb_translations t JOIN kb_articles a ON a.id = t.article_id WHERE t.workspace_id = :ws"
            ),
            {"ws": workspace_id},
        )
    ).one()
    return tuple(str(x) for x in row)


async def corpus(conn: AsyncConnection, workspace_id: int, *, vectors: bool = True) -> Corpus:
    key = (conn.engine.url.render_as_string(hide_password=True), workspace_id)
    found = _cache.get(key)
    usable = found is not None and (found.has_vectors or not vectors)
    if usable and found is not None and time.monotonic() - found.checked < FRESH_SECONDS:
        return found
    stamp = await _stamp(conn, workspace_id)
    if usable and found is not None and found.stamp == stamp:
        found.checked = time.monotonic()
        return found
    rows = (
        await conn.execute(
            sa.text(
                "SELECT v.title, v.body_text FROM kb_translations t "
                "JOIN kb_articles a ON a.id = t.article_id "
                "JOIN kb_versions v ON v.id = t.published_version_id "
                "WHERE t.workspace_id = :ws AND a.visibility = 'public'"
            ),
            {"ws": workspace_id},
        )
    ).all()
    counts: Counter[str] = Counter()
    for title, body in rows:
        counts.update(w for w in content.words(f"{title} {body}") if w.isalpha())
    made = Corpus(stamp, Vocabulary(counts))
    if vectors and embed.unavailable() is None:
        await _load_vectors(conn, workspace_id, made)
    with _cache_lock:
        _cache[key] = made
    return made


async def _load_vectors(conn: AsyncConnection, workspace_id: int, into: Corpus) -> None:
    import numpy as np

    rows = (
        await conn.execute(
            sa.text(
                "SELECT e.translation_id, e.vector, a.visibility, t.locale FROM kb_embeddings e "
                "JOIN kb_translations t ON t.id = e.translation_id JOIN kb_articles a ON a.id = t.article_id "
                "WHERE t.workspace_id = :ws AND t.published_version_id IS NOT NULL AND e.model = :m "
                "ORDER BY e.translation_id, e.chunk"
            ),
            {"ws": workspace_id, "m": embed.MODEL},
        )
    ).all()
    into.has_vectors = True
    if not rows:
        return
    into.matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), embed.DIM)
    tids = np.array([r[0] for r in rows], dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, tids[1:] != tids[:-1]])
    into.starts, into.tids = starts, tids[starts]
    into.public = np.array([rows[int(i)][2] == "public" for i in starts], dtype=bool)
    into.locales = np.array([rows[int(i)][3] for i in starts], dtype=object)
