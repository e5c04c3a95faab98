"""How chats become tickets: every write to the tickets domain that the chat channel makes goes
through here, and from here through the tickets service (its batch writer of customers' messages,
its assignment path), so a chat is a ticket like any other in the inbox: the same status rules,
events and notices.

What is chat's own: each stored message gets its sequence numbers (``chat_messages``) in the same
transaction, under a lock on the chat session's row, so numbers follow commit order; and a message
whose client id was already stored on the ticket is not stored again.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

import sqlalchemy as sa

from helpline.db.base import utcnow
from helpline.domains.accounts.principal import Principal
from helpline.domains.channels.chat.models import ChatMessage, ChatSession, ChatState, ChatVisitor
from helpline.domains.tickets import content, service
from helpline.domains.tickets.models import Ticket
from helpline.platform.db import UnitOfWork
from helpline.platform.pubsub import PubSub

sessions = ChatSession.__table__
chat_messages = ChatMessage.__table__
tickets = Ticket.__table__

create_ticket = service.create_ticket_from_contact
attach_files = service.attach_files


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
    """The visitor's message, alone: the tickets service's customer writer, as a live line (see
    :func:`store_visitor_lines`)."""
    text, html = content.render_body(body, is_html=False)
    line = service.CustomerMessage(ticket, contact_id, text, html, "chat")
    return (await service.add_customer_messages(uow, pubsub, [line], live=True))[0]


@dataclass
class VisitorLine:
    """One visitor message to store: its chat, client id, text and html, and uploaded files."""

    ticket_id: int
    client_id: str | None
    text: str
    html: str
    files: list[dict[str, Any]] = dc_field(default_factory=list)


@dataclass
class Stored:
    """A stored visitor message: its numbers (as :func:`number` gives them) and the visitor's name."""

    numbered: dict[str, Any]
    name: str
    workspace_id: int


@dataclass
class _Chat:
    """A chat as :func:`_take_numbers` returns it: its counters after the bump, and what storing needs."""

    seq: int
    pseq: int
    workspace_id: int
    contact_id: int
    name: str
    status: str
    assignee_id: int | None
    taken: int = 0


_ended = ChatState.ended.value
# Spelled out qualified: SQLAlchemy writes SQLite's RETURNING columns unqualified, and a bare
# ``ticket_id`` inside a subquery there could name the subquery's own column.
_SESSIONS_TICKET: sa.ColumnElement[int] = sa.literal_column("chat_sessions.ticket_id")
_SESSIONS_VISITOR: sa.ColumnElement[int] = sa.literal_column("chat_sessions.visitor_id")
_visitors = ChatVisitor.__table__
_INSERT_NUMBERS = chat_messages.insert()


def _take_numbers(counts: dict[int, int], client_ids: list[str]) -> sa.Update:
    """Bump the counters of these chats by their count of new public messages, in one statement that
    locks their rows (PostgreSQL) and returns what storing needs: the new counters, the visitor's
    contact and name, the ticket's status and assignee. Chats that ended, or that already stored one of these
    client ids (a resend), are left out: the caller stores those one by one."""
    n = (
        sa.case(counts, value=sessions.c.ticket_id)
        if len(counts) > 1
        else sa.literal(next(iter(counts.values())))
    )
    dup = sa.exists().where(
        chat_messages.c.ticket_id == sessions.c.ticket_id, chat_messages.c.client_id.in_(client_ids)
    )
    return (
        sessions.update()
        .where(sessions.c.ticket_id.in_(list(counts)), sessions.c.state != _ended, ~dup)
        .values(seq=sessions.c.seq + n, pseq=sessions.c.pseq + n)
        .returning(
            sessions.c.ticket_id,
            sessions.c.seq,
            sessions.c.pseq,
            sessions.c.workspace_id,
            sa.select(_visitors.c.contact_id).where(_visitors.c.id == _SESSIONS_VISITOR).scalar_subquery(),
            sa.select(_visitors.c.name).where(_visitors.c.id == _SESSIONS_VISITOR).scalar_subquery(),
            sa.select(tickets.c.status).where(tickets.c.id == _SESSIONS_TICKET).scalar_subquery(),
            sa.select(tickets.c.assignee_id).where(tickets.c.id == _SESSIONS_TICKET).scalar_subquery(),
        )
    )


async def store_visitor_lines(
    uow: UnitOfWork, pubsub: PubSub, lines: list[VisitorLine]
) -> list[Stored | None]:
    """Store visitors' messages (of one chat or several) in ``uow`` with their numbers, in a fixed
    number of statements however many there are: the counters, then the tickets service's batch
    writer of customers' messages (the messages, the tickets' update, the events: the status rules
    and notices of any customer's reply, as live lines), then the numbers.

    Returns, in order, what was stored, or None for a line left to the caller to store alone
    (its chat ended, or a client id of its chat was stored before)."""
    counts: dict[int, int] = {}
    for line in lines:
        counts[line.ticket_id] = counts.get(line.ticket_id, 0) + 1
    cids = sorted({line.client_id for line in lines if line.client_id})
    chats: dict[int, _Chat] = {
        int(r[0]): _Chat(
            int(r[1]),
            int(r[2]),
            int(r[3]),
            int(r[4]),
            str(r[5] or ""),
            str(r[6]),
            int(r[7]) if r[7] is not None else None,
        )
        for r in await uow.execute(_take_numbers(counts, cids))
    }
    mine = [line for line in lines if line.ticket_id in chats]
    if not mine:
        return [None] * len(lines)
    now = utcnow()
    tickets_of = {
        t: {"id": t, "workspace_id": c.workspace_id, "status": c.status, "assignee_id": c.assignee_id}
        for t, c in chats.items()
    }
    ids = await service.add_customer_messages(
        uow,
        pubsub,
        [
            service.CustomerMessage(
                tickets_of[line.ticket_id], chats[line.ticket_id].contact_id, line.text, line.html, "chat"
            )
            for line in mine
        ],
        live=True,
        at=now,
    )
    numbers: list[dict[str, Any]] = []
    stored: dict[int, Stored] = {}
    files: dict[int, list[tuple[int, list[dict[str, Any]]]]] = {}
    for line, mid in zip(mine, ids, strict=True):
        t, chat = line.ticket_id, chats[line.ticket_id]
        chat.taken += 1
        back = counts[t] - chat.taken  # numbers run in the order the lines came
        values = {
            "ticket_id": t,
            "seq": chat.seq - back,
            "pseq": chat.pseq - back,
            "message_id": mid,
            "client_id": line.client_id,
            "public": True,
            "created_at": now,
        }
        numbers.append(values)
        stored[id(line)] = Stored(values, chat.name, chat.workspace_id)
        if line.files:
            files.setdefault(chat.workspace_id, []).append((mid, line.files))
    for ws, per_message in files.items():
        await service.attach_files_many(uow, ws, per_message)
    await uow.execute(_INSERT_NUMBERS, numbers)
    return [stored.get(id(line)) for line in lines]


add_system_note = service.add_system_note


async def set_fields(
    uow: UnitOfWork, pubsub: PubSub, ticket: dict[str, Any], actor: Principal | None, **changes: Any
) -> None:
    """Change assignee, group or status of a chat's ticket through the tickets service's path for the
    system and routing (``service.set_fields``): auto-assignment (``actor`` None) and an agent's
    accept, transfer and end get the same events, status rules and assignee's notice as any change."""
    await service.set_fields(uow, pubsub, ticket, actor, **changes)


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
