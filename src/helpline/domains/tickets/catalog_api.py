"""HTTP API of what admins define for tickets: tags and custom fields. The rules and writes are the
catalogue's (``catalog.py``), shared with the admin pages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from helpline.domains.accounts.queries import require_staff
from helpline.domains.tickets import catalog, queries
from helpline.domains.tickets.schemas import (
    CustomFieldCreate,
    CustomFieldRead,
    CustomFieldUpdate,
    TagRead,
    TagRename,
)
from helpline.web.deps import CurrentPrincipal, PlatformDep
from helpline.web.responses import JSON
from helpline.web.types import IdPath

router = APIRouter(tags=["catalog"])
TagName = Annotated[str, Path(min_length=1, max_length=80, pattern=r"^[^\s,]+$")]


@router.get("/tags", response_model=list[TagRead], summary="Ticket tags in use, most used first")
async def list_tags(
    actor: CurrentPrincipal,
    platform: PlatformDep,
    prefix: Annotated[str | None, Query(max_length=80)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> JSON:
    require_staff(actor)
    async with platform.db.read() as conn:
        return JSON(await queries.tag_counts(conn, actor, prefix=prefix, limit=limit))


@router.patch("/tags/{name}", response_model=TagRead, summary="Rename a tag on every ticket (admins)")
async def rename_tag(name: TagName, body: TagRename, actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    async with platform.db.transaction() as uow:
        return JSON(await catalog.do_rename_tag(uow, actor, name, body.name))


@router.delete("/tags/{name}", status_code=204, summary="Remove a tag from every ticket (admins)")
async def delete_tag(name: TagName, actor: CurrentPrincipal, platform: PlatformDep) -> Response:
    async with platform.db.transaction() as uow:
        await catalog.do_delete_tag(uow, actor, name)
    return Response(status_code=204)


@router.get("/custom-fields", response_model=list[CustomFieldRead], summary="Custom ticket fields")
async def list_fields(actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    async with platform.db.read() as conn:
        return JSON(await catalog.list_fields(conn, actor))


@router.post(
    "/custom-fields",
    status_code=201,
    response_model=CustomFieldRead,
    summary="Define a custom field (admins)",
)
async def create_field(body: CustomFieldCreate, actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    async with platform.db.transaction() as uow:
        return JSON(await catalog.do_create_field(uow, actor, body), status_code=201)


@router.patch(
    "/custom-fields/{field_id}", response_model=CustomFieldRead, summary="Change a custom field (admins)"
)
async def update_field(
    field_id: IdPath, body: CustomFieldUpdate, actor: CurrentPrincipal, platform: PlatformDep
) -> JSON:
    async with platform.db.transaction() as uow:
        return JSON(await catalog.do_update_field(uow, actor, field_id, body))


@router.delete(
    "/custom-fields/{field_id}", status_code=204, summary="Delete a custom field (values stay in history)"
)
async def delete_field(field_id: IdPath, actor: CurrentPrincipal, platform: PlatformDep) -> Response:
    async with platform.db.transaction() as uow:
        await catalog.do_delete_field(uow, actor, field_id)
    return Response(status_code=204)
