"""Admin pages of canned responses: list, create, edit, delete. Admins only.

Writes go through :mod:`helpline.domains.automation.service`, which refuses a body whose placeholders
do not parse; the form is shown again with that error under the body field (status 422).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from helpline.domains.accounts.admin_views import FLASHES, AdminPage, workspace_groups
from helpline.domains.accounts.principal import Principal
from helpline.domains.automation import queries, render, service
from helpline.domains.automation.service import CannedInput
from helpline.errors import Problem
from helpline.types import MAX_ID
from helpline.web.deps import PlatformDep
from helpline.web.forms import errors_of, flash_of, form_of
from helpline.web.pages import redirect
from helpline.web.templating import render as render_page
from helpline.web.types import IdPath

router = APIRouter(include_in_schema=False)
PLACEHOLDERS = [f"{{{{ {obj}.{attr} }}}}" for obj, attrs in render.PLACEHOLDERS.items() for attr in attrs]
SAMPLE = {
    "customer": {"name": "Ada Lovelace", "email": "ada@example.com"},
    "ticket": {"number": 1042, "subject": "Cannot sign in"},
    "agent": {"name": "Sam Agent"},
}


def _input(form: dict[str, Any]) -> CannedInput:
    raw = str(form.get("group_id", ""))
    group_id = int(raw) if raw.isdigit() and 0 < int(raw) <= MAX_ID else None
    return CannedInput(title=str(form.get("title", "")), body=str(form.get("body", "")), group_id=group_id)


async def _list_page(
    request: Request,
    actor: Principal,
    platform: Any,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    async with platform.db.read() as conn:
        items = await queries.list_canned(conn, actor)
        groups = await workspace_groups(conn, actor)
    for item in items:
        item["preview"] = render.fill(item["body"], **SAMPLE)
    return render_page(
        request,
        "automation/canned.html",
        {
            "title": "Canned responses",
            "items": items,
            "groups": [(g["id"], g["name"]) for g in groups],
            "errors": errors or {},
            "values": values or {},
            "placeholders": PLACEHOLDERS,
            "flash": flash_of(request, FLASHES),
            "section": "canned",
        },
        status=status,
    )


@router.get("/admin/canned")
async def canned_page(request: Request, actor: AdminPage, platform: PlatformDep) -> HTMLResponse:
    return await _list_page(request, actor, platform)


@router.post("/admin/canned")
async def create_canned(request: Request, actor: AdminPage, platform: PlatformDep) -> Response:
    form = await form_of(request)
    try:
        async with platform.db.transaction() as uow:
            await service.do_create_canned(uow, actor, _input(form))
    except Problem as exc:
        return await _list_page(request, actor, platform, errors=errors_of(exc), values=form, status=422)
    return redirect("/admin/canned?done=created")


async def _edit_page(
    request: Request,
    actor: Principal,
    platform: Any,
    canned_id: int,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    async with platform.db.read() as conn:
        item = await queries.access_canned(conn, actor, canned_id)
        groups = await workspace_groups(conn, actor)
    shown = {
        "title": item["title"],
        "body": item["body"],
        "group_id": item["group_id"] or "",
        **(values or {}),
    }
    return render_page(
        request,
        "automation/canned_edit.html",
        {
            "title": f"Canned response {item['title']}",
            "item": item,
            "values": shown,
            "groups": [(g["id"], g["name"]) for g in groups],
            "errors": errors or {},
            "placeholders": PLACEHOLDERS,
            "preview": render.fill(item["body"], **SAMPLE),
            "flash": flash_of(request, FLASHES),
            "section": "canned",
        },
        status=status,
    )


@router.get("/admin/canned/{canned_id}")
async def canned_edit_page(
    request: Request, canned_id: IdPath, actor: AdminPage, platform: PlatformDep
) -> HTMLResponse:
    return await _edit_page(request, actor, platform, canned_id)


@router.post("/admin/canned/{canned_id}")
async def update_canned(
    request: Request, canned_id: IdPath, actor: AdminPage, platform: PlatformDep
) -> Response:
    form = await form_of(request)
    try:
        async with platform.db.transaction() as uow:
            current = await queries.access_canned(uow.conn, actor, canned_id)
            await service.do_update_canned(uow, actor, current, _input(form))
    except Problem as exc:
        if exc.status in (403, 404):
            raise
        return await _edit_page(
            request, actor, platform, canned_id, errors=errors_of(exc), values=form, status=422
        )
    return redirect(f"/admin/canned/{canned_id}?done=saved")


@router.post("/admin/canned/{canned_id}/delete")
async def delete_canned(canned_id: IdPath, actor: AdminPage, platform: PlatformDep) -> Response:
    async with platform.db.transaction() as uow:
        current = await queries.access_canned(uow.conn, actor, canned_id)
        await service.do_delete_canned(uow, actor, current)
    return redirect("/admin/canned?done=deleted")
