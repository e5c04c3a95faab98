"""Admin pages of schedules (business hours): the list, a new schedule, and one schedule with its
weekly grid, its holidays and the public-holiday import (preview with a checkbox per day, then
import the checked ones). Admins only; agents get the 403 page. Works without JavaScript: each day
shows its intervals and two empty rows (clear a row to remove it), the holidays one empty row.

Writes go through :mod:`helpline.domains.automation.schedules`; an error is shown under the input
it names (``week.mon[1]`` under that row of Monday, ``holidays[2].end`` under that holiday's last day).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from helpline import timezones
from helpline.domains.accounts.admin_views import FLASHES, AdminPage, ids_in, workspace_groups
from helpline.domains.accounts.principal import Principal
from helpline.domains.automation import holiday_import, schedules
from helpline.domains.automation.schedule_form import (
    DAYS,
    DEFAULT_BODY,
    _holiday_rows,
    _parse,
    _parse_safely,
    _rows,
    _shown,
    summary,
)
from helpline.domains.automation.schedules import ScheduleChanges
from helpline.errors import Problem
from helpline.web.deps import PlatformDep
from helpline.web.forms import errors_of, flash_of, form_of
from helpline.web.pages import redirect
from helpline.web.templating import render
from helpline.web.types import IdPath

router = APIRouter(include_in_schema=False)
PAGE_FLASHES = {**FLASHES, "imported": "The checked days are imported.", "none": "Nothing new to import."}


def _changes(form: dict[str, Any]) -> tuple[ScheduleChanges, dict[str, str]]:
    body, where = _parse(form)
    return (
        ScheduleChanges(
            name=str(form.get("name", "")),
            body=body,
            is_default=bool(form.get("is_default")),
            group_ids=ids_in(form, "group_ids"),
        ),
        where,
    )


# --- the form ---------------------------------------------------------------------------------------


async def _edit_page(
    request: Request,
    actor: Principal,
    platform: Any,
    item: dict[str, Any] | None,
    *,
    shown: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    preview: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    async with platform.db.read() as conn:
        groups = await workspace_groups(conn, actor)
        others = {
            gid: s["name"]
            for s in await schedules.list_schedules(conn, actor)
            for gid in s["group_ids"]
            if item is None or s["id"] != item["id"]
        }
    shown = shown or {
        "name": item["name"] if item else "",
        "body": item["body"] if item else DEFAULT_BODY,
        "is_default": item["is_default"] if item else False,
        "group_ids": item["group_ids"] if item else [],
    }
    return render(
        request,
        "automation/schedule_edit.html",
        {
            "title": f"Schedule {item['name']}" if item else "New schedule",
            "item": item,
            "values": shown,
            "days": DAYS,
            "rows": _rows(shown["body"]),
            "holidays": _holiday_rows(shown["body"]),
            "zones": timezones.names(),
            "groups": [(g["id"], g["name"], others.get(g["id"])) for g in groups],
            "countries": list(holiday_import.countries()),
            "preview": preview,
            "errors": errors or {},
            "flash": flash_of(request, PAGE_FLASHES),
            "section": "schedules",
        },
        status=status,
    )


# --- routes -----------------------------------------------------------------------------------------


@router.get("/admin/schedules")
async def schedules_page(request: Request, actor: AdminPage, platform: PlatformDep) -> HTMLResponse:
    async with platform.db.read() as conn:
        items = await schedules.list_schedules(conn, actor)
        groups = {g["id"]: g["name"] for g in await workspace_groups(conn, actor)}
    for s in items:
        s["summary"] = summary(s["body"])
        s["group_names"] = [groups[g] for g in s["group_ids"] if g in groups]
    return render(
        request,
        "automation/schedules.html",
        {
            "title": "Business hours",
            "items": items,
            "flash": flash_of(request, PAGE_FLASHES),
            "section": "schedules",
        },
    )


@router.get("/admin/schedules/new")
async def new_schedule_page(request: Request, actor: AdminPage, platform: PlatformDep) -> HTMLResponse:
    return await _edit_page(request, actor, platform, None)


@router.post("/admin/schedules/new")
async def create_schedule(request: Request, actor: AdminPage, platform: PlatformDep) -> Response:
    form = await form_of(request, many=("group_ids",))
    where: dict[str, str] = {}
    try:
        changes, where = _changes(form)
        async with platform.db.transaction() as uow:
            schedule_id = await schedules.do_create(uow, actor, changes)
    except Problem as exc:
        changes = ScheduleChanges(
            name=str(form.get("name", "")), body=_parse_safely(form), group_ids=ids_in(form, "group_ids")
        )
        return await _edit_page(
            request,
            actor,
            platform,
            None,
            shown=_shown(form, changes),
            errors=errors_of(exc, where),
            status=422,
        )
    return redirect(f"/admin/schedules/{schedule_id}?done=created")


@router.get("/admin/schedules/{schedule_id}")
async def schedule_page(
    request: Request, schedule_id: IdPath, actor: AdminPage, platform: PlatformDep
) -> HTMLResponse:
    async with platform.db.read() as conn:
        item = await schedules.access_schedule(conn, actor, schedule_id)
    q = request.query_params
    if not q.get("country"):
        return await _edit_page(request, actor, platform, item)
    try:
        years = [int(y) for y in q.getlist("year") if y.strip().isdigit() and len(y.strip()) == 4] or [0]
        days = holiday_import.preview(q["country"], q.get("subdiv") or None, years)
    except Problem as exc:
        return await _edit_page(request, actor, platform, item, errors=errors_of(exc), status=422)
    preview = {
        "country": q["country"].strip().upper(),
        "subdiv": q.get("subdiv", "").strip(),
        "years": years,
        "days": days,
    }
    return await _edit_page(request, actor, platform, item, preview=preview)


@router.post("/admin/schedules/{schedule_id}")
async def update_schedule(
    request: Request, schedule_id: IdPath, actor: AdminPage, platform: PlatformDep
) -> Response:
    form = await form_of(request, many=("group_ids",))
    where: dict[str, str] = {}
    try:
        changes, where = _changes(form)
        async with platform.db.transaction() as uow:
            await schedules.do_update(uow, actor, schedule_id, changes)
    except Problem as exc:
        if exc.status in (403, 404):
            raise
        async with platform.db.read() as conn:
            item = await schedules.access_schedule(conn, actor, schedule_id)
        changes = ScheduleChanges(
            name=str(form.get("name", "")),
            body=_parse_safely(form),
            is_default=bool(form.get("is_default")),
            group_ids=ids_in(form, "group_ids"),
        )
        return await _edit_page(
            request,
            actor,
            platform,
            item,
            shown=_shown(form, changes),
            errors=errors_of(exc, where),
            status=422,
        )
    return redirect(f"/admin/schedules/{schedule_id}?done=saved")


@router.post("/admin/schedules/{schedule_id}/holidays/import")
async def import_holidays(
    request: Request, schedule_id: IdPath, actor: AdminPage, platform: PlatformDep
) -> Response:
    form = await form_of(request, many=("year", "day", "shown"))
    years = [int(y) for y in form.get("year", []) if y.isdigit() and len(y) == 4] or [0]
    chosen = set(form.get("day", []))
    off = [d for d in form.get("shown", []) if d not in chosen]
    try:
        async with platform.db.transaction() as uow:
            added = await schedules.do_import_holidays(
                uow,
                actor,
                schedule_id,
                country=str(form.get("country", "")),
                subdiv=str(form.get("subdiv", "")) or None,
                years=years,
                dates_off=off,
            )
    except Problem as exc:
        if exc.status in (403, 404):
            raise
        async with platform.db.read() as conn:
            item = await schedules.access_schedule(conn, actor, schedule_id)
        return await _edit_page(request, actor, platform, item, errors=errors_of(exc), status=422)
    return redirect(f"/admin/schedules/{schedule_id}?done={'imported' if added else 'none'}")


@router.post("/admin/schedules/{schedule_id}/delete")
async def delete_schedule(
    request: Request, schedule_id: IdPath, actor: AdminPage, platform: PlatformDep
) -> Response:
    try:
        async with platform.db.transaction() as uow:
            await schedules.do_delete(uow, actor, schedule_id)
    except Problem as exc:
        if exc.status in (403, 404):
            raise
        async with platform.db.read() as conn:
            item = await schedules.access_schedule(conn, actor, schedule_id)
        return await _edit_page(request, actor, platform, item, errors={"delete": exc.detail}, status=409)
    return redirect("/admin/schedules?done=deleted")
