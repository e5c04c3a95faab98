"""Writes of the tickets domain: create, update, converse. Every change records an event row.

``check_*`` functions validate and authorize without writing; ``do_*`` and the public functions write
inside the caller's unit of work and register their side effects for after the commit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from helpline.db.base import utcnow
from helpline.domains.accounts.models import Group, Membership, Role, Workspace
from helpline.domains.accounts.service import ticket_sequence
from helpline.domains.customers import service as customers
from helpline.domains.customers.models import Contact
from helpline.domains.tickets import content, fields, queries
from helpline.domains.tickets.models import (
    AuthorKind,
    Event,
    Message,
    Status,
    Ticket,
    TicketCC,
    TicketFollower,
    TicketTag,
)
from helpline.domains.tickets.schemas import MessageCreate, TicketCreate, TicketUpdate
from helpline.platform import jobs
from helpline.platform.db import UnitOfWork
from helpline.platform.pubsub import PubSub
from helpline.web.errors import Conflict, Forbidden, Invalid, PreconditionFailed, Problem
from helpline.web.principal import Principal

tickets = Ticket.__table__
messages = Message.__table__
events = Event.__table__
tag_rows = TicketTag.__table__
cc_rows = TicketCC.__table__
follower_rows = TicketFollower.__table__
members = Membership.__table__
groups_t = Group.__table__
contacts_t = Contact.__table__
workspaces = Workspace.__table__

ASSIGNABLE = (Role.admin.value, Role.agent.value)


def event_row(
    ticket: dict[str, Any],
    actor: Principal | None,
    kind: str,
    field: str | None = None,
    old: Any = None,
    new: Any = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    return {
        "workspace_id": ticket["workspace_id"],
        "ticket_id": ticket["id"],
        "kind": kind,
        "field": field,
        "old": old,
        "new": new,
        "actor_user_id": actor.user_id if actor else None,
        "actor_kind": actor.actor_kind if actor else "system",
        "created_at": at or utcnow(),
    }


async def record(uow: UnitOfWork, rows: list[dict[str, Any]]) -> None:
    if rows:
        await uow.execute(events.insert(), rows)


def after_change(uow: UnitOfWork, pubsub: PubSub, workspace_id: int, ticket_id: int, kind: str) -> None:
    """Tell live views a ticket changed, once the change is committed."""

    async def publish() -> None:
        await pubsub.publish(f"ws:{workspace_id}:tickets", {"ticket_id": ticket_id, "kind": kind})

    uow.on_commit(publish)


async def reindex(uow: UnitOfWork, ticket_id: int) -> None:
    await jobs.enqueue(uow, "search.index", {"ticket_id": ticket_id}, dedupe_key=f"search:{ticket_id}")


async def next_number(uow: UnitOfWork, workspace_id: int) -> int:
    if uow.dialect == "postgresql":
        return int(
            (await uow.execute(sa.text(f"SELECT nextval('{ticket_sequence(workspace_id)}')"))).scalar_one()
        )
    return int(
        (
            await uow.execute(
                workspaces.update()
                .where(workspaces.c.id == workspace_id)
                .values(ticket_seq=workspaces.c.ticket_seq + 1)
                .returning(workspaces.c.ticket_seq)
            )
        ).scalar_one()
    )


async def check_assignee(uow: UnitOfWork, workspace_id: int, user_id: int) -> None:
    row = (
        await uow.execute(
            sa.select(members.c.role).where(
                members.c.workspace_id == workspace_id, members.c.user_id == user_id
            )
        )
    ).first()
    if row is None or row[0] not in ASSIGNABLE:
        raise Invalid("assignee_id", f"user {user_id} is not an agent of this workspace")


async def check_group(uow: UnitOfWork, workspace_id: int, group_id: int) -> None:
    row = (
        await uow.execute(
            sa.select(groups_t.c.id).where(groups_t.c.workspace_id == workspace_id, groups_t.c.id == group_id)
        )
    ).first()
    if row is None:
        raise Invalid("group_id", f"no group {group_id}")


async def contact_org(uow: UnitOfWork, contact_id: int) -> int | None:
    return (
        await uow.execute(sa.select(contacts_t.c.organization_id).where(contacts_t.c.id == contact_id))
    ).scalar()


async def find_or_create_contact(uow: UnitOfWork, workspace_id: int, *, email: str, name: str = "") -> int:
    """``customers.find_or_create_contact``, also when another transaction creates the same contact
    between its lookup and its insert and the insert's own check answers 409 (under READ COMMITTED
    the check sees the other's commit): the contact exists then, so take it."""
    try:
        return await customers.find_or_create_contact(uow, workspace_id, email=email, name=name)
    except Conflict:
        found = await customers.contact_by_identity(
            uow, workspace_id, "email", customers.normalise_identity("email", email)
        )
        if found is None:
            raise
        return int(found)


