"""The batch writer of what customers send, whatever the channel: new tickets whose first message a
contact wrote, customers' messages on existing tickets (email, chat, the portal, the API), and
Helpline's own notes. One statement per table however many items a call carries: a channel that
receives in bursts (email's runs, chat's group commit) writes a burst at once.

The rules live elsewhere and are only applied here: what a customer's message does to the status
and who is told (``tickets.lifecycle``), and the events it records (``tickets.events``). So a reply
reopens a solved ticket in the same way, with the same events and notices, whichever channel it
came by.

Callers have already decided who the contact is and which ticket a message belongs to; nothing here
trusts a header.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from helpline.db.base import utcnow
from helpline.domains.customers.models import Contact
from helpline.domains.tickets import lifecycle
from helpline.domains.tickets.events import (
    CUSTOMER,
    Actor,
    Author,
    Created,
    MessageAdded,
    StatusChanged,
    TicketEvent,
    record_many,
)
from helpline.domains.tickets.models import Attachment, AuthorKind, TicketCC
from helpline.domains.tickets.service._common import (
    after_change,
    messages,
    next_numbers,
    reindex_many,
    tickets,
)
from helpline.domains.tickets.service._snooze import wake_on_reply
from helpline.platform import jobs
from helpline.platform.db import QUIET, UnitOfWork
from helpline.platform.pubsub import PubSub

attachments = Attachment.__table__
ccs = TicketCC.__table__
contacts = Contact.__table__


def _message_row(
    ticket: Mapping[str, Any],
    *,
    author_kind: str,
    user_id: int | None = None,
    contact_id: int | None,
    body_text: str,
    body_html: str,
    public: bool,
    channel: str,
    at: datetime,
) -> dict[str, Any]:
    return {
        "workspace_id": ticket["workspace_id"],
        "ticket_id": ticket["id"],
        "public": public,
        "author_kind": author_kind,
        "author_user_id": user_id,
        "author_contact_id": contact_id,
        "channel": channel,
        "body_text": body_text,
        "body_html": body_html,
        "created_at": at,
    }


_INSERT_MESSAGES = messages.insert().returning(messages.c.id, messages.c.ticket_id)
# No write hook acts on a live channel's customer line: the one on ``messages`` (the email channel's
# outbox) looks for staff replies, and its two reads per commit were a fifth of a chat message's cost.
_INSERT_QUIET = _INSERT_MESSAGES.execution_options(**{QUIET: True})


async def _insert_messages(uow: UnitOfWork, rows: list[dict[str, Any]], *, quiet: bool = False) -> list[int]:
    """Ids of the new messages, in the order of ``rows``, from one multi-row INSERT.

    RETURNING's order is not promised (and asking SQLAlchemy for parameter order makes SQLite insert
    row by row), but the ids of one INSERT's rows grow in the order of its VALUES on both databases:
    each ticket's ids, sorted, belong to its rows in order."""
    result = await uow.execute(_INSERT_QUIET if quiet else _INSERT_MESSAGES, rows)
    per_ticket: dict[int, list[int]] = {}
    for row in result:
        per_ticket.setdefault(int(row[1]), []).append(int(row[0]))
    for ids in per_ticket.values():
        ids.sort(reverse=True)
    return [per_ticket[int(r["ticket_id"])].pop() for r in rows]


# --- new tickets -------------------------------------------------------------------------------------


@dataclass
class NewTicket:
    """A ticket whose first message a contact wrote (see :func:`create_tickets_from_contacts`)."""

    contact_id: int
    subject: str
    body_text: str
    body_html: str
    channel: str
    group_id: int | None = None
    cc_contact_ids: list[int] = field(default_factory=list)


