"""Writes for conversations that arrive from outside (email today): tickets and messages authored by a
contact rather than by a signed-in user, and system notes. Built from the tickets service's own
pieces (numbers, events, re-indexing, live refresh) so these tickets look like any other.

Callers have already decided who the contact is and which ticket a message belongs to; nothing here
trusts a header.
"""

from __future__ import annotations

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


async def _insert_message(
    uow: UnitOfWork,
    ticket: dict[str, Any],
    *,
    author_kind: str,
    contact_id: int | None,
    body_text: str,
    body_html: str,
    public: bool,
    channel: str,
    at: datetime,
) -> int:
    return int(
        (
            await uow.execute(
                messages.insert()
                .values(
                    workspace_id=ticket["workspace_id"],
                    ticket_id=ticket["id"],
                    public=public,
                    author_kind=author_kind,
                    author_user_id=None,
                    author_contact_id=contact_id,
                    channel=channel,
                    body_text=body_text,
                    body_html=body_html,
                    created_at=at,
                )
                .returning(messages.c.id)
            )
        ).scalar_one()
    )


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
    now = utcnow()
    number = await service.next_number(uow, workspace_id)
    org = (
        await uow.execute(sa.select(contacts.c.organization_id).where(contacts.c.id == contact_id))
    ).scalar()
    ticket_id = int(
        (
            await uow.execute(
                tickets.insert()
                .values(
                    workspace_id=workspace_id,
                    number=number,
                    subject=(subject or "(no subject)")[:500],
                    status=Status.new.value,
                    priority="normal",
                    type=None,
                    channel=channel,
                    requester_id=contact_id,
                    organization_id=org,
                    assignee_id=None,
                    group_id=group_id,
                    due_at=None,
                    custom={},
                    version=1,
                    created_at=now,
                    updated_at=now,
                )
                .returning(tickets.c.id)
            )
        ).scalar_one()
    )
    ticket = {"id": ticket_id, "workspace_id": workspace_id}
    message_id = await _insert_message(
        uow,
        ticket,
        author_kind=AuthorKind.customer.value,
        contact_id=contact_id,
        body_text=body_text,
        body_html=body_html,
        public=True,
        channel=channel,
        at=now,
    )
    cc_ids = sorted({c for c in cc_contact_ids or [] if c != contact_id})
    if cc_ids:
        await uow.execute(ccs.insert(), [{"ticket_id": ticket_id, "contact_id": c} for c in cc_ids])
    await service.record(
        uow,
        [
            _customer_event(
                ticket,
                "created",
                new={
                    "number": number,
                    "subject": subject,
                    "status": Status.new.value,
                    "priority": "normal",
                    "channel": channel,
                    "requester_id": contact_id,
                    "assignee_id": None,
                    "group_id": group_id,
                    "tags": [],
                },
                at=now,
            ),
            _customer_event(ticket, "message_added", new={"message_id": message_id, "public": True}, at=now),
        ],
    )
    await service.reindex(uow, ticket_id)
    service.after_change(uow, pubsub, workspace_id, ticket_id, "created")
    return ticket_id, message_id, number


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
    now = utcnow()
    message_id = await _insert_message(
        uow,
        ticket,
        author_kind=AuthorKind.customer.value,
        contact_id=contact_id,
        body_text=body_text,
        body_html=body_html,
        public=True,
        channel=channel,
        at=now,
    )
    rows = [_customer_event(ticket, "message_added", new={"message_id": message_id, "public": True}, at=now)]
    values: dict[str, Any] = {"updated_at": now, "version": tickets.c.version + 1}
    if ticket["status"] in (Status.pending, Status.solved, Status.on_hold):
        values.update(status=Status.open.value, solved_at=None)
        rows.append(
            _customer_event(
                ticket, "field_changed", field="status", old=ticket["status"], new=Status.open.value, at=now
            )
        )
    await uow.execute(tickets.update().where(tickets.c.id == ticket["id"]).values(**values))
    await service.record(uow, rows)
    await service.reindex(uow, ticket["id"])
    if ticket.get("assignee_id"):
        await jobs.enqueue(
            uow,
            "notify.customer_reply",
            {"ticket_id": ticket["id"], "user_id": ticket["assignee_id"], "message_id": message_id},
        )
    service.after_change(uow, pubsub, ticket["workspace_id"], ticket["id"], "message_added")
    return message_id


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
    if not files:
        return
    now = utcnow()
    await uow.execute(
        attachments.insert(),
        [
            {
                "workspace_id": workspace_id,
                "message_id": message_id,
                "filename": f["filename"][:255],
                "content_type": f["content_type"][:255],
                "size": f["size"],
                "sha256": f["sha256"],
                "created_at": now,
            }
            for f in files
        ],
    )
