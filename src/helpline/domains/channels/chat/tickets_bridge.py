"""How chats become tickets: every write to the tickets domain that the chat channel makes goes
through here, built from ``tickets.inbound`` (contact-authored tickets) and ``tickets.service``'s own
pieces (events, re-indexing, live refresh), so a chat is a ticket like any other in the inbox.

What is chat's own: each stored message gets its sequence numbers (``chat_messages``) in the same
transaction, under a lock on the chat session's row, so numbers follow commit order; and a message
whose client id was already stored on the ticket is not stored again.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from helpline.db.base import utcnow
from helpline.domains.channels.chat.models import ChatMessage, ChatSession
from helpline.domains.tickets import content, inbound, service
from helpline.domains.tickets.models import AuthorKind, Message, Status, Ticket
from helpline.domains.tickets.schemas import MessageCreate
from helpline.platform.db import UnitOfWork
from helpline.platform.pubsub import PubSub
from helpline.web.principal import Principal

sessions = ChatSession.__table__
chat_messages = ChatMessage.__table__
tickets = Ticket.__table__
messages = Message.__table__

create_ticket = inbound.create_ticket_from_contact
attach_files = inbound.attach_files


async def lock_session(uow: UnitOfWork, ticket_id: int) -> dict[str, Any] | None:
    """The chat session of ``ticket_id``, its row locked until commit (PostgreSQL; SQLite has one writer)."""
    q = sa.select(sessions).where(sessions.c.ticket_id == ticket_id)
    if uow.dialect == "postgresql":
        q = q.with_for_update()
    row = (await uow.execute(q)).mappings().first()
    return dict(row) if row else None


async def prepare(
    uow: UnitOfWork, ticket_id: int, visitor_id: int, client_id: str | None
) -> dict[str, Any] | None:
    """Before storing a visitor's message, in one statement: the chat session (its row locked until
    commit on PostgreSQL), the ticket's status and assignee, the visitor's contact and name, and
    the numbers of a message already stored with ``client_id`` (a resend), if any."""
    from helpline.domains.channels.chat.models import ChatVisitor

    visitors = ChatVisitor.__table__
    dup = sa.select(chat_messages.c.seq, chat_messages.c.pseq).where(
        chat_messages.c.ticket_id == ticket_id, chat_messages.c.client_id == (client_id or "")
    )
    q = (
        sa.select(
            sessions.c.state,
            sessions.c.workspace_id,
            tickets.c.status,
            tickets.c.assignee_id,
            visitors.c.contact_id,
            visitors.c.name,
            dup.with_only_columns(chat_messages.c.seq).scalar_subquery().label("dup_seq"),
            dup.with_only_columns(chat_messages.c.pseq).scalar_subquery().label("dup_pseq"),
        )
        .join(tickets, tickets.c.id == sessions.c.ticket_id)
        .join(visitors, visitors.c.id == visitor_id)
        .where(sessions.c.ticket_id == ticket_id)
    )
    if uow.dialect == "postgresql":
        q = q.with_for_update(of=sessions)
    row = (await uow.execute(q)).mappings().first()
    return dict(row) if row else None


async def existing(uow: UnitOfWork, ticket_id: int, client_id: str | None) -> dict[str, Any] | None:
    """The stored message that carried ``client_id`` on this ticket, if any (a resend)."""
    if not client_id:
        return None
    row = (
        (
            await uow.execute(
                sa.select(chat_messages).where(
                    chat_messages.c.ticket_id == ticket_id, chat_messages.c.client_id == client_id
                )
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


async def number(
    uow: UnitOfWork, ticket_id: int, message_id: int, *, public: bool, client_id: str | None
) -> dict[str, Any]:
    """Give ``message_id`` the next sequence numbers of its conversation (call with the session locked)."""
    row = (
        await uow.execute(
            sessions.update()
            .where(sessions.c.ticket_id == ticket_id)
            .values(
                seq=sessions.c.seq + 1,
                pseq=sessions.c.pseq + (1 if public else 0),
            )
            .returning(sessions.c.seq, sessions.c.pseq)
        )
    ).one()
    values = {
        "ticket_id": ticket_id,
        "seq": int(row[0]),
        "pseq": int(row[1]) if public else None,
        "message_id": message_id,
        "client_id": client_id or None,
        "public": public,
        "created_at": utcnow(),
    }
    await uow.execute(chat_messages.insert().values(**values))
    return values


async def ticket_row(uow: UnitOfWork, ticket_id: int) -> dict[str, Any]:
    return dict((await uow.execute(sa.select(tickets).where(tickets.c.id == ticket_id))).mappings().one())


async def add_visitor_message(
    uow: UnitOfWork, pubsub: PubSub, ticket: dict[str, Any], *, contact_id: int, body: str
) -> int:
    """The visitor's message: like ``inbound.add_contact_message`` (reopens a pending or solved ticket),
    without mailing the assignee about every line of a live chat."""
    now = utcnow()
    text, html = content.render_body(body, is_html=False)
    message_id = int(
        (
            await uow.execute(
                messages.insert()
                .values(
                    workspace_id=ticket["workspace_id"],
                    ticket_id=ticket["id"],
                    public=True,
                    author_kind=AuthorKind.customer.value,
                    author_user_id=None,
                    author_contact_id=contact_id,
                    channel="chat",
                    body_text=text,
                    body_html=html,
                    created_at=now,
                )
                .returning(messages.c.id)
            )
        ).scalar_one()
    )
    rows = [
        service.event_row(
            ticket, None, "message_added", new={"message_id": message_id, "public": True}, at=now
        )
    ]
    rows[0]["actor_kind"] = AuthorKind.customer.value
    values: dict[str, Any] = {"updated_at": now, "version": tickets.c.version + 1}
    if ticket["status"] in (Status.pending, Status.solved, Status.on_hold):
        values.update(status=Status.open.value, solved_at=None)
        ev = service.event_row(
            ticket, None, "field_changed", "status", ticket["status"], Status.open.value, at=now
        )
        ev["actor_kind"] = AuthorKind.customer.value
        rows.append(ev)
    await uow.execute(tickets.update().where(tickets.c.id == ticket["id"]).values(**values))
    await service.record(uow, rows)
    # Not re-indexed here: a live chat writes many small messages, and each job enqueued wakes the
    # job runner for a write of its own. The ticket is re-indexed when an agent writes (the tickets
    # service does) and when the chat ends (routing.end).
    service.after_change(uow, pubsub, ticket["workspace_id"], ticket["id"], "message_added")
    return message_id


async def add_agent_message(
    uow: UnitOfWork, pubsub: PubSub, actor: Principal, ticket: dict[str, Any], *, body: str, public: bool
) -> int:
    """An agent's reply or internal note, by the tickets service's own rules (light agents: notes only)."""
    return await service.add_message(
        uow, pubsub, actor, ticket, MessageCreate(body=body, public=public), channel="chat"
    )


add_system_note = inbound.add_system_note


async def set_fields(
    uow: UnitOfWork, pubsub: PubSub, ticket: dict[str, Any], actor: Principal | None, **changes: Any
) -> None:
    """Change assignee, group or status of a chat's ticket, one event per changed field.

    Auto-assignment and transfers act for the system or for an agent who may not otherwise edit the
    ticket's properties (a light agent never gets here: callers check), so this bypasses
    ``service.update_ticket``'s If-Match and property rules but keeps its events and live refresh."""
    now = utcnow()
    values: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    for field, new in changes.items():
        if ticket[field] != new:
            values[field] = new
            rows.append(service.event_row(ticket, actor, "field_changed", field, ticket[field], new, at=now))
    if not values:
        return
    if "status" in values:
        values["solved_at"] = now if values["status"] in (Status.solved, Status.closed) else None
    values.update(updated_at=now, version=tickets.c.version + 1)
    await uow.execute(tickets.update().where(tickets.c.id == ticket["id"]).values(**values))
    await service.record(uow, rows)
    service.after_change(uow, pubsub, ticket["workspace_id"], ticket["id"], "updated")


async def continue_by_email(uow: UnitOfWork, workspace_id: int, ticket_id: int) -> bool:
    """Hand a chat over to the email channel: with an active mailbox in the workspace, the ticket
    becomes one that mailbox serves, so agents' later replies go out by email and the customer's
    answers thread back (the email channel's outbox and threading do the rest)."""
    from helpline.domains.channels.email.models import EmailThread, Mailbox

    threads, boxes = EmailThread.__table__, Mailbox.__table__
    if (await uow.execute(sa.select(threads.c.ticket_id).where(threads.c.ticket_id == ticket_id))).first():
        return True
    box = (
        await uow.execute(
            sa.select(boxes.c.id)
            .where(boxes.c.workspace_id == workspace_id, boxes.c.active.is_(True))
            .order_by(boxes.c.id)
            .limit(1)
        )
    ).scalar()
    if box is None:
        return False
    await uow.execute(
        threads.insert().values(ticket_id=ticket_id, mailbox_id=int(box), workspace_id=workspace_id)
    )
    return True
