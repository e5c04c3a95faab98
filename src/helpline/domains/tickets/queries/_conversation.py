"""A ticket's messages, attachments and history, and tag counts."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.domains.accounts.principal import Principal
from helpline.domains.tickets import events as ticket_events
from helpline.domains.tickets.queries._detail import access_ticket
from helpline.domains.tickets.queries._tables import attachments, events, messages, tags
from helpline.errors import NotFound

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
    for row in rows:
        # Each row as its typed event writes it today (older rows gain the keys added since); a row
        # of a kind no event class knows is refused (``UnknownEvent``): every writer records typed events.
        row["field"], row["old"], row["new"] = ticket_events.parse(row).values()
    return rows, (str(rows[-1]["id"]) if more else None)


async def tag_counts(
    conn: AsyncConnection, actor: Principal, *, prefix: str | None, limit: int
) -> list[dict[str, Any]]:
    stmt = sa.select(tags.c.tag, sa.func.count()).where(tags.c.workspace_id == actor.workspace_id)
    if prefix:
        stmt = stmt.where(tags.c.tag.startswith(prefix, autoescape=True))
    stmt = stmt.group_by(tags.c.tag).order_by(sa.func.count().desc(), tags.c.tag).limit(limit)
    return [{"name": t, "count": n} for t, n in await conn.execute(stmt)]
