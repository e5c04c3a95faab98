"""API tokens (shown once, revocable) and workspace settings (branding, time zone, languages, logo)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from helpline.domains.accounts import audit, service, signin
from helpline.domains.accounts import workspace_settings as ws_settings
from helpline.domains.accounts.admin_views._common import (
    FLASHES,
    AdminPage,
    access_member,
    ids_in,
    router,
    tokens,
    users,
    workspace_people,
)
from helpline.domains.accounts.models import Role
from helpline.domains.accounts.principal import Principal
from helpline.errors import Invalid, Problem
from helpline.web.deps import PlatformDep
from helpline.web.forms import errors_of, flash_of, form_of
from helpline.web.pages import redirect
from helpline.web.templating import render
from helpline.web.types import IdPath

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
        fresh = await service.session_is_fresh(conn, actor.session_id)
        totp = (
            await conn.execute(sa.select(users.c.totp_enabled).where(users.c.id == actor.user_id))
        ).scalar()
    return render(
        request,
        "accounts/admin_tokens.html",
        {
            "title": "API tokens",
            "tokens": rows,
            "staff": staff,
            "fresh": fresh,
            "totp_enabled": totp,
            "created": created,
            "errors": errors or {},
            "flash": flash_of(request, FLASHES),
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
    form = await form_of(request, many=("user_id",))
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
            try:
                await signin.require_fresh(
                    request, uow, platform, actor, str(form.get("current") or ""), str(form.get("otp") or "")
                )
            except Problem as exc:
                raise Invalid("current", exc.detail) from None
            token_id, token = await service.create_token(uow, actor.workspace_id, owner_id, name=name)
            await audit.record(
                uow,
                "token.created",
                workspace_id=actor.workspace_id,
                actor=actor,
                target_type="token",
                target_id=token_id,
                detail={"owner_id": owner_id, "name": name},
            )
    except Problem as exc:
        return await _tokens_page(request, actor, platform, errors=errors_of(exc), status=422)
    # Shown in this answer only: it is not stored, and a reload does not show it again.
    return await _tokens_page(request, actor, platform, created=token)


@router.post("/admin/tokens/{token_id}/revoke")
async def revoke_token(token_id: IdPath, actor: AdminPage, platform: PlatformDep) -> Response:
    async with platform.db.transaction() as uow:
        await service.revoke_token(uow, actor.workspace_id, token_id, owner_id=None)
        await audit.record(
            uow,
            "token.revoked",
            workspace_id=actor.workspace_id,
            actor=actor,
            target_type="token",
            target_id=token_id,
        )
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
            "flash": flash_of(request, FLASHES),
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
        return await _settings_page(request, actor, platform, errors=errors_of(exc), values=form, status=422)
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
        return await _settings_page(request, actor, platform, errors=errors_of(exc), status=422)
    return redirect("/admin/settings?done=logo")


@router.post("/admin/settings/logo/remove")
async def remove_logo(actor: AdminPage, platform: PlatformDep) -> Response:
    async with platform.db.transaction() as uow:
        await ws_settings.do_remove_logo(uow, actor)
    return redirect("/admin/settings?done=logo_removed")
