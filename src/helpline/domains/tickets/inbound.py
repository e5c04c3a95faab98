"""Writes for conversations that arrive from outside (email today): tickets and messages authored by a
contact rather than by a signed-in user, and system notes. Built from the tickets service's own
pieces (numbers, events, re-indexing, live refresh) so these tickets look like any other.

Callers have already decided who the contact is and which ticket a message belongs to; nothing here
trusts a header.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from helpline.db.base import utcnow
from helpline.domains.customers.models import Contact
from helpline.domains.tickets import content, service
from helpline.domains.tickets.models import (
    Attachment,
    AuthorKind,
    Message,
    Status,
    Ticket,
    TicketCC,
)
from helpline.platform import jobs
from helpline.platform.db import UnitOfWork
from helpline.platform.pubsub import PubSub

tickets = Ticket.__table__
messages = Message.__table__
attachments = Attachment.__table__
ccs = TicketCC.__table__
contacts = Contact.__table__


def _customer_event(
    ticket: dict[str, Any],
    kind: str,
    *,
    field: str | None = None,
    old: Any = None,
    new: Any = None,
    at: datetime,
) -> dict[str, Any]:
    row = service.event_row(ticket, None, kind, field, old, new, at=at)
    row["actor_kind"] = AuthorKind.customer.value
    return row


def _message_row(
    ticket: dict[str, Any],
    *,
    author_kind: str,
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
        "author_user_id": None,
        "author_contact_id": contact_id,
        "channel": channel,
        "body_text": body_text,
        "body_html": body_html,
        "created_at": at,
    }


def _contact_row(
    ticket: dict[str, Any], contact_id: int, text: NewTicket | ContactReply, at: datetime
) -> dict[str, Any]:
    """The row of a contact's public message (the first of a new ticket, or a reply)."""
    return _message_row(
        ticket,
        author_kind=AuthorKind.customer.value,
        contact_id=contact_id,
        body_text=text.body_text,
        body_html=text.body_html,
        public=True,
        channel=text.channel,
        at=at,
    )


async def _insert_messages(uow: UnitOfWork, rows: list[dict[str, Any]]) -> list[int]:
    """Ids of the new messages, in order; at most one message per ticket."""
    result = await uow.execute(messages.insert().returning(messages.c.id, messages.c.ticket_id), rows)
    by_ticket = {int(row[1]): int(row[0]) for row in result}
    return [by_ticket[r["ticket_id"]] for r in rows]


async def _insert_message(uow: UnitOfWork, ticket: dict[str, Any], **fields: Any) -> int:
    return (await _insert_messages(uow, [_message_row(ticket, **fields)]))[0]


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
    ticket number) per item, in order. A statement per table whatever the number of tickets (a
    channel that receives in bursts, like email, writes a burst at once)."""
    if not items:
        return []
    now = utcnow()
    numbers = await service.next_numbers(uow, workspace_id, len(items))
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
                        "status": Status.new.value,
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
    message_ids = await _insert_messages(
        uow,
        [
            _contact_row({"id": tid, "workspace_id": workspace_id}, item.contact_id, item, now)
            for tid, item in zip(ticket_ids, items, strict=True)
        ],
    )
    cc_rows = [
        {"ticket_id": tid, "contact_id": c}
        for tid, item in zip(ticket_ids, items, strict=True)
        for c in sorted({c for c in item.cc_contact_ids if c != item.contact_id})
    ]
    if cc_rows:
        await uow.execute(ccs.insert(), cc_rows)
    events: list[dict[str, Any]] = []
    for tid, mid, number, item in zip(ticket_ids, message_ids, numbers, items, strict=True):
        ticket = {"id": tid, "workspace_id": workspace_id}
        created = {
            "number": number,
            "subject": item.subject,
            "status": Status.new.value,
            "priority": "normal",
            "channel": item.channel,
            "requester_id": item.contact_id,
            "assignee_id": None,
            "group_id": item.group_id,
            "tags": [],
        }
        events.append(_customer_event(ticket, "created", new=created, at=now))
        events.append(
            _customer_event(ticket, "message_added", new={"message_id": mid, "public": True}, at=now)
        )
    await service.record(uow, events)
    await service.reindex_many(uow, ticket_ids)
    for tid in ticket_ids:
        service.after_change(uow, pubsub, workspace_id, tid, "created")
    return list(zip(ticket_ids, message_ids, numbers, strict=True))


async def add_contact_message(
    uow: UnitOfWork,
    pubsub: PubSub,
    ticket: dict[str, Any],
    *,
    contact_id: int,
    body_text: str,
    body_html: str,
    channel: str,
) -> int:
    """The contact's reply on ``ticket`` (a row with id, workspace_id, status, assignee_id): reopens a
    pending, on-hold or solved ticket and tells the assignee, like a customer's reply in the portal."""
    reply = ContactReply(ticket, contact_id, body_text, body_html, channel)
    return (await add_contact_messages(uow, pubsub, [reply]))[0]


@dataclass
class ContactReply:
    """A contact's message on an existing ticket (see :func:`add_contact_messages`)."""

    ticket: dict[str, Any]  # id, workspace_id, status, assignee_id as read when deciding
    contact_id: int
    body_text: str
    body_html: str
    channel: str


