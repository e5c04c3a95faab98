"""Contact pages: list and search, profile with tickets and timeline, edit, identities, merge."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from helpline.domains.accounts.principal import Principal
from helpline.domains.customers import queries, service
from helpline.domains.customers.models import IdentityKind
from helpline.domains.customers.schemas import ContactCreate, ContactUpdate, IdentityCreate
from helpline.domains.customers.views._common import (
    FLASHES,
    PAGE,
    ContactId,
    Cursor,
    Search,
    TicketCursor,
    attributes_text,
    contact_label,
    org_choices,
    org_names,
    parse_attributes,
    split_words,
)
from helpline.domains.customers.views._timeline import timeline
from helpline.domains.tickets import queries as ticket_queries
from helpline.errors import Problem
from helpline.types import MAX_ID
from helpline.web.deps import PlatformDep
from helpline.web.forms import errors_of, flash_of, form_of
from helpline.web.pages import StaffPage, redirect
from helpline.web.templating import render

router = APIRouter(include_in_schema=False)


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
            "flash": flash_of(request, FLASHES),
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
    form = await form_of(request)
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
            "flash": flash_of(request, FLASHES),
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
    form = await form_of(request)
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
    form = await form_of(request)
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
    form = await form_of(request)
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
