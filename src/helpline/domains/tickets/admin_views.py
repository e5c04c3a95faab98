"""Admin pages for what tickets carry: custom fields (list, create, edit, delete) and tags (counts,
rename, delete). Admins only (:data:`~helpline.domains.accounts.admin_views.AdminPage`).

The writes follow the catalog API's rules (:mod:`helpline.domains.tickets.catalog_api`): field bodies
are validated by the same schemas, options by the same check, and a tag renamed onto one a ticket
already has is merged, not duplicated.
"""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from helpline.db.base import utcnow
from helpline.domains.accounts.admin_views import FLASHES, AdminPage
from helpline.domains.accounts.principal import Principal
from helpline.domains.tickets import queries
from helpline.domains.tickets.catalog_api import _check_options
from helpline.domains.tickets.fields import fields_table
from helpline.domains.tickets.models import FieldType, TicketTag
from helpline.domains.tickets.schemas import CustomFieldCreate, CustomFieldUpdate, TagRename
from helpline.errors import Conflict, Forbidden, NotFound, Problem
from helpline.platform.db import UnitOfWork
from helpline.web.deps import PlatformDep
from helpline.web.forms import errors_of, flash_of, form_of
from helpline.web.pages import redirect
from helpline.web.templating import render
from helpline.web.types import IdPath

router = APIRouter(include_in_schema=False)
tags_t: sa.Table = TicketTag.__table__
fields_t: sa.Table = fields_table
TagName = Annotated[str, Path(min_length=1, max_length=80)]
TYPES = [(t.value, t.value.title()) for t in FieldType]


