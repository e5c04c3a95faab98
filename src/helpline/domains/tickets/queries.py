"""Permission-checked reads of tickets, their messages, attachments and history.

Every function here takes the acting principal and scopes by workspace and by the actor's rights;
a ticket the actor may not see is reported exactly like one that does not exist.
"""

from __future__ import annotations

import base64
import binascii
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
        reach: list[sa.ColumnElement[bool]] = [tickets.c.group_id.is_(None), tickets.c.assignee_id == actor.user_id]
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


async def access_ticket(conn: AsyncConnection, actor: Principal, ticket_id: int) -> dict[str, Any]:
    row = (
        await conn.execute(sa.select(tickets).where(tickets.c.id == ticket_id, visible(actor)))
    ).mappings().first()
    if row is None:
        raise NotFound(f"ticket {ticket_id} not found")
    return dict(row)


async def tags_of(conn: AsyncConnection, ticket_ids: list[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {i: [] for i in ticket_ids}
    if ticket_ids:
        rows = await conn.execute(
            sa.select(tags.c.ticket_id, tags.c.tag).where(tags.c.ticket_id.in_(ticket_ids)).order_by(tags.c.tag)
        )
        for tid, tag in rows:
            out[tid].append(tag)
    return out


async def detail_extras(conn: AsyncConnection, ticket_id: int) -> dict[str, Any]:
    fol = [r[0] for r in await conn.execute(sa.select(followers.c.user_id).where(followers.c.ticket_id == ticket_id))]
    cc = [r[0] for r in await conn.execute(sa.select(ccs.c.contact_id).where(ccs.c.ticket_id == ticket_id))]
    found = []
    for src, tgt, kind in await conn.execute(
        sa.select(links.c.source_id, links.c.target_id, links.c.kind).where(
            sa.or_(links.c.source_id == ticket_id, links.c.target_id == ticket_id)
        )
    ):
        # A row says "source is <kind> of target"; each link is shown as what the *other* ticket is to this one.
        if src == ticket_id:
            found.append({"ticket_id": tgt, "kind": {"parent": "child", "child": "parent"}.get(kind, kind)})
        else:
            found.append({"ticket_id": src, "kind": kind})
    return {"follower_ids": sorted(fol), "cc_contact_ids": sorted(cc), "links": found}


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
        raise Invalid("cursor", "not a cursor from this list (it must come from next_cursor with the same sort)") from exc


def keyset(sort: str, cursor: str | None) -> tuple[list[sa.ColumnElement[Any]], sa.ColumnElement[bool] | None]:
    """ORDER BY and the WHERE condition that continues after ``cursor``."""
    name = sort.lstrip("-")
    desc = sort.startswith("-")
    col = SORTS[name]
    order = [col.desc(), tickets.c.id.desc()] if desc else [col.asc(), tickets.c.id.asc()]
    if name == "id":
        order = order[:1]
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
    where: list[sa.ColumnElement[bool]] = [visible(actor)]
    for key in ("status", "priority", "assignee_id", "group_id", "requester_id", "organization_id", "type", "channel"):
        values = filters.get(key)
        if values:
            where.append(tickets.c[key].in_(values) if isinstance(values, list) else tickets.c[key] == values)
    if filters.get("unassigned"):
        where.append(tickets.c.assignee_id.is_(None))
    for tag in filters.get("tags") or []:
        where.append(tickets.c.id.in_(sa.select(tags.c.ticket_id).where(
            tags.c.workspace_id == actor.workspace_id, tags.c.tag == tag)))
    for key, col, op in (
        ("created_after", tickets.c.created_at, "ge"), ("created_before", tickets.c.created_at, "lt"),
        ("updated_after", tickets.c.updated_at, "ge"), ("updated_before", tickets.c.updated_at, "lt"),
    ):
        if filters.get(key) is not None:
            where.append(col >= filters[key] if op == "ge" else col < filters[key])
    if q:
        matching = search.matching_ids(dialect, q, public_only=actor.is_customer)
        if matching is None:
            return [], None
        where.append(tickets.c.id.in_(matching))
    order, after = keyset(sort, cursor)
    if after is not None:
        where.append(after)
    stmt = sa.select(tickets).where(*where).order_by(*order).limit(limit + 1)
    rows = [dict(r) for r in (await conn.execute(stmt)).mappings()]
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_cursor(sort, last[sort.lstrip("-")], last["id"])
    return rows, next_cursor


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
    rows = [dict(r) for r in (await conn.execute(
        sa.select(messages).where(*where).order_by(messages.c.id).limit(limit + 1)
    )).mappings()]
    more = len(rows) > limit
    rows = rows[:limit]
    by_msg: dict[int, list[dict[str, Any]]] = {r["id"]: [] for r in rows}
    if rows:
        for a in (await conn.execute(
            sa.select(attachments).where(attachments.c.message_id.in_(list(by_msg))).order_by(attachments.c.id)
        )).mappings():
            by_msg[a["message_id"]].append({
                "id": a["id"], "filename": a["filename"], "content_type": a["content_type"], "size": a["size"],
                "url": f"/api/v1/attachments/{a['id']}",
            })
    for r in rows:
        r["attachments"] = by_msg[r["id"]]
    return rows, (str(rows[-1]["id"]) if more else None)


async def access_attachment(conn: AsyncConnection, actor: Principal, attachment_id: int) -> dict[str, Any]:
    row = (await conn.execute(
        sa.select(attachments, messages.c.ticket_id, messages.c.public)
        .join(messages, messages.c.id == attachments.c.message_id)
        .where(attachments.c.id == attachment_id, attachments.c.workspace_id == actor.workspace_id)
    )).mappings().first()
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
    rows = [dict(r) for r in (await conn.execute(
        sa.select(events).where(*where).order_by(events.c.id).limit(limit + 1)
    )).mappings()]
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (str(rows[-1]["id"]) if more else None)


async def tag_counts(conn: AsyncConnection, actor: Principal, *, prefix: str | None, limit: int) -> list[dict[str, Any]]:
    stmt = sa.select(tags.c.tag, sa.func.count()).where(tags.c.workspace_id == actor.workspace_id)
    if prefix:
        stmt = stmt.where(tags.c.tag.startswith(prefix, autoescape=True))
    stmt = stmt.group_by(tags.c.tag).order_by(sa.func.count().desc(), tags.c.tag).limit(limit)
    return [{"name": t, "count": n} for t, n in await conn.execute(stmt)]
