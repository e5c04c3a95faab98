"""Permission-checked reads of tickets, their messages, attachments and history.

Every function here takes the acting principal and scopes by workspace and by the actor's rights;
a ticket the actor may not see is reported exactly like one that does not exist.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.domains.tickets.models import (
    Attachment,
    Event,
    Message,
    Ticket,
    TicketCC,
    TicketFollower,
    TicketLink,
    TicketTag,
)
from helpline.platform import search
from helpline.platform.db import recall, remember
from helpline.web.errors import Invalid, NotFound
from helpline.web.principal import Principal

tickets = Ticket.__table__
messages = Message.__table__
attachments = Attachment.__table__
events = Event.__table__
tags = TicketTag.__table__
ccs = TicketCC.__table__
followers = TicketFollower.__table__
links = TicketLink.__table__

TICKET_COLUMNS = [c for c in tickets.c if c.name not in ("workspace_id",)]


def visible(actor: Principal) -> sa.ColumnElement[bool]:
    """The tickets ``actor`` may see, as a WHERE clause on ``tickets``."""
    in_ws = tickets.c.workspace_id == actor.workspace_id
    if actor.is_admin:
        return in_ws
    if actor.is_staff:
        reach: list[sa.ColumnElement[bool]] = [
            tickets.c.group_id.is_(None),
            tickets.c.assignee_id == actor.user_id,
        ]
        if actor.group_ids:
            reach.append(tickets.c.group_id.in_(sorted(actor.group_ids)))
        return sa.and_(in_ws, sa.or_(*reach))
    if actor.contact_id is None:
        return sa.false()
    reach = [
        tickets.c.requester_id == actor.contact_id,
        tickets.c.id.in_(sa.select(ccs.c.ticket_id).where(ccs.c.contact_id == actor.contact_id)),
    ]
    if actor.shared_organization_id is not None:
        reach.append(tickets.c.organization_id == actor.shared_organization_id)
    return sa.and_(in_ws, sa.or_(*reach))


def _actor_kind(actor: Principal) -> str:
    if actor.is_admin:
        return "admin"
    if actor.is_staff:
        return "staff+groups" if actor.group_ids else "staff"
    if actor.contact_id is None:
        return "nobody"
    return "customer+org" if actor.shared_organization_id is not None else "customer"


def _visible_template(kind: str) -> sa.ColumnElement[bool]:
    """:func:`visible` for every actor of one kind (see :func:`_actor_kind`), with bound parameters
    (:func:`_visible_params`) instead of values, so a statement built on it can be built once."""
    in_ws = tickets.c.workspace_id == sa.bindparam("v_ws")
    if kind == "admin":
        return in_ws
    if kind in ("staff", "staff+groups"):
        reach: list[sa.ColumnElement[bool]] = [
            tickets.c.group_id.is_(None),
            tickets.c.assignee_id == sa.bindparam("v_uid"),
        ]
        if kind == "staff+groups":
            reach.append(tickets.c.group_id.in_(sa.bindparam("v_gids", expanding=True)))
        return sa.and_(in_ws, sa.or_(*reach))
    if kind == "nobody":
        return sa.false()
    reach = [
        tickets.c.requester_id == sa.bindparam("v_cid"),
        tickets.c.id.in_(sa.select(ccs.c.ticket_id).where(ccs.c.contact_id == sa.bindparam("v_cid"))),
    ]
    if kind == "customer+org":
        reach.append(tickets.c.organization_id == sa.bindparam("v_org"))
    return sa.and_(in_ws, sa.or_(*reach))


def _visible_params(actor: Principal) -> dict[str, Any]:
    return {
        "v_ws": actor.workspace_id,
        "v_uid": actor.user_id,
        "v_gids": sorted(actor.group_ids),
        "v_cid": actor.contact_id,
        "v_org": actor.shared_organization_id,
    }


#: Statements built once per shape (dialect, kind of actor, filters present, …) and reused: building
#: a SQLAlchemy statement costs more Python than running it. Values go in as parameters.
_STATEMENTS: dict[tuple[Any, ...], Any] = {}


def _statement(shape: tuple[Any, ...], build: Any) -> Any:
    stmt = _STATEMENTS.get(shape)
    if stmt is None:
        if len(_STATEMENTS) > 2000:
            _STATEMENTS.clear()
        stmt = _STATEMENTS[shape] = build()
    return stmt


def visible_row(
    actor: Principal, row: dict[str, Any], cc_contact_ids: list[int] | tuple[int, ...] = ()
) -> bool:
    """:func:`visible` for a ticket already in memory (``cc_contact_ids``: its CCs)."""
    if row["workspace_id"] != actor.workspace_id:
        return False
    if actor.is_admin:
        return True
    if actor.is_staff:
        return (
            row["group_id"] is None
            or row["assignee_id"] == actor.user_id
            or row["group_id"] in actor.group_ids
        )
    if actor.contact_id is None:
        return False
    return (
        row["requester_id"] == actor.contact_id
        or actor.contact_id in cc_contact_ids
        or (
            actor.shared_organization_id is not None
            and row["organization_id"] == actor.shared_organization_id
        )
    )


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


_SIMPLE_TAG = re.compile(r"^[a-z0-9]+$")


def tags_sort_like_db(dialect: str, tag_list: list[str]) -> bool:
    """Whether Python's ``sorted`` orders these tags as the database's ``ORDER BY tag`` does (always on
    SQLite; on PostgreSQL, whose collation may differ, only for plain lowercase letters and digits)."""
    return dialect == "sqlite" or all(_SIMPLE_TAG.match(t) for t in tag_list)


# --- listing --------------------------------------------------------------------------------------

SORTS = {
    "updated_at": tickets.c.updated_at,
    "created_at": tickets.c.created_at,
    "number": tickets.c.number,
    "id": tickets.c.id,
}


def encode_cursor(sort: str, value: Any, last_id: int) -> str:
    if isinstance(value, datetime):
        value = value.isoformat()
    return base64.urlsafe_b64encode(orjson.dumps([sort, value, last_id])).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[Any, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        got_sort, value, last_id = orjson.loads(raw)
        if got_sort != sort or not isinstance(last_id, int):
            raise ValueError
        if sort.lstrip("-") in ("updated_at", "created_at"):
            value = datetime.fromisoformat(value)
        elif not isinstance(value, int):
            raise ValueError
        return value, last_id
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError) as exc:
        raise Invalid(
            "cursor", "not a cursor from this list (it must come from next_cursor with the same sort)"
        ) from exc


def _sort_order(name: str, desc: bool) -> list[sa.ColumnElement[Any]]:
    """ORDER BY of the sort column ``name`` then the ticket id (the id alone when sorting by id)."""
    col = SORTS[name]
    if name == "id":
        return [col.desc() if desc else col.asc()]
    return [col.desc(), tickets.c.id.desc()] if desc else [col.asc(), tickets.c.id.asc()]


def keyset(
    sort: str, cursor: str | None
) -> tuple[list[sa.ColumnElement[Any]], sa.ColumnElement[bool] | None]:
    """ORDER BY and the WHERE condition that continues after ``cursor``."""
    name = sort.lstrip("-")
    desc = sort.startswith("-")
    col = SORTS[name]
    order = _sort_order(name, desc)
    if cursor is None:
        return order, None
    value, last_id = decode_cursor(cursor, sort)
    if name == "id":
        return order, (tickets.c.id < last_id) if desc else (tickets.c.id > last_id)
    if desc:
        cond = sa.or_(col < value, sa.and_(col == value, tickets.c.id < last_id))
    else:
        cond = sa.or_(col > value, sa.and_(col == value, tickets.c.id > last_id))
    return order, cond


def _order_on(sel: Any, sort: str) -> list[sa.ColumnElement[Any]]:
    """The ORDER BY of :func:`keyset` for ``sort``, on the columns of ``sel`` (a subquery)."""
    name, desc = sort.lstrip("-"), sort.startswith("-")
    cols = [sel.c[name]] if name == "id" else [sel.c[name], sel.c.id]
    return [c.desc() if desc else c.asc() for c in cols]


def _two_plans(
    common_flag: sa.ColumnElement[bool],
    common: list[sa.ColumnElement[bool]],
    rare: sa.Select[Any],
    where: list[sa.ColumnElement[bool]],
    order: list[sa.ColumnElement[Any]],
    sort: str,
    n: int,
) -> Any:
    """``common`` rows walking the sort order, or ``rare`` candidates first, whichever ``common_flag``
    (a constant subquery, so the database runs only the branch it picks) says.

    A filter that matches many tickets is best served walking the sort index until ``n`` rows pass;
    one that matches few would walk the whole index for them, and is best served by finding the few
    first, then sorting them. The planner's estimates cannot tell the two apart for words and tags
    outside its statistics, so the query carries both plans.
    """
    walk = sa.select(tickets).where(*where, *common, common_flag).order_by(*order).limit(n)
    cand = rare.subquery("m")
    found = (
        sa.select(tickets)
        .join_from(cand, tickets, tickets.c.id == cand.c.id)
        .where(*where, sa.not_(common_flag))
        .offset(0)
        .subquery("x")
    )
    few = sa.select(found).order_by(*_order_on(found, sort)).limit(n)
    # Each branch as a subquery: SQLite accepts no parenthesised SELECT inside a UNION.
    return sa.union_all(sa.select(walk.subquery("a")), sa.select(few.subquery("b"))).subquery("u")


_PG_COMMON_WORDS = (
    "SELECT coalesce(exp(sum(ln(greatest(coalesce(st.f[array_position(st.e, w.lx)], 0), 1e-9)))), 0) >= 0.02"
    " FROM unnest(tsvector_to_array(to_tsvector('english', :pg_q))) AS w(lx)"
    " CROSS JOIN (SELECT most_common_elems::text::text[] AS e, most_common_elem_freqs AS f FROM pg_stats"
    " WHERE schemaname = current_schema() AND tablename = 'ticket_search' AND attname = '{column}') st"
)


def _pg_common_words(column: str) -> sa.ColumnElement[bool]:
    """Whether the words of ``:pg_q`` together match at least 2 % of documents, by the planner's
    statistics of the most common lexemes (a lexeme outside them counts as rare; no statistics yet:
    rare). Words are taken as independent: the product of their frequencies."""
    return (
        sa.text(_PG_COMMON_WORDS.format(column=column))
        .columns(sa.column("common", sa.Boolean))
        .scalar_subquery()
    )


def _sqlite_common_tag() -> sa.ColumnElement[bool]:
    """Whether tag ``:tag0`` is on at least 500 tickets (counting at most that many index entries)."""
    capped = (
        sa.select(sa.literal_column("1"))
        .where(tags.c.workspace_id == sa.bindparam("v_ws"), tags.c.tag == sa.bindparam("tag0"))
        .limit(500)
        .subquery()
    )
    return sa.select(sa.func.count() >= 500).select_from(capped).scalar_subquery()


_FILTER_KEYS = (
    "status",
    "priority",
    "assignee_id",
    "group_id",
    "requester_id",
    "organization_id",
    "type",
    "channel",
)
_TIME_FILTERS = (
    ("created_after", "created_at", "ge"),
    ("created_before", "created_at", "lt"),
    ("updated_after", "updated_at", "ge"),
    ("updated_before", "updated_at", "lt"),
)


def _build_list(
    dialect: str,
    kind: str,
    keys: tuple[str, ...],
    unassigned: bool,
    times: tuple[str, ...],
    n_tags: int,
    search_mode: str | None,
    customer: bool,
    sort: str,
    has_cursor: bool,
    n: int,
) -> sa.Select[Any]:
    where: list[sa.ColumnElement[bool]] = [_visible_template(kind)]
    for key in keys:
        where.append(tickets.c[key].in_(sa.bindparam(f"f_{key}", expanding=True)))
    if unassigned:
        where.append(tickets.c.assignee_id.is_(None))
    for key, colname, op in _TIME_FILTERS:
        if key in times:
            col = tickets.c[colname]
            value = sa.bindparam(key, type_=col.type)
            where.append(col >= value if op == "ge" else col < value)
    name, desc = sort.lstrip("-"), sort.startswith("-")
    col = SORTS[name]
    order = _sort_order(name, desc)
    if has_cursor:
        last_id = sa.bindparam("k_id", type_=tickets.c.id.type)
        if name == "id":
            where.append(tickets.c.id < last_id if desc else tickets.c.id > last_id)
        else:
            value = sa.bindparam("k_val", type_=col.type)
            where.append(
                sa.or_(col < value, sa.and_(col == value, tickets.c.id < last_id))
                if desc
                else sa.or_(col > value, sa.and_(col == value, tickets.c.id > last_id))
            )

    def has_tag(i: int) -> sa.ColumnElement[bool]:
        # Probes the primary key (ticket_id, tag) per ticket walked.
        return sa.exists().where(tags.c.ticket_id == tickets.c.id, tags.c.tag == sa.bindparam(f"tag{i}"))

    def tagged(i: int) -> sa.Select[Any]:
        return sa.select(tags.c.ticket_id.label("id")).where(
            tags.c.workspace_id == sa.bindparam("v_ws"), tags.c.tag == sa.bindparam(f"tag{i}")
        )

    u: Any
    if search_mode is not None:
        where += [has_tag(i) for i in range(n_tags)]
        if search_mode == "fts-newest":
            # FTS5 hands its matches over newest first (rowid descending): stop at the n-th visible one.
            fts = sa.table("ticket_fts", sa.column("rowid"))
            cond = list(where)
            if has_cursor:  # let FTS5 start at the cursor instead of skipping up to it
                cond.append(fts.c.rowid < sa.bindparam("k_id", type_=tickets.c.id.type))
            u = (
                sa.select(tickets)
                .select_from(fts.join(tickets, tickets.c.id == fts.c.rowid))
                .where(sa.text("ticket_fts MATCH :fts_q"))
                .where(*cond)
                .order_by(fts.c.rowid.desc())
                .limit(n)
                .subquery("u")
            )
        elif search_mode == "pg":
            matching = search.matching_ids_template(dialect, public_only=customer)
            rare = search.matching_ids_template(dialect, public_only=customer, label="id").offset(0)
            column = "doc_public" if customer else "doc_all"
            u = _two_plans(
                _pg_common_words(column), [tickets.c.id.in_(matching)], rare, where, order, sort, n
            )
        else:
            matching = search.matching_ids_template(dialect, public_only=customer)
            u = (
                sa.select(tickets)
                .where(*where, tickets.c.id.in_(matching))
                .order_by(*order)
                .limit(n)
                .subquery("u")
            )
    elif n_tags and dialect == "sqlite":
        where += [has_tag(i) for i in range(1, n_tags)]
        u = _two_plans(_sqlite_common_tag(), [has_tag(0)], tagged(0), where, order, sort, n)
    else:
        for i in range(n_tags):
            where.append(tickets.c.id.in_(tagged(i)))
        u = sa.select(tickets).where(*where).order_by(*order).limit(n).subquery("u")
    return sa.select(u, _extra(dialect, "_tags", "u.id")).order_by(*_order_on(u, sort)).limit(n)


async def list_tickets(
    conn: AsyncConnection,
    actor: Principal,
    *,
    dialect: str,
    filters: dict[str, Any],
    q: str | None,
    sort: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[dict[str, Any]], str | None]:
    if sort is None:
        sort = "-id" if q else "-updated_at"
    params = _visible_params(actor)
    keys = []
    for key in _FILTER_KEYS:
        values = filters.get(key)
        if values:
            keys.append(key)
            params[f"f_{key}"] = values if isinstance(values, list) else [values]
    times = tuple(key for key, _, _ in _TIME_FILTERS if filters.get(key) is not None)
    for key in times:
        params[key] = filters[key]
    tag_list = list(filters.get("tags") or [])
    for i, tag in enumerate(tag_list):
        params[f"tag{i}"] = tag
    if cursor is not None:
        params["k_val"], params["k_id"] = decode_cursor(cursor, sort)
    search_mode = None
    if q:
        found = search.query_params(dialect, q, public_only=actor.is_customer)
        if found is None:
            return [], None
        params.update(found)
        search_mode = "pg" if dialect == "postgresql" else "fts-newest" if sort == "-id" else "fts"
    n = limit + 1
    shape = (
        "list",
        dialect,
        _actor_kind(actor),
        tuple(keys),
        bool(filters.get("unassigned")),
        times,
        len(tag_list),
        search_mode,
        actor.is_customer,
        sort,
        cursor is not None,
        n,
    )
    stmt = _statement(shape, lambda: _build_list(*shape[1:]))
    rows = []
    for r in (await conn.execute(stmt, params)).mappings():
        row = dict(r)
        row_tags = _list_value(dialect, row.pop("_tags"))
        rows.append((row, row_tags))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1][0]
        next_cursor = encode_cursor(sort, last[sort.lstrip("-")], last["id"])
    for row, row_tags in rows:
        remember(conn, ("tags", row["id"]), row_tags)
    return [row for row, _ in rows], next_cursor


# --- conversation and history ---------------------------------------------------------------------


async def list_messages(
    conn: AsyncConnection, actor: Principal, ticket_id: int, *, after_id: int | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    await access_ticket(conn, actor, ticket_id)
    where = [messages.c.ticket_id == ticket_id]
    if actor.is_customer:
        where.append(messages.c.public.is_(True))
    if after_id is not None:
        where.append(messages.c.id > after_id)
    rows = [
        dict(r)
        for r in (
            await conn.execute(sa.select(messages).where(*where).order_by(messages.c.id).limit(limit + 1))
        ).mappings()
    ]
    more = len(rows) > limit
    rows = rows[:limit]
    by_msg: dict[int, list[dict[str, Any]]] = {r["id"]: [] for r in rows}
    if rows:
        for a in (
            await conn.execute(
                sa.select(attachments)
                .where(attachments.c.message_id.in_(list(by_msg)))
                .order_by(attachments.c.id)
            )
        ).mappings():
            by_msg[a["message_id"]].append(
                {
                    "id": a["id"],
                    "filename": a["filename"],
                    "content_type": a["content_type"],
                    "size": a["size"],
                    "url": f"/api/v1/attachments/{a['id']}",
                }
            )
    for r in rows:
        r["attachments"] = by_msg[r["id"]]
    return rows, (str(rows[-1]["id"]) if more else None)


async def access_attachment(conn: AsyncConnection, actor: Principal, attachment_id: int) -> dict[str, Any]:
    row = (
        (
            await conn.execute(
                sa.select(attachments, messages.c.ticket_id, messages.c.public)
                .join(messages, messages.c.id == attachments.c.message_id)
                .where(attachments.c.id == attachment_id, attachments.c.workspace_id == actor.workspace_id)
            )
        )
        .mappings()
        .first()
    )
    if row is None or (actor.is_customer and not row["public"]):
        raise NotFound(f"attachment {attachment_id} not found")
    try:
        await access_ticket(conn, actor, row["ticket_id"])
    except NotFound:
        raise NotFound(f"attachment {attachment_id} not found") from None
    return dict(row)


async def list_events(
    conn: AsyncConnection, actor: Principal, ticket_id: int, *, after_id: int | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    await access_ticket(conn, actor, ticket_id)
    where = [events.c.ticket_id == ticket_id]
    if after_id is not None:
        where.append(events.c.id > after_id)
    rows = [
        dict(r)
        for r in (
            await conn.execute(sa.select(events).where(*where).order_by(events.c.id).limit(limit + 1))
        ).mappings()
    ]
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (str(rows[-1]["id"]) if more else None)


async def tag_counts(
    conn: AsyncConnection, actor: Principal, *, prefix: str | None, limit: int
) -> list[dict[str, Any]]:
    stmt = sa.select(tags.c.tag, sa.func.count()).where(tags.c.workspace_id == actor.workspace_id)
    if prefix:
        stmt = stmt.where(tags.c.tag.startswith(prefix, autoescape=True))
    stmt = stmt.group_by(tags.c.tag).order_by(sa.func.count().desc(), tags.c.tag).limit(limit)
    return [{"name": t, "count": n} for t, n in await conn.execute(stmt)]
