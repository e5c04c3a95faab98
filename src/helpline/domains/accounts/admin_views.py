"""Admin pages of the console: the admin index, people and roles, groups, API tokens and the
workspace's settings (name, branding, time zone, languages).

Only admins reach them (:data:`AdminPage`); any other staff member gets a 403 page, a customer the
sign-in page. Writes go through :mod:`helpline.domains.accounts.service` and
:mod:`helpline.domains.accounts.workspace_settings`; the member changes the service lacks (role,
groups, deactivation) are the ``check_member_update`` / ``do_update_member`` pair below, with the same
rules as the users API.
"""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.domains.accounts import service
from helpline.domains.accounts import workspace_settings as ws_settings
from helpline.domains.accounts.models import ApiToken, Group, GroupMember, Membership, Role, User
from helpline.platform.db import UnitOfWork
from helpline.web.deps import PlatformDep
from helpline.web.errors import Forbidden, Invalid, NotFound, Problem
from helpline.web.pages import StaffPage, redirect
from helpline.web.principal import Principal
from helpline.web.templating import render
from helpline.web.types import MAX_ID

router = APIRouter(include_in_schema=False)
users: sa.Table = User.__table__
members: sa.Table = Membership.__table__
groups: sa.Table = Group.__table__
group_members: sa.Table = GroupMember.__table__
tokens: sa.Table = ApiToken.__table__

RowId = Annotated[int, Path(ge=1, le=MAX_ID)]
STAFF_ROLES = [
    (Role.admin.value, "Admin"),
    (Role.agent.value, "Agent"),
    (Role.light_agent.value, "Light agent"),
]
#: Messages shown after a redirect, by key (never text from the query string).
FLASHES = {
    "saved": "Saved.",
    "created": "Created.",
    "revoked": "The token is revoked; it no longer works.",
    "deleted": "Deleted.",
    "logo": "The logo is saved.",
    "logo_removed": "The logo is removed.",
    "renamed": "Renamed.",
}


async def admin_page(actor: StaffPage) -> Principal:
    """A signed-in admin; other staff get a 403 page (customers were already sent to sign in)."""
    if not actor.is_admin:
        raise Forbidden(
            "Only admins can open the admin pages. Ask an admin of this workspace if you need a change."
        )
    return actor


AdminPage = Annotated[Principal, Depends(admin_page)]


def flash_of(request: Request) -> str | None:
    return FLASHES.get(request.query_params.get("done", ""))


async def form_of(request: Request) -> dict[str, Any]:
    """The submitted form: single values as strings, repeated fields (checkboxes) as lists."""
    form = await request.form()
    out: dict[str, Any] = {}
    for key in form:
        values = [v for v in form.getlist(key) if isinstance(v, str)]
        out[key] = values if len(values) > 1 or key.endswith("[]") else (values[0] if values else "")
    return out


def ids_in(form: dict[str, Any], key: str) -> list[int]:
    raw = form.get(key, [])
    values = raw if isinstance(raw, list) else [raw]
    return sorted({int(v) for v in values if isinstance(v, str) and v.isdigit() and 0 < int(v) <= MAX_ID})


def problem_errors(exc: Problem) -> dict[str, str]:
    out: dict[str, str] = {}
    for err in exc.errors:
        out.setdefault(str(err.get("field", "_")), str(err.get("message", exc.detail)))
    return out or {"_": exc.detail}


# --- reads -----------------------------------------------------------------------------------------


async def workspace_groups(conn: AsyncConnection, actor: Principal) -> list[dict[str, Any]]:
    """The workspace's groups by name, each with its member user ids."""
    rows = (
        (
            await conn.execute(
                sa.select(groups.c.id, groups.c.name, groups.c.description)
                .where(groups.c.workspace_id == actor.workspace_id)
                .order_by(groups.c.name)
            )
        )
        .mappings()
        .all()
    )
    by_group: dict[int, list[int]] = {r["id"]: [] for r in rows}
    if by_group:
        for gid, uid in await conn.execute(
            sa.select(group_members.c.group_id, group_members.c.user_id).where(
                group_members.c.group_id.in_(list(by_group))
            )
        ):
            by_group[gid].append(uid)  # type: ignore[index,arg-type]
    return [{**dict(r), "member_ids": sorted(by_group[r["id"]])} for r in rows]


