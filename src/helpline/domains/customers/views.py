"""Console pages of customers: contacts (list, search, profile with timeline, edit, identities, merge)
and organizations (list, search, profile, edit).

Every read goes through :mod:`helpline.domains.customers.queries` (scoped by the actor's workspace)
and every write through :mod:`helpline.domains.customers.service`, which refuses light agents. Staff
only: customers are sent to the portal by :data:`StaffPage`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.domains.accounts.models import User
from helpline.domains.customers import queries, service
from helpline.domains.customers.models import IdentityKind
from helpline.domains.customers.schemas import (
    MAX_ID,
    ContactCreate,
    ContactUpdate,
    IdentityCreate,
    OrganizationCreate,
    OrganizationUpdate,
)
from helpline.domains.tickets import queries as ticket_queries
from helpline.domains.tickets.models import Event, Message, Ticket
from helpline.web.deps import PlatformDep
from helpline.web.errors import Problem
from helpline.web.pages import StaffPage, redirect
from helpline.web.principal import Principal
from helpline.web.templating import render

router = APIRouter(include_in_schema=False)
tickets_t, messages_t, events_t, users_t = (
    Ticket.__table__,
    Message.__table__,
    Event.__table__,
    User.__table__,
)

PAGE = 25
TIMELINE = 50
ContactId = Annotated[int, Path(ge=1, le=MAX_ID)]
OrgId = Annotated[int, Path(ge=1, le=MAX_ID)]
Search = Annotated[str, Query(max_length=200)]
Cursor = Annotated[str | None, Query(pattern=r"^\d{1,18}$")]
#: Ticket lists page with the tickets API's opaque cursors (checked by ``list_tickets``: 422 if forged).
TicketCursor = Annotated[str | None, Query(max_length=200)]
#: Messages shown after a redirect, by key (never text from the query string).
FLASHES = {
    "saved": "Saved.",
    "merged": "The contacts are merged.",
    "identity": "Identity added.",
    "removed": "Identity removed.",
    "created": "Created.",
}


# --- form helpers ---------------------------------------------------------------------------------


def errors_of(exc: Exception) -> dict[str, str]:
    """Form errors by field name, from a pydantic ValidationError or a Problem; ``_`` for the form."""
    out: dict[str, str] = {}
    if isinstance(exc, ValidationError):
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ()) if not isinstance(p, int)]
            field = loc[0] if loc else "_"
            msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
            out.setdefault(field, msg)
        return out
    if isinstance(exc, Problem):
        for problem in exc.errors:
            name = str(problem.get("field", "_")).split(".")[0]
            out.setdefault(name, str(problem.get("message", exc.detail)))
        if not out:
            out["_"] = exc.detail
    return out


def split_words(text: str) -> list[str]:
    """Tags or domains typed as a list separated by commas, spaces or new lines."""
    return [w for w in re.split(r"[\s,]+", text or "") if w]


def parse_attributes(text: str, current: dict[str, Any]) -> dict[str, Any]:
    """``key: value`` lines. A value that reads the same as the stored one keeps its type (5 stays 5)."""
    out: dict[str, Any] = {}
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep:
            key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not key:
            continue
        old = current.get(key)
        out[key] = old if old is not None and not isinstance(old, str) and _shown(old) == value else value
    return out


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def attributes_text(attrs: dict[str, Any]) -> str:
    return "\n".join(f"{k}: {_shown(v)}" for k, v in sorted((attrs or {}).items()))


def _flash(request: Request) -> str | None:
    return FLASHES.get(request.query_params.get("done", ""))


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def contact_label(c: dict[str, Any]) -> str:
    return str(c.get("name") or c.get("email") or f"Contact #{c['id']}")


# --- reads the pages need beyond the domain queries -------------------------------------------


async def org_names(conn: AsyncConnection, actor: Principal, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    orgs = queries.orgs
    rows = await conn.execute(
        sa.select(orgs.c.id, orgs.c.name).where(orgs.c.id.in_(sorted(ids)), queries.orgs_visible(actor))
    )
    return {r.id: r.name for r in rows}


async def org_choices(conn: AsyncConnection, actor: Principal) -> list[tuple[int, str]]:
    orgs = queries.orgs
    rows = await conn.execute(
        sa.select(orgs.c.id, orgs.c.name).where(queries.orgs_visible(actor)).order_by(orgs.c.name).limit(1000)
    )
    return [(r.id, r.name) for r in rows]


def _snippet(text: str, size: int = 160) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= size else text[: size - 1] + "…"


async def timeline(
    conn: AsyncConnection, actor: Principal, contact_id: int, *, limit: int = TIMELINE
) -> list[dict[str, Any]]:
    """The contact's interactions across channels, newest first: tickets opened, messages (theirs and
    the replies and notes on their tickets) and status changes, on tickets ``actor`` may see."""
    theirs = sa.and_(ticket_queries.visible(actor), tickets_t.c.requester_id == contact_id)
    opened = await conn.execute(
        sa.select(
            tickets_t.c.id,
            tickets_t.c.number,
            tickets_t.c.subject,
            tickets_t.c.channel,
            tickets_t.c.created_at,
        )
        .where(theirs)
        .order_by(tickets_t.c.created_at.desc())
        .limit(limit)
    )
    items: list[dict[str, Any]] = [
        {
            "at": r.created_at,
            "kind": "opened",
            "channel": r.channel,
            "ticket_id": r.id,
            "number": r.number,
            "subject": r.subject,
            "text": "",
        }
        for r in opened
    ]
    wrote = await conn.execute(
        sa.select(
            messages_t.c.id,
            messages_t.c.created_at,
            messages_t.c.channel,
            messages_t.c.public,
            messages_t.c.author_kind,
            messages_t.c.author_contact_id,
            messages_t.c.body_text,
            users_t.c.name.label("agent"),
            tickets_t.c.id.label("ticket_id"),
            tickets_t.c.number,
            tickets_t.c.subject,
        )
        .select_from(
            messages_t.join(tickets_t, tickets_t.c.id == messages_t.c.ticket_id).outerjoin(
                users_t, users_t.c.id == messages_t.c.author_user_id
            )
        )
        .where(
            ticket_queries.visible(actor),
            sa.or_(tickets_t.c.requester_id == contact_id, messages_t.c.author_contact_id == contact_id),
        )
        .order_by(messages_t.c.created_at.desc(), messages_t.c.id.desc())
        .limit(limit)
    )
    for m in wrote:
        if m.author_contact_id == contact_id:
            kind = "customer_message"
        elif not m.public:
            kind = "note"
        else:
            kind = "reply"
        items.append(
            {
                "at": m.created_at,
                "kind": kind,
                "channel": m.channel,
                "ticket_id": m.ticket_id,
                "number": m.number,
                "subject": m.subject,
                "text": _snippet(m.body_text),
                "who": m.agent,
            }
        )
    changed = await conn.execute(
        sa.select(
            events_t.c.created_at,
            events_t.c.old,
            events_t.c.new,
            tickets_t.c.id.label("ticket_id"),
            tickets_t.c.number,
            tickets_t.c.subject,
            tickets_t.c.channel,
        )
        .select_from(events_t.join(tickets_t, tickets_t.c.id == events_t.c.ticket_id))
        .where(theirs, events_t.c.kind == "field_changed", events_t.c.field == "status")
        .order_by(events_t.c.created_at.desc(), events_t.c.id.desc())
        .limit(limit)
    )
    for e in changed:
        items.append(
            {
                "at": e.created_at,
                "kind": "status",
                "channel": e.channel,
                "ticket_id": e.ticket_id,
                "number": e.number,
                "subject": e.subject,
                "text": f"{e.old} → {e.new}",
            }
        )
    # Ties (a ticket and its first message share a time): the ticket's opening comes last, i.e. first read.
    order = {"opened": 0, "customer_message": 1, "reply": 1, "note": 1, "status": 2}
    items.sort(key=lambda i: (i["at"], order[i["kind"]]), reverse=True)
    return items[:limit]


# --- contacts ---------------------------------------------------------------------------------


@router.get("/contacts")
async def contacts_page(
    request: Request, actor: StaffPage, platform: PlatformDep, q: Search = "", cursor: Cursor = None
) -> HTMLResponse:
    async with platform.db.read() as conn:
        items, nxt = await queries.list_contacts(
            conn, actor, q=q or None, organization_id=None, cursor=cursor, limit=PAGE
        )
        orgs = await org_names(conn, actor, {c["organization_id"] for c in items if c["organization_id"]})
    return render(
        request,
        "customers/contacts.html",
        {
            "title": "Customers",
            "contacts": items,
            "next_cursor": nxt,
            "q": q,
            "cursor": cursor,
            "orgs": orgs,
            "flash": _flash(request),
        },
    )


@router.get("/contacts/new")
async def new_contact_form(request: Request, actor: StaffPage, platform: PlatformDep) -> HTMLResponse:
    service.check_write(actor)
    async with platform.db.read() as conn:
        choices = await org_choices(conn, actor)
    return render(
        request,
        "customers/contact_new.html",
        {"title": "New customer", "errors": {}, "values": {}, "org_choices": choices},
    )


@router.post("/contacts/new")
async def create_contact(request: Request, actor: StaffPage, platform: PlatformDep) -> Response:
    form = await _form(request)
    try:
        data = ContactCreate(
            name=form.get("name", ""),
            email=form.get("email") or None,
            organization_id=int(form["organization_id"]) if form.get("organization_id") else None,
            notes=form.get("notes", ""),
            tags=split_words(form.get("tags", "")),
        )
        async with platform.db.transaction() as uow:
            contact_id = await service.do_create_contact(uow, actor, data)
    except (ValidationError, Problem, ValueError) as exc:
        if isinstance(exc, Problem) and exc.status == 403:
            raise
        async with platform.db.read() as conn:
            choices = await org_choices(conn, actor)
        errors = errors_of(exc) or {"organization_id": "pick an organization from the list"}
        return render(
            request,
            "customers/contact_new.html",
            {"title": "New customer", "errors": errors, "values": form, "org_choices": choices},
            status=422,
        )
    return redirect(f"/contacts/{contact_id}?done=created")


@router.get("/contacts/{contact_id}")
async def contact_page(
    request: Request,
    contact_id: ContactId,
    actor: StaffPage,
    platform: PlatformDep,
    cursor: TicketCursor = None,
) -> Response:
    async with platform.db.read() as conn:
        contact = await queries.contact_detail(conn, actor, contact_id)
        if contact["merged_into_id"] is not None:
            return redirect(f"/contacts/{contact['merged_into_id']}")
        org = None
        if contact["organization_id"]:
            try:
                org = await queries.organization_detail(conn, actor, contact["organization_id"])
            except Problem:
                org = None
        rows, nxt = await ticket_queries.list_tickets(
            conn,
            actor,
            dialect=platform.db.dialect,
            filters={"requester_id": [contact_id]},
            q=None,
            sort="-updated_at",
            cursor=cursor,
            limit=PAGE,
        )
        events = await timeline(conn, actor, contact_id)
    return render(
        request,
        "customers/contact.html",
        {
            "title": contact_label(contact),
            "contact": contact,
            "org": org,
            "tickets": rows,
            "next_cursor": nxt,
            "timeline": events,
            "flash": _flash(request),
        },
    )


async def _edit_page(
    request: Request,
    actor: Principal,
    platform: Any,
    contact_id: int,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    async with platform.db.read() as conn:
        contact = await queries.contact_detail(conn, actor, contact_id)
        choices = await org_choices(conn, actor)
    shown = {
        "name": contact["name"],
        "organization_id": contact["organization_id"] or "",
        "notes": contact["notes"],
        "tags": ", ".join(contact["tags"]),
        "attributes": attributes_text(contact["attributes"]),
        **(values or {}),
    }
    return render(
        request,
        "customers/contact_edit.html",
        {
            "title": f"Edit {contact_label(contact)}",
            "contact": contact,
            "values": shown,
            "errors": errors or {},
            "org_choices": choices,
            "identity_kinds": [k.value for k in IdentityKind],
        },
        status=status,
    )


@router.get("/contacts/{contact_id}/edit")
async def edit_contact_form(
    request: Request, contact_id: ContactId, actor: StaffPage, platform: PlatformDep
) -> Response:
    service.check_write(actor)
    return await _edit_page(request, actor, platform, contact_id)


@router.post("/contacts/{contact_id}/edit")
async def edit_contact(
    request: Request, contact_id: ContactId, actor: StaffPage, platform: PlatformDep
) -> Response:
    form = await _form(request)
    try:
        async with platform.db.transaction() as uow:
            contact = await queries.access_contact(uow.conn, actor, contact_id)
            org = form.get("organization_id", "")
            data = ContactUpdate(
                name=form.get("name", ""),
                organization_id=int(org) if org.isdigit() else None,
                notes=form.get("notes", ""),
                tags=split_words(form.get("tags", "")),
                attributes=parse_attributes(form.get("attributes", ""), contact["attributes"]),
            )
            await service.do_update_contact(uow, actor, contact, data)
    except (ValidationError, Problem) as exc:
        if isinstance(exc, Problem) and exc.status in (403, 404):
            raise
        return await _edit_page(
            request, actor, platform, contact_id, errors=errors_of(exc), values=form, status=422
        )
    return redirect(f"/contacts/{contact_id}?done=saved")


@router.post("/contacts/{contact_id}/identities")
async def add_identity(
    request: Request, contact_id: ContactId, actor: StaffPage, platform: PlatformDep
) -> Response:
    form = await _form(request)
    try:
        data = IdentityCreate(kind=form.get("kind", ""), value=form.get("identity_value", ""))
        async with platform.db.transaction() as uow:
            contact = await queries.access_contact(uow.conn, actor, contact_id)
            await service.do_add_identity(uow, actor, contact, data)
    except (ValidationError, Problem) as exc:
        if isinstance(exc, Problem) and exc.status in (403, 404):
            raise
        errs = errors_of(exc)
        message = errs.get("value") or errs.get("kind") or next(iter(errs.values()), "invalid")
        return await _edit_page(
            request,
            actor,
            platform,
            contact_id,
            errors={"identity_value": message},
            values={"identity_kind": form.get("kind", ""), "identity_value": form.get("identity_value", "")},
            status=422,
        )
    return redirect(f"/contacts/{contact_id}/edit?done=identity")


@router.post("/contacts/{contact_id}/identities/{identity_id}/remove")
async def remove_identity(
    request: Request, contact_id: ContactId, identity_id: ContactId, actor: StaffPage, platform: PlatformDep
) -> Response:
    try:
        async with platform.db.transaction() as uow:
            contact = await queries.access_contact(uow.conn, actor, contact_id)
            await service.do_remove_identity(uow, actor, contact, identity_id)
    except Problem as exc:
        if exc.status in (403, 404):
            raise
        return await _edit_page(
            request, actor, platform, contact_id, errors={"_": exc.detail}, status=exc.status
        )
    return redirect(f"/contacts/{contact_id}/edit?done=removed")


async def _merge_page(
    request: Request,
    actor: Principal,
    platform: Any,
    contact_id: int,
    q: str,
    *,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    async with platform.db.read() as conn:
        contact = await queries.contact_detail(conn, actor, contact_id)
        candidates: list[dict[str, Any]] = []
        if q:
            found, _ = await queries.list_contacts(
                conn, actor, q=q, organization_id=None, cursor=None, limit=PAGE
            )
            candidates = [c for c in found if c["id"] != contact_id]
    return render(
        request,
        "customers/contact_merge.html",
        {
            "title": f"Merge into {contact_label(contact)}",
            "contact": contact,
            "q": q,
            "candidates": candidates,
            "errors": errors or {},
        },
        status=status,
    )


@router.get("/contacts/{contact_id}/merge")
async def merge_form(
    request: Request, contact_id: ContactId, actor: StaffPage, platform: PlatformDep, q: Search = ""
) -> HTMLResponse:
    service.check_write(actor)
    return await _merge_page(request, actor, platform, contact_id, q)


@router.post("/contacts/{contact_id}/merge")
async def merge(request: Request, contact_id: ContactId, actor: StaffPage, platform: PlatformDep) -> Response:
    form = await _form(request)
    raw = form.get("source_id", "")
    if not raw.isdigit() or not 0 < int(raw) <= MAX_ID:
        return await _merge_page(
            request,
            actor,
            platform,
            contact_id,
            form.get("q", ""),
            errors={"source_id": "Pick the duplicate to merge into this contact."},
            status=422,
        )
    try:
        async with platform.db.transaction() as uow:
            target = await queries.access_contact(uow.conn, actor, contact_id)
            source = await queries.access_contact(uow.conn, actor, int(raw))
            await service.do_merge_contacts(uow, actor, target, source)
    except Problem as exc:
        if exc.status == 403 or (exc.status == 404 and str(contact_id) in exc.detail.split()):
            raise
        return await _merge_page(
            request,
            actor,
            platform,
            contact_id,
            form.get("q", ""),
            errors={"source_id": exc.detail},
            status=422 if exc.status == 404 else exc.status,
        )
    return redirect(f"/contacts/{contact_id}?done=merged")


# --- organizations ------------------------------------------------------------------------------


@router.get("/organizations")
async def organizations_page(
    request: Request, actor: StaffPage, platform: PlatformDep, q: Search = "", cursor: Cursor = None
) -> HTMLResponse:
    async with platform.db.read() as conn:
        items, nxt = await queries.list_organizations(conn, actor, q=q or None, cursor=cursor, limit=PAGE)
    return render(
        request,
        "customers/organizations.html",
        {
            "title": "Organizations",
            "organizations": items,
            "next_cursor": nxt,
            "q": q,
            "cursor": cursor,
            "flash": _flash(request),
        },
    )


def _org_data(
    form: dict[str, str], cls: type[OrganizationCreate] | type[OrganizationUpdate], current: dict[str, Any]
) -> Any:
    return cls(
        name=form.get("name", ""),
        domains=split_words(form.get("domains", "")),
        shared_tickets=form.get("shared_tickets") == "on",
        notes=form.get("notes", ""),
        tags=split_words(form.get("tags", "")),
        attributes=parse_attributes(form.get("attributes", ""), current),
    )


@router.get("/organizations/new")
async def new_org_form(request: Request, actor: StaffPage) -> HTMLResponse:
    service.check_write(actor)
    return render(
        request,
        "customers/organization_edit.html",
        {"title": "New organization", "org": None, "values": {}, "errors": {}},
    )


@router.post("/organizations/new")
async def create_org(request: Request, actor: StaffPage, platform: PlatformDep) -> Response:
    form = await _form(request)
    try:
        data = _org_data(form, OrganizationCreate, {})
        async with platform.db.transaction() as uow:
            org_id = await service.do_create_organization(uow, actor, data)
    except (ValidationError, Problem) as exc:
        if isinstance(exc, Problem) and exc.status == 403:
            raise
        return render(
            request,
            "customers/organization_edit.html",
            {"title": "New organization", "org": None, "values": form, "errors": errors_of(exc)},
            status=422,
        )
    return redirect(f"/organizations/{org_id}?done=created")


@router.get("/organizations/{org_id}")
async def organization_page(
    request: Request,
    org_id: OrgId,
    actor: StaffPage,
    platform: PlatformDep,
    cursor: Cursor = None,
    tickets_cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    async with platform.db.read() as conn:
        org = await queries.organization_detail(conn, actor, org_id)
        members, next_members = await queries.organization_contacts(
            conn, actor, org_id, cursor=cursor, limit=PAGE
        )
        try:
            rows, next_tickets = await ticket_queries.list_tickets(
                conn,
                actor,
                dialect=platform.db.dialect,
                filters={"organization_id": [org_id]},
                q=None,
                sort="-updated_at",
                cursor=tickets_cursor,
                limit=PAGE,
            )
        except Problem:
            rows, next_tickets = [], None
    return render(
        request,
        "customers/organization.html",
        {
            "title": org["name"],
            "org": org,
            "members": members,
            "next_cursor": next_members,
            "tickets": rows,
            "next_tickets": next_tickets,
            "flash": _flash(request),
        },
    )


async def _org_edit_page(
    request: Request,
    actor: Principal,
    platform: Any,
    org_id: int,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    async with platform.db.read() as conn:
        org = await queries.organization_detail(conn, actor, org_id)
    shown = {
        "name": org["name"],
        "domains": ", ".join(org["domains"]),
        "notes": org["notes"],
        "tags": ", ".join(org["tags"]),
        "attributes": attributes_text(org["attributes"]),
        "shared_tickets": "on" if org["shared_tickets"] else "",
        **(values or {}),
    }
    if values is not None and "shared_tickets" not in values:
        shown["shared_tickets"] = ""
    return render(
        request,
        "customers/organization_edit.html",
        {"title": f"Edit {org['name']}", "org": org, "values": shown, "errors": errors or {}},
        status=status,
    )


@router.get("/organizations/{org_id}/edit")
async def edit_org_form(
    request: Request, org_id: OrgId, actor: StaffPage, platform: PlatformDep
) -> HTMLResponse:
    service.check_write(actor)
    return await _org_edit_page(request, actor, platform, org_id)


@router.post("/organizations/{org_id}/edit")
async def edit_org(request: Request, org_id: OrgId, actor: StaffPage, platform: PlatformDep) -> Response:
    form = await _form(request)
    try:
        async with platform.db.transaction() as uow:
            org = await queries.access_organization(uow.conn, actor, org_id)
            data = _org_data(form, OrganizationUpdate, org["attributes"])
            await service.do_update_organization(uow, actor, org, data)
    except (ValidationError, Problem) as exc:
        if isinstance(exc, Problem) and exc.status in (403, 404):
            raise
        return await _org_edit_page(
            request, actor, platform, org_id, errors=errors_of(exc), values=form, status=422
        )
    return redirect(f"/organizations/{org_id}?done=saved")
