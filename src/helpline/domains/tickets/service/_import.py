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
from helpline.domains.tickets import content, fields
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
from helpline.domains.tickets.service._common import groups_t, members, next_numbers, tag_rows, tickets
from helpline.domains.tickets.service._inbound import _insert_messages, _message_row
from helpline.errors import Forbidden, Invalid
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


@dataclass
class _Message:
    at: datetime
    author_kind: str
    public: bool
    channel: str
    text: str
    html: str
    user_id: int | None = None
    email: str | None = None  # a customer's (normalised); None: the requester
    name: str = ""


@dataclass
class _Plan:
    index: int
    item: ImportTicket
    requester: str  # normalised email
    group_id: int | None
    assignee_id: int | None
    custom: dict[str, Any]
    messages: list[_Message]
    changes: list[tuple[datetime, str, str]]  # (at, old, new)
    notes: list[str] = field(default_factory=list)


def check_import(actor: Principal) -> None:
    if not actor.is_admin:
        raise Forbidden("only an admin may import tickets")


async def importer(uow: UnitOfWork, workspace_id: int, email: str | None = None) -> Principal:
    """The admin an import acts as: ``email``'s, else the workspace's first admin."""
    query = (
        sa.select(users_t.c.id, users_t.c.email, users_t.c.name)
        .join(_members, _members.c.user_id == users_t.c.id)
        .where(
            _members.c.workspace_id == workspace_id,
            _members.c.role == Role.admin.value,
            _members.c.is_active.is_(True),
            users_t.c.is_active.is_(True),
        )
        .order_by(_members.c.id)
        .limit(1)
    )
    if email:
        query = query.where(users_t.c.email == email.strip().lower())
    row = (await uow.execute(query)).first()
    if row is None:
        who = f"{email} is not an admin of this workspace" if email else "this workspace has no admin"
        raise Invalid("as", f"{who}; create one with `helpline users create --role admin`")
    return Principal(
        user_id=int(row[0]), workspace_id=workspace_id, role=Role.admin, email=row[1], name=row[2]
    )


def _errors(exc: ValidationError) -> list[dict[str, str]]:
    return [
        {
            "field": ".".join(str(p) for p in e["loc"]) or "item",
            "message": e["msg"].removeprefix("Value error, "),
        }
        for e in exc.errors()
    ]


def _refusal(index: int, raw: Any, errors: list[dict[str, str]]) -> dict[str, Any]:
    sid = raw.get("source_id") if isinstance(raw, Mapping) else None
    return {"index": index, "source_id": None if sid is None else str(sid)[:200], "errors": errors}


def _history(
    item: ImportTicket, now: datetime
) -> tuple[list[tuple[datetime, str, str]], list[dict[str, str]]]:
    """The status changes in time order (from new, ending in ``status``), or the field errors."""
    errors: list[dict[str, str]] = []
    if item.created_at > now:
        errors.append({"field": "created_at", "message": "is in the future"})
    last = item.created_at
    for i, m in enumerate(item.messages):
        if m.created_at < item.created_at:
            errors.append(
                {"field": f"messages.{i}.created_at", "message": "is before the ticket's created_at"}
            )
        elif m.created_at > now:
            errors.append({"field": f"messages.{i}.created_at", "message": "is in the future"})
        last = max(last, m.created_at)
    status, changes = "new", []
    for i, c in sorted(enumerate(item.status_changes), key=lambda p: p[1].at):
        where = f"status_changes.{i}"
        if c.at < item.created_at or c.at > now:
            errors.append(
                {"field": f"{where}.at", "message": "is outside the ticket's life (created_at to now)"}
            )
        elif c.status.value == "new" and status != "new":
            errors.append({"field": f"{where}.status", "message": "a ticket cannot go back to new"})
        elif status == "closed" and c.status.value != "closed":
            errors.append(
                {"field": f"{where}.status", "message": "closed is final: nothing changes after it"}
            )
        elif c.status.value != status:
            changes.append((c.at, status, c.status.value))
            status = c.status.value
        last = max(last, c.at)
    if item.status.value != status:
        if item.status.value == "new":
            errors.append({"field": "status", "message": f"the status changes end in {status}, not new"})
        elif status == "closed":
            errors.append({"field": "status", "message": "the status changes end in closed, which is final"})
        else:
            changes.append((last, status, item.status.value))
    return changes, errors


async def _known(uow: UnitOfWork, ws: int, source: str, ids: list[str]) -> dict[str, tuple[int, int]]:
    if not ids:
        return {}
    rows = await uow.execute(
        sa.select(imports_t.c.source_id, tickets.c.id, tickets.c.number)
        .join(tickets, tickets.c.id == imports_t.c.ticket_id)
        .where(imports_t.c.workspace_id == ws, imports_t.c.source == source, imports_t.c.source_id.in_(ids))
    )
    return {r[0]: (int(r[1]), int(r[2])) for r in rows}


