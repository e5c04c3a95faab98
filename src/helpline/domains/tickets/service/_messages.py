"""Adding a message (reply or internal note) to a ticket, by a signed-in person.

Staff messages are written here. A customer's message, whichever way it comes (the portal, the API,
email, chat), is written by the batch writer in ``_inbound`` (:func:`add_customer_messages`): the
reopen rule, its events and the assignee's notice live there once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from helpline.db.base import utcnow
from helpline.domains.accounts.principal import Principal
from helpline.domains.tickets import channel_port, content, lifecycle
from helpline.domains.tickets.events import Author, MessageAdded, StatusChanged, TicketEvent, record
from helpline.domains.tickets.models import AuthorKind
from helpline.domains.tickets.schemas import MessageCreate
from helpline.domains.tickets.service._common import after_change, messages, reindex, tickets
from helpline.domains.tickets.service._inbound import CustomerMessage, add_customer_messages
from helpline.errors import Conflict, Forbidden
from helpline.platform.db import UnitOfWork
from helpline.platform.pubsub import PubSub


def author_kind(actor: Principal | None) -> str:
    if actor is None:
        return AuthorKind.system.value
    return AuthorKind.customer.value if actor.is_customer else AuthorKind.agent.value


async def insert_message(
    uow: UnitOfWork,
    actor: Principal | None,
    ticket: dict[str, Any],
    *,
    body_text: str,
    body_html: str,
    public: bool,
    channel: str,
    at: datetime | None = None,
) -> int:
    """The message row alone (its event, and what it does to the ticket, are the caller's)."""
    kind = author_kind(actor)
    params = {
        "workspace_id": ticket["workspace_id"],
        "ticket_id": ticket["id"],
        "public": public,
        "author_kind": kind,
        "author_user_id": actor.user_id if actor else None,
        "author_contact_id": actor.contact_id if actor and actor.is_customer else None,
        "channel": channel,
        "body_text": body_text,
        "body_html": body_html,
        "created_at": at or utcnow(),
    }
    return int((await uow.execute(_INSERT, params)).scalar_one())


# Built once, so that each execution reuses its cache key (see ``_create``).
_INSERT = messages.insert().returning(messages.c.id)


def check_message(actor: Principal, ticket: dict[str, Any], data: MessageCreate) -> None:
    if actor.is_customer and not data.public:
        raise Forbidden(
            "public: customers cannot write internal notes",
            errors=[{"field": "public", "message": "must be true"}],
        )
    if data.public and not actor.can_reply_publicly:
        raise Forbidden(
            "public: light agents add internal notes only; send public=false",
            errors=[{"field": "public", "message": "light agents cannot reply publicly"}],
        )
    if actor.is_customer and not lifecycle.customer_may_write(ticket["status"]):
        raise Conflict("this request is closed; open a new one to follow up")


async def add_message(
    uow: UnitOfWork,
    pubsub: PubSub,
    actor: Principal,
    ticket: dict[str, Any],
    data: MessageCreate,
    *,
    channel: str = "api",
) -> int:
    check_message(actor, ticket, data)
    text, html = content.render_body(data.body, is_html=data.html)
    if actor.is_staff:
        return await _add_staff_message(
            uow, pubsub, actor, ticket, text, html, data.public, channel, uploads=data.attachments
        )
    message_id = await _add_customer_message(uow, pubsub, actor, ticket, text, html, channel)
    await _attach(uow, actor, ticket, message_id, data.attachments)
    return message_id


async def _add_customer_message(
    uow: UnitOfWork,
    pubsub: PubSub,
    actor: Principal,
    ticket: dict[str, Any],
    text: str,
    html: str,
    channel: str,
) -> int:
    """A signed-in customer's reply (portal, API): the channels' writer, as a batch of one."""
    item = CustomerMessage(
        ticket, actor.contact_id, text, html, channel, author=Author(AuthorKind.customer.value, actor.user_id)
    )
    return (await add_customer_messages(uow, pubsub, [item]))[0]


async def _add_staff_message(
    uow: UnitOfWork,
    pubsub: PubSub,
    actor: Principal,
    ticket: dict[str, Any],
    text: str,
    html: str,
    public: bool,
    channel: str,
    *,
    uploads: list[str],
) -> int:
    now = utcnow()
    message_id = await insert_message(
        uow, actor, ticket, body_text=text, body_html=html, public=public, channel=channel, at=now
    )
    await _attach(uow, actor, ticket, message_id, uploads)  # before the channels: they send the files
    # The ticket's channels deliver it in this transaction (chat numbers and pushes it, email
    # queues it). Before the ticket's row is updated: a channel may lock a row of its own
    # (chat's session), which its inbound path locks before the ticket's.
    await channel_port.staff_message_written(
        uow,
        ticket,
        actor,
        message_id=message_id,
        public=public,
        body_text=text,
        body_html=html,
        written_via=channel,
        files=len(uploads),
        at=now,
    )
    change = lifecycle.after_staff_message(ticket["status"], public=public)
    events: list[TicketEvent] = [MessageAdded(message_id, public, channel, author_kind(actor))]
    values: dict[str, Any] = {"updated_at": now, "version": tickets.c.version + 1}
    if change is not None:
        values["status"] = change.new
        values["solved_at"] = now if change.stamps_solved_at else None
        events.append(StatusChanged(change.old, change.new))
    await uow.execute(tickets.update().where(tickets.c.id == ticket["id"]).values(**values))
    await record(uow, ticket, actor, events, at=now)
    await reindex(uow, ticket["id"])
    after_change(uow, pubsub, ticket["workspace_id"], ticket["id"], "message_added")
    return message_id


async def _attach(
    uow: UnitOfWork, actor: Principal, ticket: dict[str, Any], message_id: int, tokens: list[str]
) -> None:
    await content.attach_uploads(
        uow, workspace_id=ticket["workspace_id"], user_id=actor.user_id, message_id=message_id, tokens=tokens
    )