async def workspace_people(
    conn: AsyncConnection, actor: Principal, *, staff_only: bool = False
) -> list[dict[str, Any]]:
    """Members of the actor's workspace (never another's), staff first, with their group ids."""
    stmt = (
        sa.select(
            users.c.id,
            users.c.email,
            users.c.name,
            users.c.is_active,
            users.c.totp_enabled,
            members.c.role,
            users.c.created_at,
        )
        .join(members, members.c.user_id == users.c.id)
        .where(members.c.workspace_id == actor.workspace_id)
    )
    if staff_only:
        stmt = stmt.where(members.c.role != Role.customer.value)
    rows = (await conn.execute(stmt.order_by(users.c.name, users.c.id).limit(2000))).mappings().all()
    gids: dict[int, list[int]] = {r["id"]: [] for r in rows}
    if gids:
        for uid, gid in await conn.execute(
            sa.select(group_members.c.user_id, group_members.c.group_id)
            .join(groups, groups.c.id == group_members.c.group_id)
            .where(groups.c.workspace_id == actor.workspace_id, group_members.c.user_id.in_(list(gids)))
        ):
            gids[uid].append(gid)  # type: ignore[index,arg-type]
    order = {Role.admin.value: 0, Role.agent.value: 1, Role.light_agent.value: 2, Role.customer.value: 3}
    out = [{**dict(r), "group_ids": sorted(gids[r["id"]])} for r in rows]
    return sorted(out, key=lambda p: order.get(p["role"], 9))


