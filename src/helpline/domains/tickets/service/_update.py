"""Changing a ticket's properties: by a person (:func:`update_ticket`, with If-Match and the property
rules), by the system or a live channel's routing (:func:`set_fields`), and bulk runs over tickets.
Both write through one path (:func:`_write`), so the status rules (``lifecycle``), the events and the
new assignee's notice are the same whoever makes the change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from helpline.db.base import utcnow
from helpline.domains.accounts.models import Role
from helpline.domains.accounts.principal import Principal
from helpline.domains.customers import service as customers
from helpline.domains.tickets import fields, lifecycle, queries
from helpline.domains.tickets.events import (
    CCsChanged,
    FollowersChanged,
    TagsChanged,
    TicketEvent,
    field_changed,
    record,
)
from helpline.domains.tickets.schemas import TicketUpdate
from helpline.domains.tickets.service._common import (
    after_change,
    cc_contacts,
    cc_rows,
    check_assignee,
    check_group,
    contact_org,
    follower_rows,
    members,
    reindex,
    tag_rows,
    tickets,
)
from helpline.errors import Forbidden, Invalid, NotFound, PreconditionFailed, Problem
from helpline.platform import jobs
from helpline.platform.db import UnitOfWork
from helpline.platform.pubsub import PubSub


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


def check_editor(actor: Principal, doing: str = "change ticket properties") -> None:
    """The one rule for who changes a ticket's state (status, assignee, group, and so a chat's
    accept, transfer and end): admins and agents; light agents and customers get 403."""
    if not actor.can_edit_tickets:
        raise Forbidden(f"you may not {doing}")


def check_update(actor: Principal, ticket: dict[str, Any]) -> None:
    check_editor(actor)
    lifecycle.check_change(ticket["status"])


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
    events: list[TicketEvent] = []

    def change(field: str, new: Any, column: str | None = None) -> None:
        _change(ticket, values, events, field, new, column)

    for name in ("subject", "status", "priority", "type"):
        if name in given:
            v = given[name]
            if v is None and name != "type":
                raise Invalid(name, "cannot be null")
            change(name, v.value if hasattr(v, "value") else v)
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
    await _update_tags(uow, ticket, given, events)
    await _update_people(uow, ticket, given, events)
    await _write(uow, pubsub, actor, ticket, values, events, now, check_version=True)


async def set_fields(
    uow: UnitOfWork, pubsub: PubSub, ticket: dict[str, Any], actor: Principal | None, **changes: Any
) -> None:
    """Change assignee, group or status for the system (``actor`` None: routing, rules) or for a
    live channel's agent actions (a chat accepted, transferred, ended), one event per changed field.

    Callers have checked who may do this (a light agent never gets here) and that an assignee or
    group belongs to the workspace; there is no If-Match (routing acts on the row it locked). The
    status rules, events, live refresh and the new assignee's notice are :func:`update_ticket`'s."""
    values: dict[str, Any] = {}
    events: list[TicketEvent] = []
    for name, new in changes.items():
        _change(ticket, values, events, name, new)
    await _write(uow, pubsub, actor, ticket, values, events, utcnow(), check_version=False)


async def solve_by_customer(
    uow: UnitOfWork, pubsub: PubSub, actor: Principal, ticket: dict[str, Any]
) -> bool:
    """The requester marks their own request solved (the portal's "Mark as solved"), recorded as their
    action; whether it changed. Only the customer the ticket was opened for, in its workspace (another
    customer, a colleague of a shared organization included, gets 404 as for a ticket that does not
    exist); a closed ticket is final (409); a solved one stays as it is."""
    if not actor.is_customer:
        raise Forbidden("only the customer marks their own request solved")
    if ticket["workspace_id"] != actor.workspace_id or ticket["requester_id"] != actor.contact_id:
        raise NotFound(f"ticket {ticket['id']} not found")
    lifecycle.check_change(ticket["status"])
    if ticket["status"] == lifecycle.SOLVED:
        return False
    values: dict[str, Any] = {}
    events: list[TicketEvent] = []
    _change(ticket, values, events, "status", lifecycle.SOLVED)
    await _write(uow, pubsub, actor, ticket, values, events, utcnow(), check_version=False)
    return True


def _change(
    ticket: dict[str, Any],
    values: dict[str, Any],
    events: list[TicketEvent],
    field: str,
    new: Any,
    column: str | None = None,
) -> None:
    """Note a property's change (if it changes): its column value and its event."""
    column = column or field
    old = ticket[column]
    if old == new:
        return
    if field == "status":
        lifecycle.set_status(old, new)  # refuses what no one may do (back to new)
    values[column] = new
    events.append(field_changed(field, _shown(old), _shown(new)))


async def _write(
    uow: UnitOfWork,
    pubsub: PubSub,
    actor: Principal | None,
    ticket: dict[str, Any],
    values: dict[str, Any],
    events: list[TicketEvent],
    now: datetime,
    *,
    check_version: bool,
) -> None:
    """Write the noted changes, their events and their signals. With ``check_version`` the row must
    still be at the version read (412 otherwise)."""
    if not values and not events:
        return
    if "status" in values:
        values["solved_at"] = now if values["status"] in lifecycle.DONE else None
    where = [tickets.c.id == ticket["id"]]
    if check_version:
        where.append(tickets.c.version == ticket["version"])
        values.update(updated_at=now, version=ticket["version"] + 1)
    else:
        values.update(updated_at=now, version=tickets.c.version + 1)
    result = await uow.execute(tickets.update().where(*where).values(**values))
    if check_version and result.rowcount != 1:
        raise PreconditionFailed("the ticket changed while you were saving; reload and retry")
    await record(uow, ticket, actor, events, at=now)
    if "subject" in values:
        await reindex(uow, ticket["id"])
    if "assignee_id" in values and lifecycle.notify_new_assignee(
        ticket["assignee_id"], values["assignee_id"], actor.user_id if actor else None
    ):
        await jobs.enqueue(
            uow, "notify.assigned", {"ticket_id": ticket["id"], "user_id": values["assignee_id"]}
        )
    after_change(uow, pubsub, ticket["workspace_id"], ticket["id"], "updated")


async def _update_tags(
    uow: UnitOfWork, ticket: dict[str, Any], given: dict[str, Any], events: list[TicketEvent]
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
    events.append(TagsChanged(sorted(current), sorted(wanted)))


async def _update_people(
    uow: UnitOfWork, ticket: dict[str, Any], given: dict[str, Any], events: list[TicketEvent]
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
            events.append(FollowersChanged(old, wanted))
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
            events.append(CCsChanged(old, wanted))


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