async def cc_contacts(uow: UnitOfWork, workspace_id: int, emails: list[str]) -> list[int]:
    ids: list[int] = []
    for email in emails:
        cid = await find_or_create_contact(uow, workspace_id, email=str(email))
        if cid not in ids:
            ids.append(cid)
    return ids


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
    now = utcnow()
    # The number and the requester's organization are read inside the INSERT (no round trips of
    # their own), and RETURNING hands back the row as stored, so nothing is read back to answer.
    number: Any = (
        sa.func.nextval(ticket_sequence(ws)) if uow.dialect == "postgresql" else await next_number(uow, ws)
    )
    row = dict(
        (
            await uow.execute(
                tickets.insert()
                .values(
                    workspace_id=ws,
                    number=number,
                    subject=data.subject,
                    status=Status.new.value,
                    priority=data.priority.value,
                    type=data.type.value if data.type else None,
                    channel=data.channel.value,
                    requester_id=requester_id,
                    organization_id=sa.select(contacts_t.c.organization_id)
                    .where(contacts_t.c.id == requester_id)
                    .scalar_subquery(),
                    assignee_id=data.assignee_id,
                    group_id=data.group_id,
                    due_at=data.due_at,
                    custom=custom,
                    version=1,
                    created_at=now,
                    updated_at=now,
                )
                .returning(*tickets.c)
            )
        )
        .mappings()
        .one()
    )
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
    await record(
        uow,
        [
            event_row(
                ticket,
                actor,
                "created",
                new={
                    "number": number,
                    "subject": data.subject,
                    "status": Status.new.value,
                    "priority": data.priority.value,
                    "channel": data.channel.value,
                    "requester_id": requester_id,
                    "assignee_id": data.assignee_id,
                    "group_id": data.group_id,
                    "tags": tag_set,
                },
                at=now,
            ),
            event_row(
                ticket, actor, "message_added", new={"message_id": message_id, "public": data.public}, at=now
            ),
        ],
    )
    await reindex(uow, ticket_id)
    if data.assignee_id is not None and data.assignee_id != actor.user_id:
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


def _shown(value: Any) -> Any:
    """A changed field's value as an event stores it (datetimes as ISO 8601 text)."""
    return value.isoformat() if isinstance(value, datetime) else value


def etag(version: int) -> str:
    return f'"v{version}"'


def check_if_match(ticket: dict[str, Any], if_match: str | None) -> None:
    if if_match is None:
        return
    candidates = [c.strip().removeprefix("W/") for c in if_match.split(",")]
    if "*" not in candidates and etag(ticket["version"]) not in candidates:
        raise PreconditionFailed(
            f"the ticket changed since you read it (it is now at {etag(ticket['version'])}); "
            "reload and retry",
            headers={"ETag": etag(ticket["version"])},
        )


def check_update(actor: Principal, ticket: dict[str, Any]) -> None:
    if not actor.can_edit_tickets:
        raise Forbidden("you may not change ticket properties")
    if ticket["status"] == Status.closed:
        raise Conflict("closed tickets cannot be changed; create a follow-up ticket")


async def update_ticket(
    uow: UnitOfWork,
    pubsub: PubSub,
    actor: Principal,
    ticket: dict[str, Any],
    data: TicketUpdate,
    *,
    if_match: str | None = None,
) -> None:
    """Apply the fields present in ``data``; an event per changed field. 412 if ``if_match`` is stale."""
    check_update(actor, ticket)
    check_if_match(ticket, if_match)
    ws = ticket["workspace_id"]
    given = data.model_dump(exclude_unset=True)
    now = utcnow()
    values: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []

    def change(field: str, new: Any, column: str | None = None) -> None:
        column = column or field
        old = ticket[column]
        if old != new:
            values[column] = new
            rows.append(event_row(ticket, actor, "field_changed", field, _shown(old), _shown(new), at=now))

    for name in ("subject", "status", "priority", "type"):
        if name in given:
            v = given[name]
            if v is None and name != "type":
                raise Invalid(name, "cannot be null")
            change(name, v.value if hasattr(v, "value") else v)
    if "status" in values:
        values["solved_at"] = now if values["status"] in (Status.solved, Status.closed) else None
        if values["status"] == Status.new:
            raise Invalid("status", "a ticket cannot go back to new")
    if "assignee_id" in given:
        if given["assignee_id"] is not None:
            await check_assignee(uow, ws, given["assignee_id"])
        change("assignee_id", given["assignee_id"])
    if "group_id" in given:
        if given["group_id"] is not None:
            await check_group(uow, ws, given["group_id"])
        change("group_id", given["group_id"])
    if "due_at" in given:
        change("due_at", given["due_at"])
    if given.get("requester_id") is not None:
        await customers.require_contact(uow, ws, given["requester_id"], "requester_id")
        change("requester_id", given["requester_id"])
        if "requester_id" in values:
            values["organization_id"] = await contact_org(uow, given["requester_id"])
    if given.get("custom_fields") is not None:
        defs = await fields.definitions(uow.conn, ws)
        change(
            "custom_fields",
            fields.validate_values(defs, given["custom_fields"], current=ticket["custom"]),
            "custom",
        )
    await _update_tags(uow, actor, ticket, given, rows, now)
    await _update_people(uow, actor, ticket, given, rows, now)
    if not values and not rows:
        return
    values.update(updated_at=now, version=ticket["version"] + 1)
    result = await uow.execute(
        tickets.update()
        .where(tickets.c.id == ticket["id"], tickets.c.version == ticket["version"])
        .values(**values)
    )
    if result.rowcount != 1:
        raise PreconditionFailed("the ticket changed while you were saving; reload and retry")
    await record(uow, rows)
    if "subject" in values:
        await reindex(uow, ticket["id"])
    if values.get("assignee_id") and values["assignee_id"] != actor.user_id:
        await jobs.enqueue(
            uow, "notify.assigned", {"ticket_id": ticket["id"], "user_id": values["assignee_id"]}
        )
    after_change(uow, pubsub, ws, ticket["id"], "updated")