def _options(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _position(raw: str) -> int:
    raw = (raw or "").strip()
    return int(raw) if raw.isdigit() and len(raw) < 7 else (0 if not raw else -1)


# --- custom fields: writes --------------------------------------------------------------------------


def check_admin(actor: Principal) -> None:
    if not actor.is_admin:
        raise Forbidden("only admins define custom fields and manage tags")


async def access_field(conn: Any, actor: Principal, field_id: int) -> dict[str, Any]:
    row = (
        (
            await conn.execute(
                sa.select(fields_t).where(
                    fields_t.c.id == field_id, fields_t.c.workspace_id == actor.workspace_id
                )
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"custom field {field_id} not found")
    return dict(row)


async def do_create_field(uow: UnitOfWork, actor: Principal, data: CustomFieldCreate) -> int:
    check_admin(actor)
    _check_options(data.type, data.options)
    dup = (
        await uow.execute(
            sa.select(fields_t.c.id).where(
                fields_t.c.workspace_id == actor.workspace_id, fields_t.c.key == data.key
            )
        )
    ).first()
    if dup:
        raise Conflict(f"a field with key {data.key!r} exists", errors=[{"field": "key", "message": "taken"}])
    result = await uow.execute(
        fields_t.insert()
        .values(workspace_id=actor.workspace_id, created_at=utcnow(), **data.model_dump(mode="json"))
        .returning(fields_t.c.id)
    )
    return int(result.scalar_one())


async def do_update_field(
    uow: UnitOfWork, actor: Principal, current: dict[str, Any], data: CustomFieldUpdate
) -> None:
    check_admin(actor)
    changes = {k: v for k, v in data.model_dump(exclude_unset=True).items() if v is not None}
    if "options" in changes:
        _check_options(FieldType(current["type"]), changes["options"])
    if changes:
        await uow.execute(fields_t.update().where(fields_t.c.id == current["id"]).values(**changes))


async def do_delete_field(uow: UnitOfWork, actor: Principal, current: dict[str, Any]) -> None:
    check_admin(actor)
    await uow.execute(
        fields_t.delete().where(fields_t.c.id == current["id"], fields_t.c.workspace_id == actor.workspace_id)
    )


# --- custom fields: pages ---------------------------------------------------------------------------


async def _fields_page(
    request: Request,
    actor: Principal,
    platform: Any,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    async with platform.db.read() as conn:
        rows = (
            (
                await conn.execute(
                    sa.select(fields_t)
                    .where(fields_t.c.workspace_id == actor.workspace_id)
                    .order_by(fields_t.c.position, fields_t.c.id)
                )
            )
            .mappings()
            .all()
        )
    return render(
        request,
        "tickets/admin_fields.html",
        {
            "title": "Custom fields",
            "fields": rows,
            "types": TYPES,
            "errors": errors or {},
            "values": values or {"type": "text"},
            "flash": flash_of(request, FLASHES),
            "section": "fields",
        },
        status=status,
    )


@router.get("/admin/fields")
async def fields_page(request: Request, actor: AdminPage, platform: PlatformDep) -> HTMLResponse:
    return await _fields_page(request, actor, platform)


@router.post("/admin/fields")
async def create_field(request: Request, actor: AdminPage, platform: PlatformDep) -> Response:
    form = await form_of(request)
    try:
        data = CustomFieldCreate(
            key=str(form.get("key", "")).strip(),
            label=str(form.get("label", "")),
            type=str(form.get("type", "")),
            options=_options(str(form.get("options", ""))),
            required=form.get("required") == "on",
            customer_visible=form.get("customer_visible") == "on",
            position=_position(str(form.get("position", ""))),
        )
        async with platform.db.transaction() as uow:
            await do_create_field(uow, actor, data)
    except (ValidationError, Problem) as exc:
        return await _fields_page(request, actor, platform, errors=errors_of(exc), values=form, status=422)
    return redirect("/admin/fields?done=created")


async def _field_page(
    request: Request,
    actor: Principal,
    platform: Any,
    field_id: int,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    async with platform.db.read() as conn:
        field = await access_field(conn, actor, field_id)
    shown = {
        "label": field["label"],
        "options": "\n".join(field["options"] or []),
        "position": field["position"],
        "required": "on" if field["required"] else "",
        "customer_visible": "on" if field["customer_visible"] else "",
    }
    if values is not None:
        shown = {
            "required": "",
            "customer_visible": "",
            **{k: v for k, v in values.items() if k in shown},
            **(
                {
                    "required": values.get("required", ""),
                    "customer_visible": values.get("customer_visible", ""),
                }
            ),
        }
    return render(
        request,
        "tickets/admin_field.html",
        {
            "title": f"Field {field['label']}",
            "field": field,
            "values": shown,
            "errors": errors or {},
            "flash": flash_of(request, FLASHES),
            "section": "fields",
        },
        status=status,
    )


@router.get("/admin/fields/{field_id}")
async def field_page(
    request: Request, field_id: IdPath, actor: AdminPage, platform: PlatformDep
) -> HTMLResponse:
    return await _field_page(request, actor, platform, field_id)


@router.post("/admin/fields/{field_id}")
async def update_field(
    request: Request, field_id: IdPath, actor: AdminPage, platform: PlatformDep
) -> Response:
    form = await form_of(request)
    try:
        async with platform.db.transaction() as uow:
            current = await access_field(uow.conn, actor, field_id)
            data = CustomFieldUpdate(
                label=str(form.get("label", "")),
                options=_options(str(form.get("options", "")))
                if current["type"] == FieldType.dropdown
                else None,
                required=form.get("required") == "on",
                customer_visible=form.get("customer_visible") == "on",
                position=_position(str(form.get("position", ""))),
            )
            await do_update_field(uow, actor, current, data)
    except (ValidationError, Problem) as exc:
        if isinstance(exc, Problem) and exc.status == 404:
            raise
        return await _field_page(
            request, actor, platform, field_id, errors=errors_of(exc), values=form, status=422
        )
    return redirect(f"/admin/fields/{field_id}?done=saved")


@router.post("/admin/fields/{field_id}/delete")
async def delete_field(field_id: IdPath, actor: AdminPage, platform: PlatformDep) -> Response:
    async with platform.db.transaction() as uow:
        current = await access_field(uow.conn, actor, field_id)
        await do_delete_field(uow, actor, current)
    return redirect("/admin/fields?done=deleted")


# --- tags --------------------------------------------------------------------------------------------


async def do_rename_tag(uow: UnitOfWork, actor: Principal, name: str, new: str) -> int:
    """Rename ``name`` to ``new`` on every ticket of the workspace; tickets with both keep one. How many
    tickets carry ``new`` afterwards (0: ``name`` was not in use)."""
    check_admin(actor)
    ws_tags = tags_t.c.workspace_id == actor.workspace_id
    if new != name:
        both = sa.select(tags_t.c.ticket_id).where(ws_tags, tags_t.c.tag == new).scalar_subquery()
        await uow.execute(tags_t.delete().where(ws_tags, tags_t.c.tag == name, tags_t.c.ticket_id.in_(both)))
        await uow.execute(tags_t.update().where(ws_tags, tags_t.c.tag == name).values(tag=new))
    return int(
        (await uow.execute(sa.select(sa.func.count()).where(ws_tags, tags_t.c.tag == new))).scalar_one()
    )


async def do_delete_tag(uow: UnitOfWork, actor: Principal, name: str) -> None:
    check_admin(actor)
    await uow.execute(
        tags_t.delete().where(tags_t.c.workspace_id == actor.workspace_id, tags_t.c.tag == name)
    )


async def _tags_page(
    request: Request,
    actor: Principal,
    platform: Any,
    *,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    async with platform.db.read() as conn:
        counts = await queries.tag_counts(conn, actor, prefix=None, limit=500)
    return render(
        request,
        "tickets/admin_tags.html",
        {
            "title": "Tags",
            "tags": counts,
            "errors": errors or {},
            "flash": flash_of(request, FLASHES),
            "section": "tags",
            "editing": request.query_params.get("rename"),
        },
        status=status,
    )


@router.get("/admin/tags")
async def tags_page(request: Request, actor: AdminPage, platform: PlatformDep) -> HTMLResponse:
    return await _tags_page(request, actor, platform)


@router.post("/admin/tags/{name:path}/rename")
async def rename_tag(request: Request, name: TagName, actor: AdminPage, platform: PlatformDep) -> Response:
    form = await form_of(request)
    try:
        new = TagRename(name=str(form.get("new_name", ""))).name
        async with platform.db.transaction() as uow:
            count = await do_rename_tag(uow, actor, name, new)
        if count == 0:
            raise NotFound(f"the tag {name!r} is not in use")
    except (ValidationError, Problem) as exc:
        errors = errors_of(exc)
        return await _tags_page(
            request,
            actor,
            platform,
            status=422,
            errors={"new_name": errors.get("name") or next(iter(errors.values()))},
        )
    return redirect("/admin/tags?done=renamed")


@router.post("/admin/tags/{name:path}/delete")
async def delete_tag(name: TagName, actor: AdminPage, platform: PlatformDep) -> Response:
    async with platform.db.transaction() as uow:
        await do_delete_tag(uow, actor, name)
    return redirect("/admin/tags?done=deleted")
