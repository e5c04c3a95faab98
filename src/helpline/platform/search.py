"""Full-text search over tickets: SQLite FTS5 embedded, PostgreSQL tsvector + GIN distributed.

Each ticket has one search document: its subject and public messages (what a customer may search),
and its internal notes (only staff search those). Documents are rebuilt by the ``search.index`` job
after a change commits. Matches come back newest first, which keeps a common word as cheap as a rare
one (see ADR 0004).
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa

from helpline.platform.db import UnitOfWork

_WORD = re.compile(r"\w+", re.UNICODE)

#: Words in a query beyond this are ignored: a pasted essay must not become a thousand-term query.
MAX_TERMS = 12


def terms(q: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(q)][:MAX_TERMS]


def fts5_query(words: list[str], public_only: bool) -> str:
    """An FTS5 MATCH expression for all of ``words`` (each quoted: no operator syntax gets through)."""
    phrase = " ".join(f'"{w}"' for w in words)
    return f"public_text : ({phrase})" if public_only else phrase


def matching_ids(
    dialect: str, q: str, *, public_only: bool, label: str | None = None
) -> sa.Select[Any] | None:
    """A SELECT of ticket ids whose document matches every word of ``q``; None when ``q`` has no word.

    ``label`` names the id column (``rowid`` / ``ticket_id`` otherwise). How to combine it with
    ordering and filters so that both rare and common words stay fast is the caller's business
    (see ``tickets.queries.list_tickets``).
    """
    words = terms(q)
    if not words:
        return None
    if dialect == "sqlite":
        col: sa.ColumnClause[Any] = sa.literal_column("rowid")
        return (
            sa.select(col.label(label) if label else col)
            .select_from(sa.text("ticket_fts"))
            .where(sa.text("ticket_fts MATCH :fts_q").bindparams(fts_q=fts5_query(words, public_only)))
        )
    column = "doc_public" if public_only else "doc_all"
    col = sa.literal_column("ticket_id")
    return (
        sa.select(col.label(label) if label else col)
        .select_from(sa.text("ticket_search"))
        .where(sa.text(f"{column} @@ plainto_tsquery('english', :pg_q)").bindparams(pg_q=" ".join(words)))
    )


def matching_ids_template(dialect: str, *, public_only: bool, label: str | None = None) -> sa.Select[Any]:
    """:func:`matching_ids` with the query left as a bound parameter (``:fts_q`` / ``:pg_q``, from
    :func:`query_params`), for statements built once and run many times."""
    if dialect == "sqlite":
        col: sa.ColumnClause[Any] = sa.literal_column("rowid")
        return (
            sa.select(col.label(label) if label else col)
            .select_from(sa.text("ticket_fts"))
            .where(sa.text("ticket_fts MATCH :fts_q"))
        )
    column = "doc_public" if public_only else "doc_all"
    col = sa.literal_column("ticket_id")
    return (
        sa.select(col.label(label) if label else col)
        .select_from(sa.text("ticket_search"))
        .where(sa.text(f"{column} @@ plainto_tsquery('english', :pg_q)"))
    )


def query_params(dialect: str, q: str, *, public_only: bool) -> dict[str, str] | None:
    """The parameters of :func:`matching_ids_template` for ``q``; None when ``q`` has no word."""
    words = terms(q)
    if not words:
        return None
    if dialect == "sqlite":
        return {"fts_q": fts5_query(words, public_only)}
    return {"pg_q": " ".join(words)}


_SQLITE_DOCS = """
SELECT t.id,
       t.subject || ' ' || coalesce(group_concat(CASE WHEN m.public THEN m.body_text END, ' '), ''),
       coalesce(group_concat(CASE WHEN NOT m.public THEN m.body_text END, ' '), '')
FROM tickets t LEFT JOIN messages m ON m.ticket_id = t.id
WHERE t.id IN ({ids})
GROUP BY t.id, t.subject
"""

_PG_UPSERT = """
INSERT INTO ticket_search (ticket_id, workspace_id, doc_public, doc_all)
SELECT t.id, t.workspace_id,
       to_tsvector('english', left(t.subject || ' ' || coalesce(
                                       string_agg(m.body_text, ' ' ORDER BY m.id) FILTER (WHERE m.public), ''
                                   ), 500000)),
       to_tsvector('english', left(t.subject || ' ' || coalesce(
                                       string_agg(m.body_text, ' ' ORDER BY m.id), ''
                                   ), 500000))
FROM tickets t LEFT JOIN messages m ON m.ticket_id = t.id
WHERE t.id = ANY(:ids)
GROUP BY t.id
ON CONFLICT (ticket_id) DO UPDATE
SET workspace_id = excluded.workspace_id, doc_public = excluded.doc_public, doc_all = excluded.doc_all
"""


async def index_tickets(uow: UnitOfWork, ids: list[int]) -> None:
    """Rebuild the search documents of ``ids`` (tickets that no longer exist are dropped)."""
    if not ids:
        return
    ids = sorted(set(ids))
    if uow.dialect == "sqlite":
        placeholders = ",".join(str(int(i)) for i in ids)
        rows = (await uow.execute(sa.text(_SQLITE_DOCS.format(ids=placeholders)))).all()
        # ``placeholders`` holds only ints (formatted by int() above), never caller text.
        delete = f"DELETE FROM ticket_fts WHERE rowid IN ({placeholders})"  # noqa: S608
        await uow.execute(sa.text(delete))
        if rows:
            await uow.execute(
                sa.text(
                    "INSERT INTO ticket_fts (rowid, public_text, private_text) VALUES (:id, :pub, :priv)"
                ),
                [{"id": r[0], "pub": r[1], "priv": r[2]} for r in rows],
            )
    else:
        await uow.execute(sa.text("DELETE FROM ticket_search WHERE ticket_id = ANY(:ids)"), {"ids": ids})
        await uow.execute(sa.text(_PG_UPSERT), {"ids": ids})
