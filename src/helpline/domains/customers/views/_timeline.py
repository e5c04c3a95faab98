"""A contact's cross-channel interaction timeline (tickets opened, messages, status changes)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.domains.accounts.models import User
from helpline.domains.accounts.principal import Principal
from helpline.domains.customers.views._common import TIMELINE
from helpline.domains.tickets import queries as ticket_queries
from helpline.domains.tickets.models import Event, Message, Ticket

tickets_t, messages_t, events_t, users_t = (
    Ticket.__table__,
    Message.__table__,
    Event.__table__,
    User.__table__,
)


def _snippet(text: str, size: int = 160) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= size else text[: size - 1] + "…"


async def timeline(
    conn: AsyncConnection, actor: Principal, contact_id: int, *, limit: int = TIMELINE
) -> list[dict[str, Any]]:
    """The contact's interactions across channels, newest first: tickets opened, messages (theirs and
    the replies and notes on their tickets) and status changes, on tickets ``actor`` may see."""
    theirs = sa.and_(ticket_queries.visible(actor), tickets_t.c.requester_id == contact_id)
    opened = await conn.execute(
        sa.select(
            tickets_t.c.id,
            tickets_t.c.number,
            tickets_t.c.subject,
            tickets_t.c.channel,
            tickets_t.c.created_at,
        )
        .where(theirs)
        .order_by(tickets_t.c.created_at.desc())
        .limit(limit)
    )
    items: list[dict[str, Any]] = [
        {
            "at": r.created_at,
            "kind": "opened",
            "channel": r.channel,
            "ticket_id": r.id,
            "number": r.number,
            "subject": r.subject,
            "text": "",
        }
        for r in opened
    ]
    wrote = await conn.execute(
        sa.select(
            messages_t.c.id,
            messages_t.c.created_at,
            messages_t.c.channel,
            messages_t.c.public,
            messages_t.c.author_kind,
            messages_t.c.author_contact_id,
            messages_t.c.body_text,
            users_t.c.name.label("agent"),
            tickets_t.c.id.label("ticket_id"),
            tickets_t.c.number,
            tickets_t.c.subject,
        )
        .select_from(
            messages_t.join(tickets_t, tickets_t.c.id == messages_t.c.ticket_id).outerjoin(
                users_t, users_t.c.id == messages_t.c.author_user_id
            )
        )
        .where(
            ticket_queries.visible(actor),
            sa.or_(tickets_t.c.requester_id == contact_id, messages_t.c.author_contact_id == contact_id),
        )
        .order_by(messages_t.c.created_at.desc(), messages_t.c.id.desc())
        .limit(limit)
    )
    for m in wrote:
        if m.author_contact_id == contact_id:
            kind = "customer_message"
        elif not m.public:
            kind = "note"
        else:
            kind = "reply"
        items.append(
            {
                "at": m.created_at,
                "kind": kind,
                "channel": m.channel,
                "ticket_id": m.ticket_id,
                "number": m.number,
                "subject": m.subject,
                "text": _snippet(m.body_text),
                "who": m.agent,
            }
        )
    changed = await conn.execute(
        sa.select(
            events_t.c.created_at,
            events_t.c.old,
            events_t.c.new,
            tickets_t.c.id.label("ticket_id"),
            tickets_t.c.number,
            tickets_t.c.subject,
            tickets_t.c.channel,
        )
        .select_from(events_t.join(tickets_t, tickets_t.c.id == events_t.c.ticket_id))
        .where(theirs, events_t.c.kind == "field_changed", events_t.c.field == "status")
        .order_by(events_t.c.created_at.desc(), events_t.c.id.desc())
        .limit(limit)
    )
    for e in changed:
        items.append(
            {
                "at": e.created_at,
                "kind": "status",
                "channel": e.channel,
                "ticket_id": e.ticket_id,
                "number": e.number,
                "subject": e.subject,
                "text": f"{e.old} → {e.new}",
            }
        )
    # Ties (a ticket and its first message share a time): the ticket's opening comes last, i.e. first read.
    order = {"opened": 0, "customer_message": 1, "reply": 1, "note": 1, "status": 2}
    items.sort(key=lambda i: (i["at"], order[i["kind"]]), reverse=True)
    return items[:limit]
