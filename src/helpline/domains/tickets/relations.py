"""Tickets acting on tickets: link, merge (messages move, the source closes) and split."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from helpline.db.base import utcnow
from helpline.domains.accounts.principal import Principal
from helpline.domains.tickets import lifecycle, service
from helpline.domains.tickets.events import (
    Created,
    Linked,
    MergedFrom,
    MergedInto,
    Split,
    StatusChanged,
    TicketEvent,
    Unlinked,
    record,
    record_many,
)
from helpline.domains.tickets.models import LinkKind, TicketLink
from helpline.errors import Conflict, Forbidden, Invalid, NotFound
from helpline.platform.db import UnitOfWork
from helpline.platform.pubsub import PubSub

links = TicketLink.__table__
tickets = service.tickets
messages = service.messages


async def link(
    uow: UnitOfWork, actor: Principal, source: dict[str, Any], target: dict[str, Any], kind: LinkKind
) -> None:
    if not actor.can_edit_tickets:
        raise Forbidden("you may not link tickets")
    if source["id"] == target["id"]:
        raise Invalid("target_id", "a ticket cannot link to itself")
    # Stored once, from the parent's side for parent/child.
    src, tgt, stored = (target, source, LinkKind.parent) if kind is LinkKind.child else (source, target, kind)
    existing = (
        await uow.execute(
            sa.select(links.c.id).where(
                sa.or_(
                    sa.and_(links.c.source_id == src["id"], links.c.target_id == tgt["id"]),
                    sa.and_(links.c.source_id == tgt["id"], links.c.target_id == src["id"]),
                )
            )
        )
    ).first()
    if existing:
        raise Conflict("these tickets are already linked")
    await uow.execute(
        links.insert().values(
            workspace_id=source["workspace_id"],
            source_id=src["id"],
            target_id=tgt["id"],
            kind=stored.value,
            created_at=utcnow(),
        )
    )
    other = {"parent": "child", "child": "parent"}.get(kind.value, kind.value)
    await record_many(
        uow,
        [
            (source, actor, Linked(target["id"], kind.value)),
            (target, actor, Linked(source["id"], other)),
        ],
    )


async def unlink(uow: UnitOfWork, actor: Principal, source: dict[str, Any], target_id: int) -> None:
    if not actor.can_edit_tickets:
        raise Forbidden("you may not unlink tickets")
    result = await uow.execute(
        links.delete().where(
            sa.or_(
                sa.and_(links.c.source_id == source["id"], links.c.target_id == target_id),
                sa.and_(links.c.source_id == target_id, links.c.target_id == source["id"]),
            )
        )
    )
    if result.rowcount == 0:
        raise NotFound(f"ticket {source['id']} is not linked to {target_id}")
    await record(uow, source, actor, [Unlinked(target_id)])


async def merge(
    uow: UnitOfWork, pubsub: PubSub, actor: Principal, source: dict[str, Any], target: dict[str, Any]
) -> None:
    """Move every message of ``source`` into ``target``; close ``source`` pointing at ``target``."""
    if not actor.can_edit_tickets:
        raise Forbidden("you may not merge tickets")
    if source["id"] == target["id"]:
        raise Invalid("target_id", "a ticket cannot be merged into itself")
    for t, name in ((source, "source"), (target, "target")):
        if not lifecycle.may_merge(t["status"], t["merged_into_id"]):
            raise Conflict(f"the {name} ticket #{t['number']} is closed and cannot take part in a merge")
    outcome = lifecycle.merge(source["status"], target["status"])
    now = utcnow()
    moved = [
        r[0] for r in await uow.execute(sa.select(messages.c.id).where(messages.c.ticket_id == source["id"]))
    ]
    await uow.execute(
        messages.update().where(messages.c.ticket_id == source["id"]).values(ticket_id=target["id"])
    )
    await service.insert_message(
        uow,
        None,
        source,
        body_text=f"Merged into ticket #{target['number']}.",
        body_html=f"<p>Merged into ticket #{target['number']}.</p>",
        public=False,
        channel="api",
        at=now,
    )
    await service.insert_message(
        uow,
        None,
        target,
        body_text=f"Ticket #{source['number']} was merged into this one.",
        body_html=f"<p>Ticket #{source['number']} was merged into this one.</p>",
        public=False,
        channel="api",
        at=now,
    )
    for t, change, extra in (
        (source, outcome.source, {"merged_into_id": target["id"]}),
        (target, outcome.target, {}),
    ):
        values: dict[str, Any] = {**extra, "updated_at": now, "version": tickets.c.version + 1}
        if change is not None:
            values.update(status=change.new, solved_at=now if change.stamps_solved_at else None)
        await uow.execute(tickets.update().where(tickets.c.id == t["id"]).values(**values))
    exists = (
        await uow.execute(
            sa.select(links.c.id).where(links.c.source_id == source["id"], links.c.target_id == target["id"])
        )
    ).first()
    if not exists:
        await uow.execute(
            links.insert().values(
                workspace_id=source["workspace_id"],
                source_id=source["id"],
                target_id=target["id"],
                kind=LinkKind.related.value,
                created_at=now,
            )
        )
    events: list[tuple[dict[str, Any], Principal, TicketEvent]] = [
        (source, actor, MergedInto(target["id"], tuple(moved)))
    ]
    for t, change in ((source, outcome.source), (target, outcome.target)):
        if change is not None:
            events.append((t, actor, StatusChanged(change.old, change.new)))
    events.append((target, actor, MergedFrom(source["id"], tuple(moved))))
    await record_many(uow, events, at=now)
    for t in (source, target):
        await service.reindex(uow, t["id"])
        service.after_change(uow, pubsub, t["workspace_id"], t["id"], "merged")


async def split(
    uow: UnitOfWork,
    pubsub: PubSub,
    actor: Principal,
    ticket: dict[str, Any],
    message_id: int,
    subject: str | None,
) -> int:
    """Move one message into a new ticket (same requester), linked to the original; the new id."""
    if not actor.can_edit_tickets:
        raise Forbidden("you may not split tickets")
    msg = (
        (
            await uow.execute(
                sa.select(messages).where(messages.c.id == message_id, messages.c.ticket_id == ticket["id"])
            )
        )
        .mappings()
        .first()
    )
    if msg is None:
        raise Invalid("message_id", f"message {message_id} is not on ticket {ticket['id']}")
    first = (
        await uow.execute(sa.select(sa.func.min(messages.c.id)).where(messages.c.ticket_id == ticket["id"]))
    ).scalar()
    if (
        first == message_id
        and (
            await uow.execute(sa.select(sa.func.count()).where(messages.c.ticket_id == ticket["id"]))
        ).scalar()
        == 1
    ):
        raise Invalid("message_id", "the only message of a ticket cannot be split off")
    now = utcnow()
    number = await service.next_number(uow, ticket["workspace_id"])
    new_id = int(
        (
            await uow.execute(
                tickets.insert()
                .values(
                    workspace_id=ticket["workspace_id"],
                    number=number,
                    subject=subject or ticket["subject"],
                    status=lifecycle.split_off(),
                    priority=ticket["priority"],
                    type=ticket["type"],
                    channel=ticket["channel"],
                    requester_id=ticket["requester_id"],
                    organization_id=ticket["organization_id"],
                    assignee_id=ticket["assignee_id"],
                    group_id=ticket["group_id"],
                    custom=ticket["custom"],
                    version=1,
                    created_at=now,
                    updated_at=now,
                )
                .returning(tickets.c.id)
            )
        ).scalar_one()
    )
    new = {**ticket, "id": new_id, "number": number}
    await uow.execute(messages.update().where(messages.c.id == message_id).values(ticket_id=new_id))
    await uow.execute(
        links.insert().values(
            workspace_id=ticket["workspace_id"],
            source_id=ticket["id"],
            target_id=new_id,
            kind=LinkKind.related.value,
            created_at=now,
        )
    )
    await uow.execute(
        tickets.update()
        .where(tickets.c.id == ticket["id"])
        .values(updated_at=now, version=tickets.c.version + 1)
    )
    created = Created(
        number=number,
        subject=subject or ticket["subject"],
        status=lifecycle.split_off(),
        priority=ticket["priority"],
        channel=ticket["channel"],
        requester_id=ticket["requester_id"],
        assignee_id=ticket["assignee_id"],
        group_id=ticket["group_id"],
        split_from=ticket["id"],
        message_id=message_id,
    )
    await record_many(uow, [(new, actor, created), (ticket, actor, Split(new_id, message_id))], at=now)
    for tid in (ticket["id"], new_id):
        await service.reindex(uow, tid)
        service.after_change(uow, pubsub, ticket["workspace_id"], tid, "split")
    return new_id
