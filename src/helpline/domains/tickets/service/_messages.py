"""Adding a message (reply or internal note) to a ticket."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from helpline.db.base import utcnow
from helpline.domains.accounts.principal import Principal
from helpline.domains.tickets import channel_port, content
from helpline.domains.tickets.models import (
    AuthorKind,
    Status,
)
from helpline.domains.tickets.schemas import MessageCreate
from helpline.domains.tickets.service._common import (
    after_change,
    event_row,
    messages,
    record,
    reindex,
    tickets,
)
from helpline.errors import Conflict, Forbidden
from helpline.platform import jobs
from helpline.platform.db import UnitOfWork
from helpline.platform.pubsub import PubSub


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
    if actor is None:
        kind, user_id, contact_id = AuthorKind.system.value, None, None
    elif actor.is_customer:
        kind, user_id, contact_id = AuthorKind.customer.value, actor.user_id, actor.contact_id
    else:
        kind, user_id, contact_id = AuthorKind.agent.value, actor.user_id, None
    return int(
        (
            await uow.execute(
                messages.insert()
                .values(
                    workspace_id=ticket["workspace_id"],
                    ticket_id=ticket["id"],
                    public=public,
                    author_kind=kind,
                    author_user_id=user_id,
                    author_contact_id=contact_id,
                    channel=channel,
                    body_text=body_text,
                    body_html=body_html,
                    created_at=at or utcnow(),
                )
                .returning(messages.c.id)
            )
        ).scalar_one()
    )


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
    if ticket["status"] == Status.closed and actor.is_customer:
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
    now = utcnow()
    message_id = await insert_message(
        uow, actor, ticket, body_text=text, body_html=html, public=data.public, channel=channel, at=now
    )
    await content.attach_uploads(
        uow,
        workspace_id=ticket["workspace_id"],
        user_id=actor.user_id,
        message_id=message_id,
        tokens=data.attachments,
    )
    if actor.is_staff:
        # The ticket's channels deliver it in this transaction (chat numbers and pushes it, email
        # queues it). Before the ticket's row is updated: a channel may lock a row of its own
        # (chat's session), which its inbound path locks before the ticket's.
        await channel_port.staff_message_written(
            uow,
            ticket,
            actor,
            message_id=message_id,
            public=data.public,
            body_text=text,
            body_html=html,
            written_via=channel,
            files=len(data.attachments),
            at=now,
        )
    new_status = ticket["status"]
    customer_reopens = actor.is_customer and ticket["status"] in (
        Status.pending,
        Status.solved,
        Status.on_hold,
    )
    if customer_reopens or (actor.is_staff and data.public and ticket["status"] == Status.new):
        new_status = Status.open.value
    rows = [
        event_row(
            ticket, actor, "message_added", new={"message_id": message_id, "public": data.public}, at=now
        )
    ]
    values: dict[str, Any] = {"updated_at": now, "version": tickets.c.version + 1}
    if new_status != ticket["status"]:
        values["status"] = new_status
        values["solved_at"] = None
        rows.append(event_row(ticket, actor, "field_changed", "status", ticket["status"], new_status, at=now))
    await uow.execute(tickets.update().where(tickets.c.id == ticket["id"]).values(**values))
    await record(uow, rows)
    await reindex(uow, ticket["id"])
    if actor.is_customer and ticket["assignee_id"]:
        await jobs.enqueue(
            uow,
            "notify.customer_reply",
            {"ticket_id": ticket["id"], "user_id": ticket["assignee_id"], "message_id": message_id},
        )
    after_change(uow, pubsub, ticket["workspace_id"], ticket["id"], "message_added")
    return message_id
