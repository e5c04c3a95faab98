"""One ticket with its tags, followers, CCs and links, read in one statement."""

from __future__ import annotations

from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.domains.accounts.principal import Principal
from helpline.domains.tickets.queries._tables import ccs, followers, links, tags, tickets
from helpline.domains.tickets.queries._visibility import (
    _actor_kind,
    _statement,
    _visible_params,
    _visible_template,
    visible_row,
)
from helpline.errors import NotFound
from helpline.platform.db import recall, remember

# What a ticket's detail needs besides its row, read in the same statement as the row (correlated
# subqueries on the primary keys), so a GET is one statement. ``{t}`` is the ticket id column.
_PG_EXTRAS = {
    "_tags": "ARRAY(SELECT x.tag FROM ticket_tags x WHERE x.ticket_id = {t} ORDER BY x.tag)",
    "_followers": "ARRAY(SELECT x.user_id FROM ticket_followers x WHERE x.ticket_id = {t}"
    " ORDER BY x.user_id)",
    "_ccs": "ARRAY(SELECT x.contact_id FROM ticket_ccs x WHERE x.ticket_id = {t} ORDER BY x.contact_id)",
    "_links": "ARRAY(SELECT x.source_id || ',' || x.target_id || ',' || x.kind FROM ticket_links x"
    " WHERE x.source_id = {t} OR x.target_id = {t} ORDER BY x.id)",
}
_SQLITE_EXTRAS = {
    "_tags": "(SELECT json_group_array(x.tag) FROM ticket_tags x WHERE x.ticket_id = {t})",
    "_followers": "(SELECT json_group_array(x.user_id) FROM ticket_followers x WHERE x.ticket_id = {t})",
    "_ccs": "(SELECT json_group_array(x.contact_id) FROM ticket_ccs x WHERE x.ticket_id = {t})",
    "_links": "(SELECT json_group_array(x.source_id || ',' || x.target_id || ',' || x.kind) FROM"
    " (SELECT * FROM ticket_links y WHERE y.source_id = {t} OR y.target_id = {t} ORDER BY y.id) x)",
}


def _extra(dialect: str, name: str, ticket_id_sql: str) -> sa.ColumnElement[Any]:
    sql = (_PG_EXTRAS if dialect == "postgresql" else _SQLITE_EXTRAS)[name].format(t=ticket_id_sql)
    return sa.literal_column(sql).label(name)


def _list_value(dialect: str, value: Any) -> list[Any]:
    """A list from an ``_extras`` column: an array on PostgreSQL, a JSON array on SQLite (sorted
    here: SQLite's BINARY order of text is Python's, and ids sort as numbers)."""
    if dialect == "postgresql":
        return list(value or [])
    return sorted(orjson.loads(value)) if value else []


def _links_view(ticket_id: int, encoded: list[str]) -> list[dict[str, Any]]:
    found = []
    for item in encoded:
        src_s, tgt_s, kind = item.split(",", 2)
        src, tgt = int(src_s), int(tgt_s)
        # A row says "source is <kind> of target"; each link is shown as what the *other* ticket
        # is to this one.
        if src == ticket_id:
            found.append({"ticket_id": tgt, "kind": {"parent": "child", "child": "parent"}.get(kind, kind)})
        else:
            found.append({"ticket_id": src, "kind": kind})
    return found


def remember_detail(
    conn: AsyncConnection,
    row: dict[str, Any],
    *,
    tags: list[str] | None,
    follower_ids: list[int],
    cc_contact_ids: list[int],
    links: list[dict[str, Any]],
) -> None:
    """Leave a ticket's full detail for the next :func:`access_ticket` on ``conn`` (a writer that has just
    written all of it passes it on instead of reading it back). ``tags`` None: let tags be read."""
    tid = row["id"]
    remember(conn, ("ticket", tid), (row, tuple(cc_contact_ids)))
    if tags is not None:
        remember(conn, ("tags", tid), tags)
    remember(
        conn,
        ("extras", tid),
        {"follower_ids": follower_ids, "cc_contact_ids": cc_contact_ids, "links": links},
    )


async def access_ticket(conn: AsyncConnection, actor: Principal, ticket_id: int) -> dict[str, Any]:
    """The ticket row if ``actor`` may see it, else 404. Its tags, followers, CCs and links come in
    the same statement and wait for :func:`tags_of` and :func:`detail_extras` (see ``remember``)."""
    known = recall(conn, ("ticket", ticket_id))
    if known is not None and visible_row(actor, known[0], known[1]):
        return dict(known[0])
    d = conn.dialect.name
    kind = _actor_kind(actor)
    stmt = _statement(
        ("ticket", d, kind),
        lambda: sa.select(tickets, *(_extra(d, n, "tickets.id") for n in _PG_EXTRAS)).where(
            tickets.c.id == sa.bindparam("t_id"), _visible_template(kind)
        ),
    )
    row = (await conn.execute(stmt, {"t_id": ticket_id, **_visible_params(actor)})).mappings().first()
    if row is None:
        raise NotFound(f"ticket {ticket_id} not found")
    out = dict(row)
    tags_v, fol, cc, lk = (out.pop(n) for n in _PG_EXTRAS)
    remember(conn, ("tags", ticket_id), _list_value(d, tags_v))
    remember(
        conn,
        ("extras", ticket_id),
        {
            "follower_ids": _list_value(d, fol),
            "cc_contact_ids": _list_value(d, cc),
            "links": _links_view(
                ticket_id, list(lk or []) if d == "postgresql" else orjson.loads(lk) if lk else []
            ),
        },
    )
    return out


async def tags_of(conn: AsyncConnection, ticket_ids: list[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for i in ticket_ids:
        known = recall(conn, ("tags", i))
        if known is None:
            break
        out[i] = list(known)
    else:
        return out
    out = {i: [] for i in ticket_ids}
    if ticket_ids:
        rows = await conn.execute(
            sa.select(tags.c.ticket_id, tags.c.tag)
            .where(tags.c.ticket_id.in_(ticket_ids))
            .order_by(tags.c.tag)
        )
        for row in rows:
            out[row.ticket_id].append(row.tag)
    return out


async def detail_extras(conn: AsyncConnection, ticket_id: int) -> dict[str, Any]:
    known = recall(conn, ("extras", ticket_id))
    if known is not None:
        return {k: list(v) for k, v in known.items()}
    fol = [
        r[0]
        for r in await conn.execute(sa.select(followers.c.user_id).where(followers.c.ticket_id == ticket_id))
    ]
    cc = [r[0] for r in await conn.execute(sa.select(ccs.c.contact_id).where(ccs.c.ticket_id == ticket_id))]
    found = []
    link_rows = await conn.execute(
        sa.select(links.c.source_id, links.c.target_id, links.c.kind)
        .where(sa.or_(links.c.source_id == ticket_id, links.c.target_id == ticket_id))
        .order_by(links.c.id)
    )
    for row in link_rows:
        src, tgt, kind = row.source_id, row.target_id, row.kind
        if src == ticket_id:
            found.append({"ticket_id": tgt, "kind": {"parent": "child", "child": "parent"}.get(kind, kind)})
        else:
            found.append({"ticket_id": src, "kind": kind})
    return {"follower_ids": sorted(fol), "cc_contact_ids": sorted(cc), "links": found}