async def create_ticket_from_contact(
    uow: UnitOfWork,
    pubsub: PubSub,
    *,
    workspace_id: int,
    contact_id: int,
    subject: str,
    body_text: str,
    body_html: str,
    channel: str,
    group_id: int | None = None,
    cc_contact_ids: list[int] | None = None,
) -> tuple[int, int, int]:
    """A new ticket whose first message the contact wrote: (ticket id, message id, ticket number)."""
    item = NewTicket(contact_id, subject, body_text, body_html, channel, group_id, cc_contact_ids or [])
    return (await create_tickets_from_contacts(uow, pubsub, workspace_id, [item]))[0]


async def create_tickets_from_contacts(
    uow: UnitOfWork, pubsub: PubSub, workspace_id: int, items: list[NewTicket]
) -> list[tuple[int, int, int]]:
    """New tickets of one workspace, each with its contact's first message: (ticket id, message id,
    ticket number) per item, in order. A statement per table whatever the number of tickets."""
    if not items:
        return []
    now = utcnow()
    status = lifecycle.initial()
    numbers = await next_numbers(uow, workspace_id, len(items))
    org_of = {
        int(r[0]): r[1]
        for r in await uow.execute(
            sa.select(contacts.c.id, contacts.c.organization_id).where(
                contacts.c.id.in_({i.contact_id for i in items})
            )
        )
    }
    # Rows come back in any order (in parameter order SQLAlchemy would insert them one by one on
    # SQLite): each ticket is known by its number, each message by its ticket.
    by_number = {
        int(row[1]): int(row[0])
        for row in (
            await uow.execute(
                tickets.insert().returning(tickets.c.id, tickets.c.number),
                [
                    {
                        "workspace_id": workspace_id,
                        "number": number,
                        "subject": (item.subject or "(no subject)")[:500],
                        "status": status,
                        "priority": "normal",
                        "type": None,
                        "channel": item.channel,
                        "requester_id": item.contact_id,
                        "organization_id": org_of.get(item.contact_id),
                        "assignee_id": None,
                        "group_id": item.group_id,
                        "due_at": None,
                        "custom": {},
                        "version": 1,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for item, number in zip(items, numbers, strict=True)
                ],
            )
        )
    }
    ticket_ids = [by_number[n] for n in numbers]
    refs = [{"id": tid, "workspace_id": workspace_id} for tid in ticket_ids]
    message_ids = await _insert_messages(
        uow,
        [
            _message_row(
                ref,
                author_kind=AuthorKind.customer.value,
                contact_id=item.contact_id,
                body_text=item.body_text,
                body_html=item.body_html,
                public=True,
                channel=item.channel,
                at=now,
            )
            for ref, item in zip(refs, items, strict=True)
        ],
    )
    cc_rows = [
        {"ticket_id": tid, "contact_id": c}
        for tid, item in zip(ticket_ids, items, strict=True)
        for c in sorted({c for c in item.cc_contact_ids if c != item.contact_id})
    ]
    if cc_rows:
        await uow.execute(ccs.insert(), cc_rows)
    events: list[tuple[Mapping[str, Any], Actor | None, TicketEvent]] = []
    for ref, mid, number, item in zip(refs, message_ids, numbers, items, strict=True):
        created = Created(
            number=number,
            subject=item.subject,
            status=status,
            priority="normal",
            channel=item.channel,
            requester_id=item.contact_id,
            group_id=item.group_id,
        )
        events.append((ref, CUSTOMER, created))
        events.append((ref, CUSTOMER, MessageAdded(mid, True, item.channel, AuthorKind.customer.value)))
    await record_many(uow, events, at=now)
    await reindex_many(uow, ticket_ids)
    for tid in ticket_ids:
        after_change(uow, pubsub, workspace_id, tid, "created")
    return list(zip(ticket_ids, message_ids, numbers, strict=True))


# --- customers' messages on existing tickets ------------------------------------------------------------


@dataclass
class CustomerMessage:
    """A customer's message on an existing ticket (see :func:`add_customer_messages`)."""

    ticket: Mapping[str, Any]  # id, workspace_id, status, assignee_id as read when deciding
    contact_id: int | None
    body_text: str
    body_html: str
    channel: str
    #: Who the events name: a contact writing from outside (no account), or a signed-in customer.
    author: Author = CUSTOMER


# Run once per ticket (executemany), so no IN list: that would be expanded for each execution. The
# rule is lifecycle's (``after_customer_message``), in SQL so that the status as stored decides.
_REOPENED = sa.or_(*(tickets.c.status == s for s in sorted(lifecycle.REOPENED_BY_CUSTOMER)))
_TOUCH = (
    tickets.update()
    .where(tickets.c.id == sa.bindparam("b_id"))
    .values(
        updated_at=sa.bindparam("b_now"),
        version=tickets.c.version + 1,
        status=sa.case((_REOPENED, lifecycle.OPEN), else_=tickets.c.status),
        solved_at=sa.case((_REOPENED, None), else_=tickets.c.solved_at),
    )
)


async def add_contact_message(
    uow: UnitOfWork,
    pubsub: PubSub,
    ticket: Mapping[str, Any],
    *,
    contact_id: int,
    body_text: str,
    body_html: str,
    channel: str,
) -> int:
    """One contact's message on ``ticket``: :func:`add_customer_messages` of one."""
    item = CustomerMessage(ticket, contact_id, body_text, body_html, channel)
    return (await add_customer_messages(uow, pubsub, [item]))[0]


async def add_customer_messages(
    uow: UnitOfWork,
    pubsub: PubSub,
    items: list[CustomerMessage],
    *,
    live: bool = False,
    at: datetime | None = None,
) -> list[int]:
    """Customers' messages, any number per ticket, in a fixed number of statements: the message ids,
    in order. Each ticket is touched once; what its status becomes and whether its assignee is told
    are ``lifecycle``'s rules, decided on the status its first message's ``ticket`` carries.

    ``live``: the lines of a live conversation (chat). Their assignee is in the conversation, so is
    told only when a line reopened the ticket; the ticket is not re-indexed per line (the channel
    re-indexes when the conversation ends); and no write hook runs for the insert."""
    if not items:
        return []
    now = at or utcnow()
    message_ids = await _insert_messages(
        uow,
        [
            _message_row(
                i.ticket,
                author_kind=AuthorKind.customer.value,
                user_id=i.author.user_id,
                contact_id=i.contact_id,
                body_text=i.body_text,
                body_html=i.body_html,
                public=True,
                channel=i.channel,
                at=now,
            )
            for i in items
        ],
        quiet=live,
    )
    events: list[tuple[Mapping[str, Any], Actor | None, TicketEvent]] = []
    notify: list[tuple[dict[str, Any], str | None]] = []
    seen: dict[int, lifecycle.Transition | None] = {}
    for i, mid in zip(items, message_ids, strict=True):
        t = i.ticket
        first = t["id"] not in seen
        change = lifecycle.after_customer_message(t["status"]) if first else None
        seen.setdefault(t["id"], change)
        events.append((t, i.author, MessageAdded(mid, True, i.channel, AuthorKind.customer.value)))
        if change is not None:
            events.append((t, i.author, StatusChanged(change.old, change.new)))
        if (first or not live) and lifecycle.notify_assignee_of_customer_message(
            t.get("assignee_id"), change, live=live
        ):
            notify.append(({"ticket_id": t["id"], "user_id": t["assignee_id"], "message_id": mid}, None))
    touched = list(seen)
    await uow.execute(_TOUCH, [{"b_id": tid, "b_now": now} for tid in touched])
    await record_many(uow, events, at=now)
    await wake_on_reply(uow, touched)  # a snoozed ticket comes back when its customer writes
    if not live:
        await reindex_many(uow, touched)
    await jobs.enqueue_many(uow, "notify.customer_reply", notify)
    workspace_of = {i.ticket["id"]: i.ticket["workspace_id"] for i in items}
    for tid in touched:
        after_change(uow, pubsub, workspace_of[tid], tid, "message_added")
    return message_ids