_REOPENS = (Status.pending, Status.solved, Status.on_hold)

# Run once per reply (executemany), so no IN list: that would be expanded for each execution.
_REOPENED = sa.or_(*(tickets.c.status == s.value for s in _REOPENS))
_TOUCH = (
    tickets.update()
    .where(tickets.c.id == sa.bindparam("b_id"))
    .values(
        updated_at=sa.bindparam("b_now"),
        version=tickets.c.version + 1,
        status=sa.case((_REOPENED, Status.open.value), else_=tickets.c.status),
        solved_at=sa.case((_REOPENED, None), else_=tickets.c.solved_at),
    )
)


async def add_contact_messages(uow: UnitOfWork, pubsub: PubSub, items: list[ContactReply]) -> list[int]:
    """Contacts' replies, at most one per ticket, a statement per table whatever their number: the
    message ids, in order. Each reopens a pending, on-hold or solved ticket and tells its assignee."""
    if not items:
        return []
    if len({i.ticket["id"] for i in items}) != len(items):
        raise ValueError("at most one reply per ticket in one call")
    now = utcnow()
    message_ids = await _insert_messages(
        uow,
        [_contact_row(i.ticket, i.contact_id, i, now) for i in items],
    )
    events: list[dict[str, Any]] = []
    notify: list[tuple[dict[str, Any], str | None]] = []
    for i, mid in zip(items, message_ids, strict=True):
        t = i.ticket
        events.append(_customer_event(t, "message_added", new={"message_id": mid, "public": True}, at=now))
        if t["status"] in _REOPENS:
            events.append(
                _customer_event(
                    t, "field_changed", field="status", old=t["status"], new=Status.open.value, at=now
                )
            )
        if t.get("assignee_id"):
            notify.append(({"ticket_id": t["id"], "user_id": t["assignee_id"], "message_id": mid}, None))
    await uow.execute(_TOUCH, [{"b_id": i.ticket["id"], "b_now": now} for i in items])
    await service.record(uow, events)
    await service.reindex_many(uow, [i.ticket["id"] for i in items])
    await jobs.enqueue_many(uow, "notify.customer_reply", notify)
    for i in items:
        service.after_change(uow, pubsub, i.ticket["workspace_id"], i.ticket["id"], "message_added")
    return message_ids


async def add_system_note(
    uow: UnitOfWork, pubsub: PubSub, ticket: dict[str, Any], *, text: str, channel: str
) -> int:
    """An internal note written by Helpline itself (a bounce, a delivery failure)."""
    now = utcnow()
    html = content.text_to_html(text)
    message_id = await _insert_message(
        uow,
        ticket,
        author_kind=AuthorKind.system.value,
        contact_id=None,
        body_text=text,
        body_html=html,
        public=False,
        channel=channel,
        at=now,
    )
    await service.record(
        uow,
        [
            service.event_row(
                ticket, None, "message_added", new={"message_id": message_id, "public": False}, at=now
            )
        ],
    )
    await uow.execute(
        tickets.update()
        .where(tickets.c.id == ticket["id"])
        .values(updated_at=now, version=tickets.c.version + 1)
    )
    service.after_change(uow, pubsub, ticket["workspace_id"], ticket["id"], "message_added")
    return message_id


async def add_ccs(
    uow: UnitOfWork, ticket: dict[str, Any], contact_ids: list[int], *, requester_id: int
) -> list[int]:
    """Copy these contacts on the ticket (those not already on it); the ids added."""
    wanted = {c for c in contact_ids if c != requester_id}
    if not wanted:
        return []
    have = {
        r[0] for r in await uow.execute(sa.select(ccs.c.contact_id).where(ccs.c.ticket_id == ticket["id"]))
    }
    new = sorted(wanted - have)
    if new:
        await uow.execute(ccs.insert(), [{"ticket_id": ticket["id"], "contact_id": c} for c in new])
        await service.record(
            uow,
            [
                _customer_event(
                    ticket,
                    "field_changed",
                    field="cc_contact_ids",
                    old=sorted(have),
                    new=sorted(have | set(new)),
                    at=utcnow(),
                )
            ],
        )
    return new


async def attach_files(
    uow: UnitOfWork, *, workspace_id: int, message_id: int, files: list[dict[str, Any]]
) -> None:
    """Attachment rows for files already in storage (``filename``, ``content_type``, ``size``, ``sha256``)."""
    await attach_files_many(uow, workspace_id, [(message_id, files)])


async def attach_files_many(
    uow: UnitOfWork, workspace_id: int, per_message: list[tuple[int, list[dict[str, Any]]]]
) -> None:
    """:func:`attach_files` for several messages in one statement."""
    now = utcnow()
    rows = [
        {
            "workspace_id": workspace_id,
            "message_id": message_id,
            "filename": f["filename"][:255],
            "content_type": f["content_type"][:255],
            "size": f["size"],
            "sha256": f["sha256"],
            "created_at": now,
        }
        for message_id, files in per_message
        for f in files
    ]
    if rows:
        await uow.execute(attachments.insert(), rows)
