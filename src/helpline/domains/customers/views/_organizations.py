"""Organization pages: list and search, profile, edit."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from helpline.domains.accounts.principal import Principal
from helpline.domains.customers import queries, service
from helpline.domains.customers.schemas import OrganizationCreate, OrganizationUpdate
from helpline.domains.customers.views._common import (
    FLASHES,
    PAGE,
    Cursor,
    OrgId,
    Search,
    attributes_text,
    parse_attributes,
    split_words,
)
from helpline.domains.tickets import queries as ticket_queries
from helpline.errors import Problem
from helpline.web.deps import PlatformDep
from helpline.web.forms import errors_of, flash_of, form_of
from helpline.web.pages import StaffPage, redirect
from helpline.web.templating import render

router = APIRouter(include_in_schema=False)


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
            "flash": flash_of(request, FLASHES),
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
    form = await form_of(request)
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
            "flash": flash_of(request, FLASHES),
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
    form = await form_of(request)
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
