"""Shared by the tickets domain's writes: table handles, after-commit signals, ticket numbers, and
the checks and contact lookups that creating and updating both need. (Events: ``tickets.events``;
status rules: ``tickets.lifecycle``.)"""

from __future__ import annotations

import sqlalchemy as sa

from helpline.domains.accounts.models import Group, Membership, Role, Workspace
from helpline.domains.accounts.service import ticket_sequence
from helpline.domains.customers import service as customers
from helpline.domains.customers.models import Contact
from helpline.domains.tickets.models import (
    Message,
    Ticket,
    TicketCC,
    TicketFollower,
    TicketTag,
)
from helpline.errors import Conflict, Invalid
from helpline.platform import jobs
from helpline.platform.db import UnitOfWork
from helpline.platform.pubsub import PubSub

tickets = Ticket.__table__
messages = Message.__table__
tag_rows = TicketTag.__table__
cc_rows = TicketCC.__table__
follower_rows = TicketFollower.__table__
members = Membership.__table__
groups_t = Group.__table__
contacts_t = Contact.__table__
workspaces = Workspace.__table__

ASSIGNABLE = (Role.admin.value, Role.agent.value)


def after_change(uow: UnitOfWork, pubsub: PubSub, workspace_id: int, ticket_id: int, kind: str) -> None:
    """Tell live views a ticket changed, once the change is committed."""

    async def publish() -> None:
        await pubsub.publish(f"ws:{workspace_id}:tickets", {"ticket_id": ticket_id, "kind": kind})

    uow.on_commit(publish)


async def reindex(uow: UnitOfWork, ticket_id: int) -> None:
    await reindex_many(uow, [ticket_id])


async def reindex_many(uow: UnitOfWork, ticket_ids: list[int]) -> None:
    """Queue the search index update of these tickets (one queued job per ticket at most)."""
    await jobs.enqueue_many(uow, "search.index", [({"ticket_id": t}, f"search:{t}") for t in ticket_ids])


async def next_number(uow: UnitOfWork, workspace_id: int) -> int:
    return (await next_numbers(uow, workspace_id, 1))[0]


async def next_numbers(uow: UnitOfWork, workspace_id: int, count: int) -> list[int]:
    """``count`` new ticket numbers of the workspace, ascending, in one statement."""
    if uow.dialect == "postgresql":
        series = sa.func.generate_series(1, count).table_valued("n")
        rows = await uow.execute(
            sa.select(sa.func.nextval(ticket_sequence(workspace_id))).select_from(series)
        )
        return sorted(int(r[0]) for r in rows)
    last = int(
        (
            await uow.execute(
                workspaces.update()
                .where(workspaces.c.id == workspace_id)
                .values(ticket_seq=workspaces.c.ticket_seq + count)
                .returning(workspaces.c.ticket_seq)
            )
        ).scalar_one()
    )
    return list(range(last - count + 1, last + 1))


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
