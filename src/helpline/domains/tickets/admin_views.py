"""Admin pages for what tickets carry: custom fields (list, create, edit, delete) and tags (counts,
rename, delete). Admins only (:data:`~helpline.domains.accounts.admin_views.AdminPage`).

Every read and write goes through the catalogue (:mod:`helpline.domains.tickets.catalog`), as the
catalog API's do: the same bodies (``schemas``), the same rules and the same messages; the pages only
turn a form into a body and a refusal into the form's errors.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from helpline.domains.accounts.admin_views import FLASHES, AdminPage
from helpline.domains.accounts.principal import Principal
from helpline.domains.tickets import catalog, queries
from helpline.domains.tickets.models import FieldType
from helpline.domains.tickets.schemas import CustomFieldCreate, CustomFieldUpdate, TagRename
from helpline.domains.tickets.workspace_views import confirm_page
from helpline.errors import Problem
from helpline.web.deps import PlatformDep
from helpline.web.forms import errors_of, flash_of, form_of
from helpline.web.pages import redirect
from helpline.web.templating import render
from helpline.web.types import IdPath

router = APIRouter(include_in_schema=False)
TagName = Annotated[str, Path(min_length=1, max_length=80)]
TYPES = [(t.value, t.value.title()) for t in FieldType]


def _options(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _position(raw: str) -> int:
    raw = (raw or "").strip()
    return int(raw) if raw.isdigit() and len(raw) < 7 else (0 if not raw else -1)


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
        rows = await catalog.list_fields(conn, actor)
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
            await catalog.do_create_field(uow, actor, data)
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
        field = await catalog.access_field(conn, actor, field_id)
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
            current = await catalog.access_field(uow.conn, actor, field_id)
            data = CustomFieldUpdate(
                label=str(form.get("label", "")),
                options=_options(str(form.get("options", "")))
                if current["type"] == FieldType.dropdown
                else None,
                required=form.get("required") == "on",
                customer_visible=form.get("customer_visible") == "on",
                position=_position(str(form.get("position", ""))),
            )
            await catalog.do_update_field(uow, actor, field_id, data)
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
        await catalog.do_delete_field(uow, actor, field_id)
    return redirect("/admin/fields?done=deleted")


# --- tags --------------------------------------------------------------------------------------------


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
            await catalog.do_rename_tag(uow, actor, name, new)
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
async def delete_tag(request: Request, name: TagName, actor: AdminPage, platform: PlatformDep) -> Response:
    """Take a tag off every ticket, after a confirmation step (a page posting ``confirm=1``)."""
    form = await form_of(request)
    if form.get("confirm") != "1":
        async with platform.db.read() as conn:
            counts = await queries.tag_counts(conn, actor, prefix=name, limit=500)
        n = next((int(t["count"]) for t in counts if t["name"] == name), 0)
        return confirm_page(
            request,
            title=f"Remove the tag {name}?",
            sentence=f"This takes {name} off {n} ticket{'s' if n != 1 else ''}. It cannot be undone.",
            action=f"/admin/tags/{quote(name, safe='')}/delete",
            fields=[],
            button="Remove from every ticket",
            cancel="/admin/tags",
        )
    async with platform.db.transaction() as uow:
        await catalog.do_delete_tag(uow, actor, name)
    return redirect("/admin/tags?done=deleted")