async def access_member(conn: AsyncConnection, actor: Principal, user_id: int) -> dict[str, Any]:
    row = (
        (
            await conn.execute(
                sa.select(users.c.id, users.c.email, users.c.name, users.c.is_active, members.c.role)
                .join(members, members.c.user_id == users.c.id)
                .where(users.c.id == user_id, members.c.workspace_id == actor.workspace_id)
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"user {user_id} not found")
    return dict(row)


async def access_group(conn: AsyncConnection, actor: Principal, group_id: int) -> dict[str, Any]:
    row = (
        (
            await conn.execute(
                sa.select(groups).where(groups.c.id == group_id, groups.c.workspace_id == actor.workspace_id)
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"group {group_id} not found")
    return dict(row)


# --- member writes the service does not have yet ---------------------------------------------------


def check_member_update(actor: Principal, current: dict[str, Any], *, role: Role, is_active: bool) -> None:
    """The users API's rules: admins only; nobody changes their own role or deactivates themself;
    a customer sign-in never becomes staff, nor the reverse."""
    if not actor.is_admin:
        raise Forbidden("only an admin may change people")
    if role.value != current["role"]:
        if Role.customer in (role, Role(current["role"])):
            raise Invalid("role", "a customer cannot become staff or the reverse; create a new sign-in")
        if current["id"] == actor.user_id:
            raise Invalid("role", "you cannot change your own role")
    if not is_active and current["id"] == actor.user_id:
        raise Invalid("is_active", "you cannot deactivate yourself")


async def do_update_member(
    uow: UnitOfWork,
    actor: Principal,
    current: dict[str, Any],
    *,
    role: Role,
    group_ids: list[int],
    is_active: bool,
) -> None:
    check_member_update(actor, current, role=role, is_active=is_active)
    user_id = current["id"]
    if role.value != current["role"]:
        await uow.execute(
            members.update()
            .where(members.c.user_id == user_id, members.c.workspace_id == actor.workspace_id)
            .values(role=role.value)
        )
    if role is not Role.customer:
        for gid in group_ids:
            await access_group(uow.conn, actor, gid)
        ws_groups = (
            sa.select(groups.c.id).where(groups.c.workspace_id == actor.workspace_id).scalar_subquery()
        )
        await uow.execute(
            group_members.delete().where(
                group_members.c.user_id == user_id, group_members.c.group_id.in_(ws_groups)
            )
        )
        if group_ids:
            await uow.execute(
                group_members.insert(), [{"group_id": g, "user_id": user_id} for g in group_ids]
            )
    if is_active != current["is_active"]:
        await uow.execute(users.update().where(users.c.id == user_id).values(is_active=is_active))
        if not is_active:
            await service.end_sessions(uow, user_id)


# --- index -------------------------------------------------------------------------------------------


@router.get("/admin")
async def admin_index(request: Request, actor: AdminPage, platform: PlatformDep) -> HTMLResponse:
    async with platform.db.read() as conn:
        count = (
            await conn.execute(
                sa.select(members.c.role, sa.func.count())
                .where(members.c.workspace_id == actor.workspace_id)
                .group_by(members.c.role)
            )
        ).all()
        n_groups = (
            await conn.execute(sa.select(sa.func.count()).where(groups.c.workspace_id == actor.workspace_id))
        ).scalar_one()
        n_tokens = (
            await conn.execute(
                sa.select(sa.func.count()).where(
                    tokens.c.workspace_id == actor.workspace_id, tokens.c.revoked_at.is_(None)
                )
            )
        ).scalar_one()
    by_role = {role: n for role, n in count}
    return render(
        request,
        "accounts/admin_index.html",
        {
            "title": "Admin",
            "by_role": by_role,
            "n_groups": n_groups,
            "n_tokens": n_tokens,
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
    return render(
        request,
        "accounts/admin_users.html",
        {
            "title": "People and roles",
            "people": people,
            "groups": all_groups,
            "roles": STAFF_ROLES,
            "gnames": {g["id"]: g["name"] for g in all_groups},
            "errors": errors or {},
            "values": values or {"role": Role.agent.value},
            "flash": flash_of(request),
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
    form = await form_of(request)
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
                picked = [await access_group(uow.conn, actor, g) for g in ids_in(form, "group_ids")]
                await service.create_user(
                    uow,
                    actor.workspace_id,
                    email=email,
                    role=Role(role_raw),
                    name=name,
                    password=str(password) if password else None,
                    group_names=[g["name"] for g in picked],
                )
        except Problem as exc:
            errors = problem_errors(exc)
    if errors:
        return await _users_page(
            request,
            actor,
            platform,
            errors=errors,
            values={**form, "group_ids": ids_in(form, "group_ids")},
            status=422,
        )
    return redirect("/admin/users?done=created")


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
            "flash": flash_of(request),
            "section": "users",
        },
        status=status,
    )


@router.get("/admin/users/{user_id}")
async def user_page(
    request: Request, user_id: RowId, actor: AdminPage, platform: PlatformDep
) -> HTMLResponse:
    return await _user_page(request, actor, platform, user_id)


@router.post("/admin/users/{user_id}")
async def update_user(request: Request, user_id: RowId, actor: AdminPage, platform: PlatformDep) -> Response:
    form = await form_of(request)
    try:
        role = Role(str(form.get("role", "")))
    except ValueError:
        return await _user_page(
            request, actor, platform, user_id, errors={"role": "Pick a role."}, status=422
        )
    try:
        async with platform.db.transaction() as uow:
            current = await access_member(uow.conn, actor, user_id)
            await do_update_member(
                uow,
                actor,
                current,
                role=role,
                group_ids=ids_in(form, "group_ids"),
                is_active=form.get("is_active") == "on",
            )
    except Problem as exc:
        if exc.status in (403, 404):
            raise
        return await _user_page(request, actor, platform, user_id, errors=problem_errors(exc), status=422)
    return redirect(f"/admin/users/{user_id}?done=saved")


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
            "flash": flash_of(request),
            "section": "groups",
        },
        status=status,
    )


@router.get("/admin/groups")
async def groups_page(request: Request, actor: AdminPage, platform: PlatformDep) -> HTMLResponse:
    return await _groups_page(request, actor, platform)


@router.post("/admin/groups")
async def create_group(request: Request, actor: AdminPage, platform: PlatformDep) -> Response:
    form = await form_of(request)
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
        return await _groups_page(
            request, actor, platform, errors=problem_errors(exc), values=form, status=422
        )
    return redirect("/admin/groups?done=created")


@router.get("/admin/groups/{group_id}")
async def group_page(
    request: Request, group_id: RowId, actor: AdminPage, platform: PlatformDep
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
            "flash": flash_of(request),
            "errors": {},
            "section": "groups",
        },
    )


@router.post("/admin/groups/{group_id}")
async def update_group_members(
    request: Request, group_id: RowId, actor: AdminPage, platform: PlatformDep
) -> Response:
    form = await form_of(request)
    async with platform.db.transaction() as uow:
        await access_group(uow.conn, actor, group_id)
        await service.set_group_members(uow, actor.workspace_id, group_id, ids_in(form, "member_ids"))
    return redirect(f"/admin/groups/{group_id}?done=saved")


# --- API tokens --------------------------------------------------------------------------------------


async def _tokens_page(
    request: Request,
    actor: Principal,
    platform: Any,
    *,
    created: str | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    async with platform.db.read() as conn:
        rows = (
            (
                await conn.execute(
                    sa.select(
                        tokens.c.id,
                        tokens.c.name,
                        tokens.c.prefix,
                        tokens.c.created_at,
                        tokens.c.expires_at,
                        tokens.c.revoked_at,
                        tokens.c.last_used_at,
                        users.c.email,
                        users.c.name.label("owner"),
                    )
                    .join(users, users.c.id == tokens.c.user_id)
                    .where(tokens.c.workspace_id == actor.workspace_id)
                    .order_by(tokens.c.revoked_at.is_not(None), tokens.c.id.desc())
                    .limit(500)
                )
            )
            .mappings()
            .all()
        )
        staff = await workspace_people(conn, actor, staff_only=True)
    return render(
        request,
        "accounts/admin_tokens.html",
        {
            "title": "API tokens",
            "tokens": rows,
            "staff": staff,
            "created": created,
            "errors": errors or {},
            "flash": flash_of(request),
            "section": "tokens",
        },
        status=status,
        headers={"Cache-Control": "no-store"},
    )


@router.get("/admin/tokens")
async def tokens_page(request: Request, actor: AdminPage, platform: PlatformDep) -> HTMLResponse:
    return await _tokens_page(request, actor, platform)


@router.post("/admin/tokens")
async def create_token(request: Request, actor: AdminPage, platform: PlatformDep) -> Response:
    form = await form_of(request)
    name = str(form.get("name", "")).strip()
    owner = ids_in(form, "user_id")
    try:
        if not name or len(name) > 120:
            raise Invalid("name", "name the token after what uses it (at most 120 characters)")
        async with platform.db.transaction() as uow:
            owner_id = owner[0] if owner else actor.user_id
            person = await access_member(uow.conn, actor, owner_id)
            if person["role"] == Role.customer.value:
                raise Invalid("user_id", "pick a member of staff")
            _, token = await service.create_token(uow, actor.workspace_id, owner_id, name=name)
    except Problem as exc:
        return await _tokens_page(request, actor, platform, errors=problem_errors(exc), status=422)
    # Shown in this answer only: it is not stored, and a reload does not show it again.
    return await _tokens_page(request, actor, platform, created=token)


@router.post("/admin/tokens/{token_id}/revoke")
async def revoke_token(token_id: RowId, actor: AdminPage, platform: PlatformDep) -> Response:
    async with platform.db.transaction() as uow:
        await service.revoke_token(uow, actor.workspace_id, token_id, owner_id=None)
    return redirect("/admin/tokens?done=revoked")


# --- workspace settings ----------------------------------------------------------------------------


async def _settings_page(
    request: Request,
    actor: Principal,
    platform: Any,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    async with platform.db.read() as conn:
        current = await ws_settings.read(conn, actor)
    shown = {**current, "languages": ", ".join(current["languages"]), **(values or {})}
    return render(
        request,
        "accounts/admin_settings.html",
        {
            "title": "Workspace settings",
            "values": shown,
            "current": current,
            "errors": errors or {},
            "flash": flash_of(request),
            "section": "settings",
            "max_logo_kb": ws_settings.MAX_LOGO // 1024,
        },
        status=status,
    )


@router.get("/admin/settings")
async def settings_page(request: Request, actor: AdminPage, platform: PlatformDep) -> HTMLResponse:
    return await _settings_page(request, actor, platform)


@router.post("/admin/settings")
async def update_settings(request: Request, actor: AdminPage, platform: PlatformDep) -> Response:
    form = await form_of(request)
    data = ws_settings.SettingsInput(
        **{
            k: str(form.get(k, ""))
            for k in ("name", "display_name", "primary_colour", "timezone", "languages")
        }
    )
    try:
        async with platform.db.transaction() as uow:
            await ws_settings.do_update_settings(uow, actor, data)
    except Problem as exc:
        return await _settings_page(
            request, actor, platform, errors=problem_errors(exc), values=form, status=422
        )
    return redirect("/admin/settings?done=saved")


@router.post("/admin/settings/logo")
async def upload_logo(request: Request, actor: AdminPage, platform: PlatformDep) -> Response:
    form = await request.form()
    try:
        upload = form.get("logo")
        data = b""
        if upload is not None and not isinstance(upload, str):
            data = await upload.read(ws_settings.MAX_LOGO + 1)
    finally:
        await form.close()  # the upload's temporary file; nothing else closes a form read this way
    try:
        kind = ws_settings.check_logo(actor, data)
        sha = await platform.storage.put(data)
        async with platform.db.transaction() as uow:
            await ws_settings.do_set_logo(uow, actor, sha, kind)
    except Problem as exc:
        return await _settings_page(request, actor, platform, errors=problem_errors(exc), status=422)
    return redirect("/admin/settings?done=logo")


@router.post("/admin/settings/logo/remove")
async def remove_logo(actor: AdminPage, platform: PlatformDep) -> Response:
    async with platform.db.transaction() as uow:
        await ws_settings.do_remove_logo(uow, actor)
    return redirect("/admin/settings?done=logo_removed")
