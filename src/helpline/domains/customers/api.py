"""HTTP API of contacts, their identities and organizations: parse, call one service or query, render."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse

from helpline.domains.customers import privacy, queries, service
from helpline.domains.customers.privacy.schemas import ContactExport, EraseContact, EraseResult
from helpline.domains.customers.schemas import (
    ContactCreate,
    ContactPage,
    ContactRead,
    ContactUpdate,
    IdentityCreate,
    MergeContacts,
    OrganizationCreate,
    OrganizationPage,
    OrganizationRead,
    OrganizationUpdate,
)
from helpline.platform.db import UnitOfWork
from helpline.types import MAX_ID
from helpline.web import idempotency
from helpline.web.deps import CurrentPrincipal, PlatformDep
from helpline.web.responses import JSON
from helpline.web.types import IdPath

router = APIRouter(tags=["customers"])

IdemKey = Annotated[str | None, Header(alias="Idempotency-Key", description="Makes a retried POST safe")]
Limit = Annotated[int, Query(ge=1, le=100)]
Cursor = Annotated[str | None, Query(pattern=r"^\d{1,18}$", description="next_cursor of the previous page")]
ContactId = IdPath
OrgId = IdPath
IdentityId = IdPath
Search = Annotated[str | None, Query(max_length=200, description="Case-insensitive substring")]

Responses = dict[int | str, dict[str, Any]]

NOT_YOURS: Responses = {404: {"description": "No such contact, or not yours to see"}}
FORBIDDEN: Responses = {403: {"description": "Only admins and agents change contacts and organizations"}}


def _contact_headers(item: dict[str, Any]) -> dict[str, str]:
    return {"Location": f"/api/v1/contacts/{item['id']}"}


# --- contacts -------------------------------------------------------------------------------------


@router.post(
    "/contacts",
    status_code=201,
    response_model=ContactRead,
    summary="Create a contact",
    responses={**FORBIDDEN, 409: {"description": "The email is a contact's already"}},
)
async def create_contact(
    body: ContactCreate,
    request: Request,
    actor: CurrentPrincipal,
    platform: PlatformDep,
    idempotency_key: IdemKey = None,
) -> Response:
    async def work(uow: UnitOfWork) -> tuple[int, Any, dict[str, str]]:
        contact_id = await service.do_create_contact(uow, actor, body)
        item = await queries.contact_detail(uow.conn, actor, contact_id)
        return 201, item, _contact_headers(item)

    return await idempotency.run(platform, actor, request, idempotency_key, work)


@router.get(
    "/contacts",
    response_model=ContactPage,
    summary="List and search contacts",
    description="In id order; merged contacts are left out. A customer's list holds only themself.",
)
async def list_contacts(
    actor: CurrentPrincipal,
    platform: PlatformDep,
    q: Search = None,
    organization_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    cursor: Cursor = None,
    limit: Limit = 25,
) -> JSON:
    async with platform.db.read() as conn:
        items, nxt = await queries.list_contacts(
            conn, actor, q=q, organization_id=organization_id, cursor=cursor, limit=limit
        )
    return JSON({"items": items, "next_cursor": nxt})


@router.get(
    "/contacts/{contact_id}", response_model=ContactRead, summary="Get a contact", responses=NOT_YOURS
)
async def get_contact(contact_id: ContactId, actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    async with platform.db.read() as conn:
        item = await queries.contact_detail(conn, actor, contact_id)
    return JSON(item)


@router.patch(
    "/contacts/{contact_id}",
    response_model=ContactRead,
    summary="Change a contact",
    description="Customers may change their own name only.",
    responses={**NOT_YOURS, **FORBIDDEN},
)
async def update_contact(
    contact_id: ContactId, body: ContactUpdate, actor: CurrentPrincipal, platform: PlatformDep
) -> JSON:
    async with platform.db.transaction() as uow:
        contact = await queries.access_contact(uow.conn, actor, contact_id)
        await service.do_update_contact(uow, actor, contact, body)
        item = await queries.contact_detail(uow.conn, actor, contact_id)
    return JSON(item)


@router.post(
    "/contacts/{contact_id}/identities",
    status_code=201,
    response_model=ContactRead,
    summary="Add an email address, phone number or handle to a contact",
    responses={**NOT_YOURS, **FORBIDDEN, 409: {"description": "Another contact has this identity"}},
)
async def add_identity(
    contact_id: ContactId,
    body: IdentityCreate,
    request: Request,
    actor: CurrentPrincipal,
    platform: PlatformDep,
    idempotency_key: IdemKey = None,
) -> Response:
    async def work(uow: UnitOfWork) -> tuple[int, Any, dict[str, str]]:
        contact = await queries.access_contact(uow.conn, actor, contact_id)
        await service.do_add_identity(uow, actor, contact, body)
        return 201, await queries.contact_detail(uow.conn, actor, contact_id), {}

    return await idempotency.run(platform, actor, request, idempotency_key, work)


@router.delete(
    "/contacts/{contact_id}/identities/{identity_id}",
    status_code=204,
    summary="Remove an identity from a contact",
    responses={**NOT_YOURS, **FORBIDDEN, 409: {"description": "It is the last identity"}},
)
async def remove_identity(
    contact_id: ContactId, identity_id: IdentityId, actor: CurrentPrincipal, platform: PlatformDep
) -> Response:
    async with platform.db.transaction() as uow:
        contact = await queries.access_contact(uow.conn, actor, contact_id)
        await service.do_remove_identity(uow, actor, contact, identity_id)
    return Response(status_code=204)


@router.post(
    "/contacts/{contact_id}/merge",
    response_model=ContactRead,
    summary="Merge another contact (source_id) into this one",
    description="Identities, tickets, CCs and sign-ins of the source move here; the source is kept "
    "as a pointer (merged_into_id) and left out of lists.",
    responses={**NOT_YOURS, **FORBIDDEN, 409: {"description": "One of them was merged already"}},
)
async def merge_contacts(
    contact_id: ContactId, body: MergeContacts, actor: CurrentPrincipal, platform: PlatformDep
) -> JSON:
    async with platform.db.transaction() as uow:
        target = await queries.access_contact(uow.conn, actor, contact_id)
        source = await queries.access_contact(uow.conn, actor, body.source_id)
        await service.do_merge_contacts(uow, actor, target, source)
        item = await queries.contact_detail(uow.conn, actor, contact_id)
    return JSON(item)


# --- privacy: export and erase -------------------------------------------------------------------

PRIVACY: Responses = {
    403: {"description": "Only admins export or erase a contact"},
    409: {"description": "The contact was merged into another: use that one"},
}


@router.get(
    "/contacts/{contact_id}/export",
    response_model=ContactExport,
    summary="Export everything held about a contact (admins)",
    description="A JSON document (format_version 1, documented in docs/customers.md), or with "
    "`format=zip` a ZIP of it (`contact.json`) with the contact's attachments and original emails. "
    "Recorded in the audit log.",
    responses={
        **NOT_YOURS,
        **PRIVACY,
        200: {"content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}},
    },
)
async def export_contact(
    contact_id: ContactId,
    actor: CurrentPrincipal,
    platform: PlatformDep,
    format: Annotated[Literal["json", "zip"], Query(description="json (default) or zip")] = "json",
) -> Response:
    name = f"contact-{contact_id}-export"
    if format == "zip":
        archive = await privacy.export_archive(platform, actor, contact_id)
        return StreamingResponse(
            privacy.chunks_of(archive),
            media_type="application/zip",
            headers={
                "Content-Disposition": f'attachment; filename="{name}.zip"',
                "Cache-Control": "no-store",
            },
        )
    doc = await privacy.export_contact(platform, actor, contact_id)
    return JSON(
        doc,
        headers={"Content-Disposition": f'attachment; filename="{name}.json"', "Cache-Control": "no-store"},
    )


@router.post(
    "/contacts/{contact_id}/erase",
    response_model=EraseResult,
    summary="Erase a contact at their request (admins)",
    description="Redacts their messages and their tickets' conversations, deletes their attachments and "
    "original emails, removes their identities and sign-in, anonymizes the contact; the tickets stay. "
    "Cannot be undone; `confirm` must be ERASE. Running it again changes nothing. Recorded in the "
    "audit log (counts only).",
    responses={**NOT_YOURS, **PRIVACY},
)
async def erase_contact(
    contact_id: ContactId, body: EraseContact, actor: CurrentPrincipal, platform: PlatformDep
) -> JSON:
    async with platform.db.transaction() as uow:
        counts = await privacy.do_erase_contact(uow, platform.pubsub, actor, contact_id, confirm=body.confirm)
        contact = await queries.access_contact(uow.conn, actor, contact_id)
    return JSON({"contact_id": contact_id, "erased_at": contact["erased_at"], "counts": counts})


# --- organizations --------------------------------------------------------------------------------

ORG_NOT_YOURS: Responses = {404: {"description": "No such organization, or not yours to see"}}


@router.post(
    "/organizations",
    status_code=201,
    response_model=OrganizationRead,
    summary="Create an organization",
    responses={**FORBIDDEN, 409: {"description": "The name or a domain is taken"}},
)
async def create_organization(
    body: OrganizationCreate,
    request: Request,
    actor: CurrentPrincipal,
    platform: PlatformDep,
    idempotency_key: IdemKey = None,
) -> Response:
    async def work(uow: UnitOfWork) -> tuple[int, Any, dict[str, str]]:
        org_id = await service.do_create_organization(uow, actor, body)
        item = await queries.organization_detail(uow.conn, actor, org_id)
        return 201, item, {"Location": f"/api/v1/organizations/{org_id}"}

    return await idempotency.run(platform, actor, request, idempotency_key, work)


@router.get("/organizations", response_model=OrganizationPage, summary="List and search organizations")
async def list_organizations(
    actor: CurrentPrincipal, platform: PlatformDep, q: Search = None, cursor: Cursor = None, limit: Limit = 25
) -> JSON:
    async with platform.db.read() as conn:
        items, nxt = await queries.list_organizations(conn, actor, q=q, cursor=cursor, limit=limit)
    return JSON({"items": items, "next_cursor": nxt})


@router.get(
    "/organizations/{org_id}",
    response_model=OrganizationRead,
    summary="Get an organization",
    responses=ORG_NOT_YOURS,
)
async def get_organization(org_id: OrgId, actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    async with platform.db.read() as conn:
        item = await queries.organization_detail(conn, actor, org_id)
    return JSON(item)


@router.patch(
    "/organizations/{org_id}",
    response_model=OrganizationRead,
    summary="Change an organization",
    responses={**ORG_NOT_YOURS, **FORBIDDEN},
)
async def update_organization(
    org_id: OrgId, body: OrganizationUpdate, actor: CurrentPrincipal, platform: PlatformDep
) -> JSON:
    async with platform.db.transaction() as uow:
        org = await queries.access_organization(uow.conn, actor, org_id)
        await service.do_update_organization(uow, actor, org, body)
        item = await queries.organization_detail(uow.conn, actor, org_id)
    return JSON(item)


@router.get(
    "/organizations/{org_id}/contacts",
    response_model=ContactPage,
    summary="The contacts of an organization",
    responses=ORG_NOT_YOURS,
)
async def organization_contacts(
    org_id: OrgId, actor: CurrentPrincipal, platform: PlatformDep, cursor: Cursor = None, limit: Limit = 25
) -> JSON:
    async with platform.db.read() as conn:
        items, nxt = await queries.organization_contacts(conn, actor, org_id, cursor=cursor, limit=limit)
    return JSON({"items": items, "next_cursor": nxt})
