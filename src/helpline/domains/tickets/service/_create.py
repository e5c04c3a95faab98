"""Creating a ticket by a signed-in person (API, console, portal); the channels create theirs in
batches through ``_inbound``."""

from __future__ import annotations

import sqlalchemy as sa

from helpline.db.base import utcnow
from helpline.domains.accounts.models import Role
from helpline.domains.accounts.principal import Principal
from helpline.domains.accounts.service import ticket_sequence
from helpline.domains.customers import service as customers
from helpline.domains.tickets import content, fields, lifecycle, queries
from helpline.domains.tickets.events import Created, MessageAdded, record
from helpline.domains.tickets.schemas import TicketCreate
from helpline.domains.tickets.service._common import (
    after_change,
    cc_contacts,
    cc_rows,
    check_assignee,
    check_group,
    contacts_t,
    find_or_create_contact,
    next_number,
    reindex,
    tag_rows,
    tickets,
)
from helpline.domains.tickets.service._messages import author_kind, insert_message
from helpline.errors import Forbidden, Invalid
from helpline.platform import jobs
from helpline.platform.db import UnitOfWork
from helpline.platform.pubsub import PubSub

# Built once: a statement object keeps its cache key, so executing it again skips building and
# hashing the statement (a third of the SQL layer's time per create). The number and the requester's
# organization are read inside the INSERT (no round trips of their own), and RETURNING hands back
# the row as stored, so nothing is read back to answer.
_ORGANIZATION = (
    sa.select(contacts_t.c.organization_id)
    .where(contacts_t.c.id == sa.bindparam("requester"))
    .scalar_subquery()
)
_INSERT = tickets.insert().values(organization_id=_ORGANIZATION).returning(*tickets.c)
_INSERT_PG = (
    tickets.insert()
    .values(organization_id=_ORGANIZATION, number=sa.func.nextval(sa.bindparam("sequence")))
    .returning(*tickets.c)
)


def check_create(actor: Principal, data: TicketCreate) -> None:
    if actor.role is Role.light_agent:
        raise Forbidden("light agents cannot create tickets")
    if actor.is_customer:
        for name in ("requester", "requester_id", "assignee_id", "group_id", "due_at"):
            if getattr(data, name) is not None:
                raise Forbidden(
                    f"{name}: customers cannot set this", errors=[{"field": name, "message": "not allowed"}]
                )
        if not data.public:
            raise Forbidden("public: customers cannot write internal notes")
    elif data.requester is None and data.requester_id is None:
        raise Invalid("requester", "give requester {email, name} or requester_id")


async def create_ticket(uow: UnitOfWork, pubsub: PubSub, actor: Principal, data: TicketCreate) -> int:
    check_create(actor, data)
    ws = actor.workspace_id
    if actor.is_customer:
        if actor.contact_id is None:
            raise Forbidden("this sign-in has no contact to file tickets for")
        requester_id = actor.contact_id
    elif data.requester_id is not None:
        await customers.require_contact(uow, ws, data.requester_id, "requester_id")
        requester_id = data.requester_id
    else:
        assert data.requester is not None
        requester_id = await find_or_create_contact(
            uow, ws, email=str(data.requester.email), name=data.requester.name
        )
    if data.assignee_id is not None:
        await check_assignee(uow, ws, data.assignee_id)
    if data.group_id is not None:
        await check_group(uow, ws, data.group_id)
    defs = await fields.definitions(uow.conn, ws) if (data.custom_fields or not actor.is_customer) else {}
    custom = (
        fields.validate_values(defs, data.custom_fields, customer=actor.is_customer)
        if defs or data.custom_fields
        else {}
    )
    text, html = content.render_body(data.body, is_html=data.html)
    status = lifecycle.initial()
    now = utcnow()
    # The number and the requester's organization are read inside the INSERT (no round trips of
    # their own), and RETURNING hands back the row as stored, so nothing is read back to answer.
    params = {
        "workspace_id": ws,
        "subject": data.subject,
        "status": status,
        "priority": data.priority.value,
        "type": data.type.value if data.type else None,
        "channel": data.channel.value,
        "requester_id": requester_id,
        "requester": requester_id,
        "assignee_id": data.assignee_id,
        "group_id": data.group_id,
        "due_at": data.due_at,
        "custom": custom,
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }
    if uow.dialect == "postgresql":
        params["sequence"] = ticket_sequence(ws)
        stmt = _INSERT_PG
    else:
        params["number"] = await next_number(uow, ws)
        stmt = _INSERT
    row = dict((await uow.execute(stmt, params)).mappings().one())
    ticket_id, number = int(row["id"]), int(row["number"])
    ticket = {"id": ticket_id, "workspace_id": ws}
    message_id = await insert_message(
        uow,
        actor,
        ticket,
        body_text=text,
        body_html=html,
        public=data.public,
        channel=data.channel.value,
        at=now,
    )
    await content.attach_uploads(
        uow, workspace_id=ws, user_id=actor.user_id, message_id=message_id, tokens=data.attachments
    )
    tag_set = sorted(set(data.tags))
    if tag_set:
        await uow.execute(
            tag_rows.insert(), [{"ticket_id": ticket_id, "tag": t, "workspace_id": ws} for t in tag_set]
        )
    cc_ids: list[int] = []
    if data.cc_emails:
        ids = await cc_contacts(uow, ws, [str(e) for e in data.cc_emails])
        cc_ids = sorted(c for c in ids if c != requester_id)
        await uow.execute(cc_rows.insert(), [{"ticket_id": ticket_id, "contact_id": c} for c in cc_ids])
    created = Created(
        number=number,
        subject=data.subject,
        status=status,
        priority=data.priority.value,
        channel=data.channel.value,
        requester_id=requester_id,
        assignee_id=data.assignee_id,
        group_id=data.group_id,
        tags=tuple(tag_set),
    )
    added = MessageAdded(message_id, data.public, data.channel.value, author_kind(actor))
    await record(uow, ticket, actor, [created, added], at=now)
    await reindex(uow, ticket_id)
    if lifecycle.notify_new_assignee(None, data.assignee_id, actor.user_id):
        await jobs.enqueue(uow, "notify.assigned", {"ticket_id": ticket_id, "user_id": data.assignee_id})
    after_change(uow, pubsub, ws, ticket_id, "created")
    # The caller's next read of this ticket on this connection (rendering the answer) gets what was
    # just written instead of reading it back; any statement in between voids this (see db.remember).
    queries.remember_detail(
        uow.conn,
        row,
        tags=tag_set if queries.tags_sort_like_db(uow.dialect, tag_set) else None,
        follower_ids=[],
        cc_contact_ids=cc_ids,
        links=[],
    )
    return ticket_id