async def _names(
    uow: UnitOfWork, ws: int, plans: Sequence[ImportTicket]
) -> tuple[dict[str, tuple[int, str]], dict[str, int]]:
    """The workspace's staff by email (id, role) and groups by name, of those the items name."""
    emails = {i.assignee for i in plans if i.assignee} | {
        m.author.email
        for i in plans
        for m in i.messages
        if m.author_kind == "agent" and m.author and m.author.email
    }
    staff: dict[str, tuple[int, str]] = {}
    if emails:
        rows = await uow.execute(
            sa.select(users_t.c.email, users_t.c.id, members.c.role)
            .join(members, members.c.user_id == users_t.c.id)
            .where(
                members.c.workspace_id == ws, members.c.role.in_(STAFF), users_t.c.email.in_(sorted(emails))
            )
        )
        staff = {str(r[0]).lower(): (int(r[1]), str(r[2])) for r in rows}
    names = sorted({i.group for i in plans if i.group})
    groups: dict[str, int] = {}
    if names:
        rows = await uow.execute(
            sa.select(groups_t.c.name, groups_t.c.id).where(
                groups_t.c.workspace_id == ws, groups_t.c.name.in_(names)
            )
        )
        groups = {str(r[0]): int(r[1]) for r in rows}
    return staff, groups


def _plan(
    index: int,
    item: ImportTicket,
    actor: Principal,
    staff: Mapping[str, tuple[int, str]],
    groups: Mapping[str, int],
    defs: dict[str, dict[str, Any]],
    now: datetime,
) -> _Plan | list[dict[str, str]]:
    changes, errors = _history(item, now)
    if item.requester.email is None:
        errors.append({"field": "requester.email", "message": "is required (contacts are matched by email)"})
    group_id = groups.get(item.group) if item.group else None
    if item.group and group_id is None:
        errors.append({"field": "group", "message": f"no group named {item.group!r} in this workspace"})
    assignee = staff.get(item.assignee.lower()) if item.assignee else None
    if item.assignee and (assignee is None or assignee[1] == Role.light_agent.value):
        errors.append({"field": "assignee", "message": f"{item.assignee} is not an agent of this workspace"})
    custom: dict[str, Any] = {}
    try:
        # History need not fill fields made required since: only the values given are checked.
        custom = fields.validate_values({k: {**d, "required": False} for k, d in defs.items()}, item.custom)
    except Invalid as exc:
        errors += [
            {"field": e["field"].replace("custom_fields", "custom"), "message": e["message"]}
            for e in exc.errors
        ]
    if errors:
        return errors
    notes: list[str] = []
    messages: list[_Message] = []
    for i, m in enumerate(item.messages):
        text, html = content.render_body(m.body_html or m.body_text or "", is_html=bool(m.body_html))
        msg = _Message(m.created_at, m.author_kind, m.public, (m.channel or item.channel).value, text, html)
        if m.author_kind == "agent":
            email = m.author.email if m.author else None
            found = staff.get(email.lower()) if email else None
            msg.user_id = found[0] if found else actor.user_id
            if email and found is None:
                notes.append(f"messages.{i}.author: no staff member {email}; written as {actor.email}")
        elif m.author and m.author.email:
            msg.email = customers.normalise_identity("email", m.author.email)
            msg.name = m.author.name
        messages.append(msg)
    messages.sort(key=lambda m: m.at)
    requester = customers.normalise_identity("email", str(item.requester.email))
    return _Plan(
        index, item, requester, group_id, assignee[0] if assignee else None, custom, messages, changes, notes
    )


async def _contacts(uow: UnitOfWork, ws: int, plans: list[_Plan]) -> dict[str, int]:
    """Each email's contact: matched through the customers service, created when new."""
    names: dict[str, str] = {}
    for p in plans:
        names.setdefault(p.requester, p.item.requester.name)
        for m in p.messages:
            if m.email:
                names.setdefault(m.email, m.name)
    found = await customers.contacts_by_emails(uow, ws, names)
    missing = {e: n for e, n in names.items() if e not in found}
    try:
        async with uow.conn.begin_nested():
            found.update(await customers.create_email_contacts(uow, ws, missing))
    except IntegrityError:  # another writer created one of them meanwhile: one at a time then
        for email, name in missing.items():
            found[email] = await customers.find_or_create_contact(uow, ws, email=email, name=name)
    return found


async def _organizations(uow: UnitOfWork, ws: int, plans: list[_Plan]) -> dict[str, int]:
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


async def _write(uow: UnitOfWork, actor: Principal, source: str, plans: list[_Plan]) -> list[tuple[int, int]]:
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
            report.refused.append(_refusal(first_index + n, raw, _errors(exc)))
    known = await _known(uow, ws, source, sorted({i.source_id for _, i in valid}))
    fresh: list[tuple[int, ImportTicket]] = []
    seen: set[str] = set()
    for index, item in valid:
        if item.source_id in known:
            tid, number = known[item.source_id]
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
            report.refused.append(_refusal(index, {"source_id": item.source_id}, [error]))
        else:
            seen.add(item.source_id)
            fresh.append((index, item))
    staff, groups = await _names(uow, ws, [i for _, i in fresh])
    defs = await fields.definitions(uow.conn, ws) if any(i.custom for _, i in fresh) else {}
    plans: list[_Plan] = []
    for index, item in fresh:
        planned = _plan(index, item, actor, staff, groups, defs, now)
        if isinstance(planned, _Plan):
            plans.append(planned)
        else:
            report.refused.append(_refusal(index, {"source_id": item.source_id}, planned))
    if plans:
        for p, (tid, number) in zip(plans, await _write(uow, actor, source, plans), strict=True):
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
