"""The admin index, and people: create with role and groups, change role/groups, deactivate."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from helpline.domains.accounts import queries, service
from helpline.domains.accounts.admin_views._common import (
    FLASHES,
    STAFF_ROLES,
    AdminPage,
    access_member,
    ids_in,
    open_invitations,
    router,
    workspace_groups,
    workspace_people,
)
from helpline.domains.accounts.models import Role
from helpline.domains.accounts.principal import Principal
from helpline.errors import Problem
from helpline.web.deps import PlatformDep
from helpline.web.forms import errors_of, flash_of, form_of
from helpline.web.pages import redirect
from helpline.web.templating import render
from helpline.web.types import IdPath

# --- index -------------------------------------------------------------------------------------------


@router.get("/admin")
async def admin_index(request: Request, actor: AdminPage, platform: PlatformDep) -> HTMLResponse:
    async with platform.db.read() as conn:
        counts = await queries.workspace_counts(conn, actor.workspace_id)
    return render(
        request,
        "accounts/admin_index.html",
        {
            "title": "Admin",
            "by_role": counts["by_role"],
            "n_groups": counts["groups"],
            "n_tokens": counts["tokens"],
            "section": "index",
        },
    )


# --- people ------------------------------------------------------------------------------------------


async def _users_page(
    request: Request,
    actor: Principal,
    platform: Any,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    show_customers = request.query_params.get("customers") == "1"
    async with platform.db.read() as conn:
        people = await workspace_people(conn, actor, staff_only=not show_customers)
        all_groups = await workspace_groups(conn, actor)
        invited = await open_invitations(conn, actor)
    return render(
        request,
        "accounts/admin_users.html",
        {
            "title": "People and roles",
            "people": people,
            "invited": invited,
            "groups": all_groups,
            "roles": STAFF_ROLES,
            "gnames": {g["id"]: g["name"] for g in all_groups},
            "errors": errors or {},
            "values": values or {"role": Role.agent.value},
            "flash": flash_of(request, FLASHES),
            "show_customers": show_customers,
            "section": "users",
        },
        status=status,
    )


@router.get("/admin/users")
async def users_page(request: Request, actor: AdminPage, platform: PlatformDep) -> HTMLResponse:
    return await _users_page(request, actor, platform)


@router.post("/admin/users")
async def create_user(request: Request, actor: AdminPage, platform: PlatformDep) -> Response:
    form = await form_of(request, many=("group_ids",))
    email, name, password = (
        str(form.get("email", "")).strip(),
        str(form.get("name", "")).strip(),
        form.get("password"),
    )
    role_raw = str(form.get("role", ""))
    errors: dict[str, str] = {}
    if "@" not in email or len(email) > 320 or " " in email:
        errors["email"] = "Enter an email address."
    if role_raw not in {r for r, _ in STAFF_ROLES}:
        errors["role"] = "Pick a role."
    if len(name) > 200:
        errors["name"] = "At most 200 characters."
    if not errors:
        try:
            async with platform.db.transaction() as uow:
                added = await service.add_member(
                    uow,
                    actor,
                    email=email,
                    role=Role(role_raw),
                    name=name,
                    password=str(password) if password else None,
                    group_ids=ids_in(form, "group_ids"),
                    base_url=platform.settings.base_url,
                )
        except Problem as exc:
            errors = errors_of(exc)
    if errors:
        return await _users_page(
            request,
            actor,
            platform,
            errors=errors,
            values={**form, "group_ids": ids_in(form, "group_ids")},
            status=422,
        )
    return redirect("/admin/users?done=" + ("invited" if added.invitation_id else "created"))


async def _user_page(
    request: Request,
    actor: Principal,
    platform: Any,
    user_id: int,
    *,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    async with platform.db.read() as conn:
        person = await access_member(conn, actor, user_id)
        all_groups = await workspace_groups(conn, actor)
    person["group_ids"] = [g["id"] for g in all_groups if user_id in g["member_ids"]]
    roles = STAFF_ROLES if person["role"] != Role.customer.value else [(Role.customer.value, "Customer")]
    return render(
        request,
        "accounts/admin_user.html",
        {
            "title": f"Edit {person['name'] or person['email']}",
            "person": person,
            "groups": all_groups,
            "roles": roles,
            "errors": errors or {},
            "flash": flash_of(request, FLASHES),
            "section": "users",
        },
        status=status,
    )


@router.get("/admin/users/{user_id}")
async def user_page(
    request: Request, user_id: IdPath, actor: AdminPage, platform: PlatformDep
) -> HTMLResponse:
    return await _user_page(request, actor, platform, user_id)


@router.post("/admin/users/{user_id}")
async def update_user(request: Request, user_id: IdPath, actor: AdminPage, platform: PlatformDep) -> Response:
    form = await form_of(request, many=("group_ids",))
    try:
        role = Role(str(form.get("role", "")))
    except ValueError:
        return await _user_page(
            request, actor, platform, user_id, errors={"role": "Pick a role."}, status=422
        )
    try:
        async with platform.db.transaction() as uow:
            # a customer sign-in has no groups (the form shows none), and can never become staff
            customer = (await access_member(uow.conn, actor, user_id))["role"] == Role.customer.value
            await service.do_update_member(
                uow,
                actor,
                user_id,
                role=role,
                group_ids=None if customer else ids_in(form, "group_ids"),
                is_active=form.get("is_active") == "on",
            )
    except Problem as exc:
        if exc.status in (403, 404):
            raise
        return await _user_page(request, actor, platform, user_id, errors=errors_of(exc), status=422)
    return redirect(f"/admin/users/{user_id}?done=saved")


@router.post("/admin/invitations/{invitation_id}/withdraw")
async def withdraw_invitation(invitation_id: IdPath, actor: AdminPage, platform: PlatformDep) -> Response:
    async with platform.db.transaction() as uow:
        await service.revoke_invitation(uow, actor, invitation_id)
    return redirect("/admin/users?done=withdrawn")