async def _update_tags(
    uow: UnitOfWork,
    actor: Principal,
    ticket: dict[str, Any],
    given: dict[str, Any],
    rows: list[dict[str, Any]],
    now: datetime,
) -> None:
    if not any(given.get(k) is not None for k in ("tags", "add_tags", "remove_tags")):
        return
    current = {
        r[0] for r in await uow.execute(sa.select(tag_rows.c.tag).where(tag_rows.c.ticket_id == ticket["id"]))
    }
    wanted = set(given["tags"]) if given.get("tags") is not None else set(current)
    wanted |= set(given.get("add_tags") or [])
    wanted -= set(given.get("remove_tags") or [])
    if wanted == current:
        return
    await uow.execute(
        tag_rows.delete().where(tag_rows.c.ticket_id == ticket["id"], tag_rows.c.tag.in_(current - wanted))
    )
    if wanted - current:
        await uow.execute(
            tag_rows.insert(),
            [
                {"ticket_id": ticket["id"], "tag": t, "workspace_id": ticket["workspace_id"]}
                for t in sorted(wanted - current)
            ],
        )
    rows.append(event_row(ticket, actor, "field_changed", "tags", sorted(current), sorted(wanted), at=now))


async def _update_people(
    uow: UnitOfWork,
    actor: Principal,
    ticket: dict[str, Any],
    given: dict[str, Any],
    rows: list[dict[str, Any]],
    now: datetime,
) -> None:
    tid, ws = ticket["id"], ticket["workspace_id"]
    if given.get("follower_ids") is not None:
        wanted = sorted(set(given["follower_ids"]))
        for uid in wanted:
            row = (
                await uow.execute(
                    sa.select(members.c.role).where(members.c.workspace_id == ws, members.c.user_id == uid)
                )
            ).first()
            if row is None or row[0] == Role.customer:
                raise Invalid("follower_ids", f"user {uid} is not an agent of this workspace")
        old = sorted(
            r[0]
            for r in await uow.execute(
                sa.select(follower_rows.c.user_id).where(follower_rows.c.ticket_id == tid)
            )
        )
        if old != wanted:
            await uow.execute(follower_rows.delete().where(follower_rows.c.ticket_id == tid))
            if wanted:
                await uow.execute(follower_rows.insert(), [{"ticket_id": tid, "user_id": u} for u in wanted])
            rows.append(event_row(ticket, actor, "field_changed", "follower_ids", old, wanted, at=now))
    if given.get("cc_emails") is not None:
        wanted = sorted(
            c
            for c in await cc_contacts(uow, ws, [str(e) for e in given["cc_emails"]])
            if c != ticket["requester_id"]
        )
        old = sorted(
            r[0] for r in await uow.execute(sa.select(cc_rows.c.contact_id).where(cc_rows.c.ticket_id == tid))
        )
        if old != wanted:
            await uow.execute(cc_rows.delete().where(cc_rows.c.ticket_id == tid))
            if wanted:
                await uow.execute(cc_rows.insert(), [{"ticket_id": tid, "contact_id": c} for c in wanted])
            rows.append(event_row(ticket, actor, "field_changed", "cc_contact_ids", old, wanted, at=now))


async def for_each_ticket(
    db: Any, actor: Principal, ticket_ids: list[int], change: Any
) -> tuple[list[int], list[dict[str, Any]]]:
    """Bulk work: ``change(uow, ticket)`` on each ticket the actor may see, each in its own
    transaction, so one refusal does not undo the others. (updated ids, [{id, status, detail}])."""
    done: list[int] = []
    failed: list[dict[str, Any]] = []
    for ticket_id in dict.fromkeys(ticket_ids):
        try:
            async with db.transaction() as uow:
                ticket = await queries.access_ticket(uow.conn, actor, ticket_id)
                await change(uow, ticket)
            done.append(ticket_id)
        except Problem as exc:
            failed.append({"id": ticket_id, "status": exc.status, "detail": exc.detail})
    return done, failed
