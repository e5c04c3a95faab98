"""Groups and their members."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from helpline.domains.accounts import service
from helpline.domains.accounts.admin_views._common import (
    FLASHES,
    AdminPage,
    access_group,
    group_members,
    ids_in,
    router,
    workspace_groups,
    workspace_people,
)
from helpline.domains.accounts.principal import Principal
from helpline.errors import Invalid, Problem
from helpline.web.deps import PlatformDep
from helpline.web.forms import errors_of, flash_of, form_of
from helpline.web.pages import redirect
from helpline.web.templating import render
from helpline.web.types import IdPath

# --- groups ------------------------------------------------------------------------------------------


async def _groups_page(
    request: Request,
    actor: Principal,
    platform: Any,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    async with platform.db.read() as conn:
        all_groups = await workspace_groups(conn, actor)
        staff = await workspace_people(conn, actor, staff_only=True)
    names = {p["id"]: p["name"] or p["email"] for p in staff}
    return render(
        request,
        "accounts/admin_groups.html",
        {
            "title": "Groups",
            "groups": all_groups,
            "staff": staff,
            "names": names,
            "errors": errors or {},
            "values": values or {},
            "flash": flash_of(request, FLASHES),
            "section": "groups",
        },
        status=status,
    )


@router.get("/admin/groups")
async def groups_page(request: Request, actor: AdminPage, platform: PlatformDep) -> HTMLResponse:
    return await _groups_page(request, actor, platform)


@router.post("/admin/groups")
async def create_group(request: Request, actor: AdminPage, platform: PlatformDep) -> Response:
    form = await form_of(request, many=("member_ids",))
    name = str(form.get("name", "")).strip()
    try:
        if len(name) > 120:
            raise Invalid("name", "at most 120 characters")
        async with platform.db.transaction() as uow:
            gid = await service.create_group(
                uow, actor.workspace_id, name, str(form.get("description", ""))[:2000]
            )
            await service.set_group_members(uow, actor.workspace_id, gid, ids_in(form, "member_ids"))
    except Problem as exc:
        return await _groups_page(request, actor, platform, errors=errors_of(exc), values=form, status=422)
    return redirect("/admin/groups?done=created")


@router.get("/admin/groups/{group_id}")
async def group_page(
    request: Request, group_id: IdPath, actor: AdminPage, platform: PlatformDep
) -> HTMLResponse:
    async with platform.db.read() as conn:
        group = await access_group(conn, actor, group_id)
        staff = await workspace_people(conn, actor, staff_only=True)
        member_ids = {
            r[0]
            for r in await conn.execute(
                sa.select(group_members.c.user_id).where(group_members.c.group_id == group_id)
            )
        }
    return render(
        request,
        "accounts/admin_group.html",
        {
            "title": f"Group {group['name']}",
            "group": group,
            "staff": staff,
            "member_ids": member_ids,
            "flash": flash_of(request, FLASHES),
            "errors": {},
            "section": "groups",
        },
    )


@router.post("/admin/groups/{group_id}")
async def update_group_members(
    request: Request, group_id: IdPath, actor: AdminPage, platform: PlatformDep
) -> Response:
    form = await form_of(request, many=("member_ids",))
    async with platform.db.transaction() as uow:
        await access_group(uow.conn, actor, group_id)
        await service.set_group_members(uow, actor.workspace_id, group_id, ids_in(form, "member_ids"))
    return redirect(f"/admin/groups/{group_id}?done=saved")
