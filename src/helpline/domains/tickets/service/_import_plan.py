"""Checking and planning an import's items (``_import`` writes them): each item's times checked
against each other and now, its status history worked out, and what it names (staff by email,
groups by name, custom fields) found in the workspace. Nothing here writes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError

from helpline.domains.accounts.models import Membership, Role, User
from helpline.domains.accounts.principal import Principal
from helpline.domains.customers import service as customers
from helpline.domains.tickets import content, fields
from helpline.domains.tickets.models import TicketImport
from helpline.domains.tickets.schemas import ImportTicket
from helpline.domains.tickets.service._common import groups_t, members, tickets
from helpline.errors import Invalid
from helpline.platform.db import UnitOfWork

STAFF = (Role.admin.value, Role.agent.value, Role.light_agent.value)
imports_t = TicketImport.__table__
users_t = User.__table__
_members = Membership.__table__


@dataclass
class Message:
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
class Plan:
    index: int
    item: ImportTicket
    requester: str  # normalised email
    group_id: int | None
    assignee_id: int | None
    custom: dict[str, Any]
    messages: list[Message]
    changes: list[tuple[datetime, str, str]]  # (at, old, new)
    notes: list[str] = field(default_factory=list)


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


def errors_of(exc: ValidationError) -> list[dict[str, str]]:
    return [
        {
            "field": ".".join(str(p) for p in e["loc"]) or "item",
            "message": e["msg"].removeprefix("Value error, "),
        }
        for e in exc.errors()
    ]


def refusal(index: int, raw: Any, errors: list[dict[str, str]]) -> dict[str, Any]:
    sid = raw.get("source_id") if isinstance(raw, Mapping) else None
    return {"index": index, "source_id": None if sid is None else str(sid)[:200], "errors": errors}


def history(
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


async def known(uow: UnitOfWork, ws: int, source: str, ids: list[str]) -> dict[str, tuple[int, int]]:
    if not ids:
        return {}
    rows = await uow.execute(
        sa.select(imports_t.c.source_id, tickets.c.id, tickets.c.number)
        .join(tickets, tickets.c.id == imports_t.c.ticket_id)
        .where(imports_t.c.workspace_id == ws, imports_t.c.source == source, imports_t.c.source_id.in_(ids))
    )
    return {r[0]: (int(r[1]), int(r[2])) for r in rows}


async def names_in(
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


def plan(
    index: int,
    item: ImportTicket,
    actor: Principal,
    staff: Mapping[str, tuple[int, str]],
    groups: Mapping[str, int],
    defs: dict[str, dict[str, Any]],
    now: datetime,
) -> Plan | list[dict[str, str]]:
    changes, errors = history(item, now)
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
    messages: list[Message] = []
    for i, m in enumerate(item.messages):
        text, html = content.render_body(m.body_html or m.body_text or "", is_html=bool(m.body_html))
        msg = Message(m.created_at, m.author_kind, m.public, (m.channel or item.channel).value, text, html)
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
    return Plan(
        index, item, requester, group_id, assignee[0] if assignee else None, custom, messages, changes, notes
    )
