"""HTTP API of what admins define for tickets: tags and custom fields."""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Path, Query, Response
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.db.base import utcnow
from helpline.domains.accounts.queries import require_admin, require_staff
from helpline.domains.tickets import queries
from helpline.domains.tickets.fields import fields_table
from helpline.domains.tickets.models import FieldType, TicketTag
from helpline.domains.tickets.schemas import (
    CustomFieldCreate,
    CustomFieldRead,
    CustomFieldUpdate,
    TagRead,
    TagRename,
)
from helpline.errors import Conflict, Invalid, NotFound
from helpline.web.deps import CurrentPrincipal, PlatformDep
from helpline.web.responses import JSON
from helpline.web.types import IdPath

router = APIRouter(tags=["catalog"])
tags = TicketTag.__table__
TagName = Annotated[str, Path(min_length=1, max_length=80, pattern=r"^[^\s,]+$")]
_FIELD_COLS = [fields_table.c[n] for n in CustomFieldRead.model_fields]


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
    require_admin(actor)
    async with platform.db.transaction() as uow:
        ws_tags = tags.c.workspace_id == actor.workspace_id
        if body.name != name:
            both = sa.select(tags.c.ticket_id).where(ws_tags, tags.c.tag == body.name).scalar_subquery()
            await uow.execute(tags.delete().where(ws_tags, tags.c.tag == name, tags.c.ticket_id.in_(both)))
            await uow.execute(tags.update().where(ws_tags, tags.c.tag == name).values(tag=body.name))
        count = (
            await uow.execute(sa.select(sa.func.count()).where(ws_tags, tags.c.tag == body.name))
        ).scalar_one()
    if count == 0:
        raise NotFound(f"tag {name!r} is not in use")
    return JSON({"name": body.name, "count": count})


@router.delete("/tags/{name}", status_code=204, summary="Remove a tag from every ticket (admins)")
async def delete_tag(name: TagName, actor: CurrentPrincipal, platform: PlatformDep) -> Response:
    require_admin(actor)
    async with platform.db.transaction() as uow:
        await uow.execute(tags.delete().where(tags.c.workspace_id == actor.workspace_id, tags.c.tag == name))
    return Response(status_code=204)


@router.get("/custom-fields", response_model=list[CustomFieldRead], summary="Custom ticket fields")
async def list_fields(actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    stmt = sa.select(*_FIELD_COLS).where(fields_table.c.workspace_id == actor.workspace_id)
    if actor.is_customer:
        stmt = stmt.where(fields_table.c.customer_visible.is_(True))
    async with platform.db.read() as conn:
        rows = (
            (await conn.execute(stmt.order_by(fields_table.c.position, fields_table.c.id))).mappings().all()
        )
    return JSON([dict(r) for r in rows])


def _check_options(kind: FieldType, options: list[str]) -> None:
    if kind is FieldType.dropdown and not options:
        raise Invalid("options", "a dropdown needs at least one option")
    if kind is not FieldType.dropdown and options:
        raise Invalid("options", "only dropdown fields have options")
    if len(set(options)) != len(options):
        raise Invalid("options", "options must be distinct")


@router.post(
    "/custom-fields",
    status_code=201,
    response_model=CustomFieldRead,
    summary="Define a custom field (admins)",
)
async def create_field(body: CustomFieldCreate, actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    require_admin(actor)
    _check_options(body.type, body.options)
    async with platform.db.transaction() as uow:
        dup = (
            await uow.execute(
                sa.select(fields_table.c.id).where(
                    fields_table.c.workspace_id == actor.workspace_id, fields_table.c.key == body.key
                )
            )
        ).first()
        if dup:
            raise Conflict(
                f"a field with key {body.key!r} exists", errors=[{"field": "key", "message": "taken"}]
            )
        field_id = (
            await uow.execute(
                fields_table.insert()
                .values(workspace_id=actor.workspace_id, created_at=utcnow(), **body.model_dump(mode="json"))
                .returning(fields_table.c.id)
            )
        ).scalar_one()
        row = (
            (await uow.execute(sa.select(*_FIELD_COLS).where(fields_table.c.id == field_id))).mappings().one()
        )
    return JSON(dict(row), status_code=201)


async def _field(conn: AsyncConnection, ws: int, field_id: IdPath) -> dict[str, Any]:
    row = (
        (
            await conn.execute(
                sa.select(*_FIELD_COLS).where(
                    fields_table.c.id == field_id, fields_table.c.workspace_id == ws
                )
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"custom field {field_id} not found")
    return dict(row)


@router.patch(
    "/custom-fields/{field_id}", response_model=CustomFieldRead, summary="Change a custom field (admins)"
)
async def update_field(
    field_id: IdPath, body: CustomFieldUpdate, actor: CurrentPrincipal, platform: PlatformDep
) -> JSON:
    require_admin(actor)
    async with platform.db.transaction() as uow:
        current = await _field(uow.conn, actor.workspace_id, field_id)
        changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
        if "options" in changes:
            _check_options(FieldType(current["type"]), changes["options"])
        if changes:
            await uow.execute(fields_table.update().where(fields_table.c.id == field_id).values(**changes))
        return JSON(await _field(uow.conn, actor.workspace_id, field_id))


@router.delete(
    "/custom-fields/{field_id}", status_code=204, summary="Delete a custom field (values stay in history)"
)
async def delete_field(field_id: IdPath, actor: CurrentPrincipal, platform: PlatformDep) -> Response:
    require_admin(actor)
    async with platform.db.transaction() as uow:
        await _field(uow.conn, actor.workspace_id, field_id)
        await uow.execute(fields_table.delete().where(fields_table.c.id == field_id))
    return Response(status_code=204)
