"""Importing tickets with their history from another help desk (``docs/import.md``): the API's
``POST /imports/tickets`` and ``helpline import csv|zendesk`` both call :func:`import_tickets`.

Each item becomes a ticket written as if its history had happened live: the ticket row with its
original times, its messages in time order, and its events with the times they happened (a
``Created`` at the ticket's creation, a ``MessageAdded`` per message, a ``StatusChanged`` per
status change), inserted in that order so that each ticket's event ids grow with time, which is the
order the durable feed delivers them in (SLA clocks and metrics then see the history as if live).
Nothing else a live write does happens: no channel hears of staff replies (nothing is sent), no
status rule of ``lifecycle`` applies (the history says what the status was), nobody is notified.
Every event names the ``import`` actor kind and the importing admin.

Idempotent per (workspace, source, source id): ``ticket_imports`` remembers each item, and the same
item again is ``unchanged``. A bad item is refused with its field errors; the others import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

from helpline.db.base import utcnow
from helpline.domains.accounts.models import Membership, Role, User
from helpline.domains.accounts.principal import Principal
from helpline.domains.customers import service as customers
from helpline.domains.tickets import fields
from helpline.domains.tickets.events import (
    Actor,
    Author,
    Created,
    MessageAdded,
    StatusChanged,
    TicketEvent,
    record_many,
)
from helpline.domains.tickets.models import TicketImport
from helpline.domains.tickets.schemas import ImportTicket
from helpline.domains.tickets.service._common import next_numbers, tag_rows, tickets
from helpline.domains.tickets.service._import_plan import (
    Plan,
    errors_of,
    importer,
    known,
    names_in,
    plan,
    refusal,
)
from helpline.domains.tickets.service._inbound import _insert_messages, _message_row
from helpline.errors import Conflict, Forbidden
from helpline.platform import search
from helpline.platform.db import UnitOfWork

#: The ``actor_kind`` of every event an import writes (``history_text`` reads it as imported).
IMPORTED = "import"
STAFF = (Role.admin.value, Role.agent.value, Role.light_agent.value)
imports_t = TicketImport.__table__
users_t = User.__table__
_members = Membership.__table__


@dataclass
class ImportReport:
    """What an import did: counts, each refused item with its field errors, each ticket."""

    created: int = 0
    unchanged: int = 0
    refused: list[dict[str, Any]] = field(default_factory=list)
    tickets: list[dict[str, Any]] = field(default_factory=list)

    def add(self, other: ImportReport) -> None:
        self.created += other.created
        self.unchanged += other.unchanged
        self.refused += other.refused
        self.tickets += other.tickets

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "unchanged": self.unchanged,
            "refused": self.refused,
            "tickets": self.tickets,
        }


def check_import(actor: Principal) -> None:
    if not actor.is_admin:
        raise Forbidden("only an admin may import tickets")


async def _contacts(uow: UnitOfWork, ws: int, plans: list[Plan]) -> dict[str, int]:
    """Each email's contact: matched through the customers service, created when new."""
    wanted: dict[str, str] = {}
    for p in plans:
        wanted.setdefault(p.requester, p.item.requester.name)
        for m in p.messages:
            if m.email:
                wanted.setdefault(m.email, m.name)
    found = await customers.contacts_by_emails(uow, ws, wanted)
    missing = {e: n for e, n in wanted.items() if e not in found}
    try:
        async with uow.conn.begin_nested():
            found.update(await customers.create_email_contacts(uow, ws, missing))
    except IntegrityError:  # another writer created one of them meanwhile: one at a time then
        for email, name in missing.items():
            found[email] = await customers.find_or_create_contact(uow, ws, email=email, name=name)
    return found


async def _organizations(uow: UnitOfWork, ws: int, plans: list[Plan]) -> dict[str, int]:
    wanted = sorted({p.item.organization for p in plans if p.item.organization})
    if not wanted:
        return {}
    orgs = customers.orgs
    rows = await uow.execute(
        sa.select(orgs.c.name, orgs.c.id).where(orgs.c.workspace_id == ws, orgs.c.name.in_(wanted))
    )
    found = {str(r[0]): int(r[1]) for r in rows}
    for name in wanted:
        if name not in found:
            found[name] = await customers.create_organization(uow, ws, name=name)
    return found


