"""Ticket lists: filters, sorting, keyset cursors and full-text search, one statement per page."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.db.base import utcnow
from helpline.domains.accounts.principal import Principal
from helpline.domains.tickets.queries._compose import awake
from helpline.domains.tickets.queries._detail import _extra, _list_value
from helpline.domains.tickets.queries._sla_list import (
    NEXT_BREACH,
    _build_next_breach,
    _null_last_order,
    _sla_params,
    _sla_where,
)
from helpline.domains.tickets.queries._tables import tags, tickets
from helpline.domains.tickets.queries._visibility import (
    _actor_kind,
    _statement,
    _visible_params,
    _visible_template,
)
from helpline.errors import Invalid
from helpline.platform import search
from helpline.platform.db import remember

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
        if sort.lstrip("-") == NEXT_BREACH:
            value = None if value is None else datetime.fromisoformat(value)
        elif sort.lstrip("-") in ("updated_at", "created_at"):
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
    if name == NEXT_BREACH:
        return _null_last_order(sel.c[name], sel.c.id, desc)
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
    snooze: str | None = None,
    sla: str | None = None,
    cursor_has_value: bool = True,
    lean: bool = False,
) -> sa.Select[Any]:
    where: list[sa.ColumnElement[bool]] = [_visible_template(kind)]
    if snooze is not None:  # "awake": the open views leave snoozed tickets out; "snoozed": only those
        where.append(awake() if snooze == "awake" else ~awake())
    for key in keys:
        where.append(tickets.c[key].in_(sa.bindparam(f"f_{key}", expanding=True)))
    if unassigned:
        where.append(tickets.c.assignee_id.is_(None))
    for key, colname, op in _TIME_FILTERS:
        if key in times:
            col = tickets.c[colname]
            value = sa.bindparam(key, type_=col.type)
            where.append(col >= value if op == "ge" else col < value)
    if sla is not None:
        where.append(_sla_where(sla))
    name, desc = sort.lstrip("-"), sort.startswith("-")
    if name == NEXT_BREACH:
        return _build_next_breach(
            dialect, where, n_tags, search_mode, customer, desc, has_cursor, cursor_has_value, n, lean
        )
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
    if lean:  # ids and subjects only (the global search's candidates)
        return sa.select(u.c.id, u.c.subject).order_by(*_order_on(u, sort)).limit(n)
    return sa.select(u, _extra(dialect, "_tags", "u.id")).order_by(*_order_on(u, sort)).limit(n)


def _shape_and_params(
    actor: Principal,
    *,
    dialect: str,
    filters: dict[str, Any],
    q: str | None,
    sort: str,
    cursor: str | None,
    n: int,
) -> tuple[tuple[Any, ...], dict[str, Any]] | None:
    """The statement's shape (what :func:`_build_list` takes, after a name) and its parameters; None
    when ``q`` is given but has no word."""
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
    sla = _sla_params(actor, filters, sort)
    if sla is not None:
        params["sla_now"] = utcnow()
    cursor_has_value = True
    if cursor is not None:
        params["k_val"], params["k_id"] = decode_cursor(cursor, sort)
        cursor_has_value = params["k_val"] is not None
    search_mode = None
    if q:
        found = search.query_params(dialect, q, public_only=actor.is_customer)
        if found is None:
            return None
        params.update(found)
        search_mode = "pg" if dialect == "postgresql" else "fts-newest" if sort == "-id" else "fts"
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
        "snoozed" if filters.get("snoozed") else "awake" if filters.get("awake") else None,
        sla,
        cursor_has_value,
    )
    return shape, params


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
    built = _shape_and_params(
        actor, dialect=dialect, filters=filters, q=q, sort=sort, cursor=cursor, n=limit + 1
    )
    if built is None:
        return [], None
    shape, params = built
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


async def matching_subjects(
    conn: AsyncConnection, actor: Principal, *, dialect: str, filters: dict[str, Any], q: str, limit: int
) -> list[tuple[int, str]]:
    """(id, subject) of the newest ``limit`` tickets :func:`list_tickets` finds for ``q`` and
    ``filters`` (sorted newest first): the same statement, scope and plans, without the rest of each
    row (the global search's candidates)."""
    built = _shape_and_params(actor, dialect=dialect, filters=filters, q=q, sort="-id", cursor=None, n=limit)
    if built is None:
        return []
    shape, params = built
    lean = (*shape, True)  # the last of _build_list's arguments: ``lean``
    stmt = _statement(lean, lambda: _build_list(*lean[1:]))
    return [(int(r[0]), str(r[1])) for r in await conn.execute(stmt, params)]