async def _write(uow: UnitOfWork, actor: Principal, source: str, plans: list[Plan]) -> list[tuple[int, int]]:
    """The tickets, their messages, tags, import rows and events: a statement per table."""
    ws = actor.workspace_id
    contact_of = await _contacts(uow, ws, plans)
    org_by_name = await _organizations(uow, ws, plans)
    contacts_t = customers.contacts
    org_of = {
        int(r[0]): r[1]
        for r in await uow.execute(
            sa.select(contacts_t.c.id, contacts_t.c.organization_id).where(
                contacts_t.c.id.in_({contact_of[p.requester] for p in plans})
            )
        )
    }
    numbers = await next_numbers(uow, ws, len(plans))
    rows: list[dict[str, Any]] = []
    for p, number in zip(plans, numbers, strict=True):
        it, requester = p.item, contact_of[p.requester]
        moments = [it.created_at, *(m.at for m in p.messages), *(c[0] for c in p.changes)]
        solved = [c[0] for c in p.changes if c[2] in ("solved", "closed")]
        rows.append(
            {
                "workspace_id": ws,
                "number": number,
                "subject": it.subject or "(no subject)",
                "status": it.status.value,
                "priority": it.priority.value,
                "type": it.type.value if it.type else None,
                "channel": it.channel.value,
                "requester_id": requester,
                "organization_id": org_by_name[it.organization] if it.organization else org_of.get(requester),
                "assignee_id": p.assignee_id,
                "group_id": p.group_id,
                "due_at": None,
                "custom": p.custom,
                "version": 1,
                "created_at": it.created_at,
                "updated_at": max(moments),
                "solved_at": solved[-1] if solved and it.status.value in ("solved", "closed") else None,
            }
        )
    by_number = {
        int(r[1]): int(r[0])
        for r in await uow.execute(tickets.insert().returning(tickets.c.id, tickets.c.number), rows)
    }
    refs = [{"id": by_number[n], "workspace_id": ws} for n in numbers]
    message_rows = [
        _message_row(
            ref,
            author_kind=m.author_kind,
            user_id=m.user_id,
            contact_id=contact_of[m.email or p.requester] if m.author_kind == "customer" else None,
            body_text=m.text,
            body_html=m.html,
            public=m.public,
            channel=m.channel,
            at=m.at,
        )
        for p, ref in zip(plans, refs, strict=True)
        for m in p.messages
    ]
    message_ids = iter(await _insert_messages(uow, message_rows))
    tags = [
        {"ticket_id": r["id"], "tag": t, "workspace_id": ws}
        for p, r in zip(plans, refs, strict=True)
        for t in sorted(set(p.item.tags))
    ]
    if tags:
        await uow.execute(tag_rows.insert(), tags)
    now = utcnow()
    await uow.execute(
        imports_t.insert(),
        [
            {
                "workspace_id": ws,
                "source": source,
                "source_id": p.item.source_id,
                "ticket_id": r["id"],
                "created_at": now,
            }
            for p, r in zip(plans, refs, strict=True)
        ],
    )
    who: Actor = Author(IMPORTED, actor.user_id)
    events: list[tuple[Mapping[str, Any], Actor | None, TicketEvent]] = []
    times: list[datetime] = []
    for p, ref, number, row in zip(plans, refs, numbers, rows, strict=True):
        it = p.item
        story: list[tuple[datetime, int, TicketEvent]] = [
            (
                it.created_at,
                0,
                Created(
                    number=number,
                    subject=row["subject"],
                    status="new",
                    priority=it.priority.value,
                    channel=it.channel.value,
                    requester_id=row["requester_id"],
                    assignee_id=p.assignee_id,
                    group_id=p.group_id,
                    tags=tuple(sorted(set(it.tags))),
                ),
            )
        ]
        story += [
            (m.at, 1, MessageAdded(next(message_ids), m.public, m.channel, m.author_kind)) for m in p.messages
        ]
        story += [(at, 2, StatusChanged(old, new)) for at, old, new in p.changes]
        story.sort(key=lambda s: (s[0], s[1]))  # stable: messages keep their order at equal times
        events += [(ref, who, e) for _, _, e in story]
        times += [at for at, _, _ in story]
    await record_many(uow, events, times=times)
    await search.index_tickets(uow, [r["id"] for r in refs])  # searchable at once, no job to wait for
    return [(r["id"], n) for r, n in zip(refs, numbers, strict=True)]


async def import_tickets(
    uow: UnitOfWork,
    actor: Principal,
    source: str,
    items: Sequence[Any],
    *,
    first_index: int = 0,
    now: datetime | None = None,
) -> ImportReport:
    """Import ``items`` (``ImportTicket`` shapes, validated here one by one) from ``source`` into the
    actor's workspace, in ``uow``. ``first_index`` numbers the items in refusals (a file's row)."""
    check_import(actor)
    ws, now = actor.workspace_id, now or utcnow()
    report = ImportReport()
    valid: list[tuple[int, ImportTicket]] = []
    for n, raw in enumerate(items):
        try:
            valid.append((first_index + n, ImportTicket.model_validate(raw)))
        except ValidationError as exc:
            report.refused.append(refusal(first_index + n, raw, errors_of(exc)))
    done = await known(uow, ws, source, sorted({i.source_id for _, i in valid}))
    fresh: list[tuple[int, ImportTicket]] = []
    seen: set[str] = set()
    for index, item in valid:
        if item.source_id in done:
            tid, number = done[item.source_id]
            report.unchanged += 1
            report.tickets.append(
                {
                    "source_id": item.source_id,
                    "ticket_id": tid,
                    "number": number,
                    "result": "unchanged",
                    "notes": [],
                }
            )
        elif item.source_id in seen:
            error = {"field": "source_id", "message": "appears twice in this batch"}
            report.refused.append(refusal(index, {"source_id": item.source_id}, [error]))
        else:
            seen.add(item.source_id)
            fresh.append((index, item))
    staff, groups = await names_in(uow, ws, [i for _, i in fresh])
    defs = await fields.definitions(uow.conn, ws) if any(i.custom for _, i in fresh) else {}
    plans: list[Plan] = []
    for index, item in fresh:
        planned = plan(index, item, actor, staff, groups, defs, now)
        if isinstance(planned, Plan):
            plans.append(planned)
        else:
            report.refused.append(refusal(index, {"source_id": item.source_id}, planned))
    if plans:
        try:
            async with uow.conn.begin_nested():
                written = await _write(uow, actor, source, plans)
        except IntegrityError:  # the same items, imported by another request that committed first
            raise Conflict(
                "another import of some of these tickets finished first; send them again "
                "(those already imported will be unchanged)",
                code="import_conflict",
            ) from None
        for p, (tid, number) in zip(plans, written, strict=True):
            report.created += 1
            report.tickets.append(
                {
                    "source_id": p.item.source_id,
                    "ticket_id": tid,
                    "number": number,
                    "result": "created",
                    "notes": p.notes,
                }
            )
    report.refused.sort(key=lambda r: r["index"])
    return report


__all__ = ["IMPORTED", "ImportReport", "check_import", "import_tickets", "importer"]
