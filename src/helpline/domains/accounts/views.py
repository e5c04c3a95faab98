"""Pages of the agent console for signing in and out, password resets, profile and two-factor set-up."""

from __future__ import annotations

import re
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from helpline import timezones
from helpline.domains.accounts import audit, links, security, service, signin
from helpline.domains.accounts.models import Membership, User
from helpline.domains.accounts.sso import service as sso_service
from helpline.errors import Problem
from helpline.platform.jobs import enqueue
from helpline.web.deps import SESSION_COOKIE, PlatformDep
from helpline.web.pages import (
    StaffPage,
    anon_csrf,
    check_anon_csrf,
    keep_anon_csrf,
    redirect,
    safe_next,
)
from helpline.web.templating import render

router = APIRouter(include_in_schema=False)
users, members = User.__table__, Membership.__table__
Text = Annotated[str, Form()]
OptText = Annotated[str, Form()]


def _login_page(
    request: Request,
    *,
    errors: dict[str, str] | None = None,
    email: str = "",
    status: int = 200,
    next_url: str = "/inbox",
    step: str = "password",
    flash: str | None = None,
    workspace: str = "",
) -> HTMLResponse:
    anon_csrf(request)
    response = render(
        request,
        "accounts/login.html",
        {
            "errors": errors or {},
            "email": email,
            "next": next_url,
            "step": step,
            "title": "Sign in",
            "flash": flash,
            "workspace": workspace,
        },
        status=status,
    )
    return keep_anon_csrf(request, response)  # type: ignore[no-any-return]


@router.get("/login")
async def login_form(request: Request, next: str = "/inbox", workspace: str = "") -> HTMLResponse:
    """``?workspace=<slug>`` signs in to that workspace (for people who belong to several)."""
    slug = workspace if re.fullmatch(r"[a-z0-9-]{1,64}", workspace) else ""
    return _login_page(request, next_url=safe_next(next, "/inbox"), workspace=slug)


@router.post("/login")
async def login(
    request: Request,
    platform: PlatformDep,
    email: Text = "",
    password: Text = "",
    next: OptText = "/inbox",
    workspace: OptText = "",
) -> Response:
    await check_anon_csrf(request)
    target = safe_next(next, "/inbox")
    try:
        async with platform.db.transaction() as uow:
            user_id, needs_code = await signin.check_password(uow, platform, request, email, password)
            workspace_id = await service.membership_workspace(uow, user_id, workspace[:64] or None)
            await sso_service.check_password_sign_in(uow, user_id, workspace_id)
    except Problem as exc:
        await signin.record_failed(platform, email, workspace[:64] or None, exc)
        return _login_page(
            request,
            errors={"_": exc.detail},
            email=email,
            status=exc.status,
            next_url=target,
            workspace=workspace[:64],
        )
    if needs_code:
        page = _login_page(request, next_url=target, step="code")
        return signin.remember_pending(page, platform, user_id, workspace_id)
    return await signin.open_session(request, platform, user_id, workspace_id, target)


def too_late(request: Request, target: str) -> HTMLResponse:
    """The sign-in page again when the second step comes after the password's pending cookie expired."""
    return _login_page(
        request,
        errors={"_": "The sign-in took too long; enter your password again."},
        status=401,
        next_url=target,
    )


@router.post("/login/code")
async def login_code(
    request: Request, platform: PlatformDep, otp: Text = "", next: OptText = "/inbox"
) -> Response:
    await check_anon_csrf(request)
    target = safe_next(next, "/inbox")
    pending = signin.pending_of(request, platform)
    if pending is None:
        return too_late(request, target)
    user_id, workspace_id = pending
    try:
        await signin.check_code(platform, request, user_id, otp)
    except Problem as exc:
        async with platform.db.read() as conn:
            address = (await conn.execute(sa.select(users.c.email).where(users.c.id == user_id))).scalar()
        await signin.record_failed(platform, address or "", None, exc, method="code")
        return _login_page(
            request, errors={"otp": exc.detail}, status=exc.status, next_url=target, step="code"
        )
    return await signin.open_session(request, platform, user_id, workspace_id, target)


@router.post("/logout")
async def logout(
    request: Request, actor: StaffPage, platform: PlatformDep, everywhere: Annotated[bool, Form()] = False
) -> Response:
    async with platform.db.transaction() as uow:
        await service.end_sessions(uow, actor.user_id, session_id=None if everywhere else actor.session_id)
    response = redirect("/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# --- password reset ------------------------------------------------------------------------------


@router.get("/password/forgot")
async def forgot_form(request: Request) -> HTMLResponse:
    anon_csrf(request)
    return keep_anon_csrf(request, render(request, "accounts/forgot.html", {"title": "Reset your password"}))  # type: ignore[no-any-return]


async def send_link(platform: Any, email: str, purpose: str, path: str, *, ttl: int) -> None:
    """Email a link to ``email`` if it belongs to an active user; say nothing either way (no probing)."""
    s = platform.settings
    async with platform.db.transaction() as uow:
        user_id = await service.active_user_by_email(uow, email)
        if user_id is None:
            return
        token = await links.make(uow, s.ensure_secret_key(), purpose, user_id, ttl=ttl)
        address = (await uow.execute(sa.select(users.c.email).where(users.c.id == user_id))).scalar_one()
        await enqueue(
            uow,
            "accounts.send_link",
            {"purpose": purpose, "email": address, "url": f"{s.base_url.rstrip('/')}{path}?token={token}"},
        )


@router.post("/password/forgot")
async def forgot(request: Request, platform: PlatformDep, email: Text = "") -> HTMLResponse:
    await check_anon_csrf(request)
    # Capped per address like sign-in links: the form must not be a way to flood someone's inbox.
    if await links.allowed(platform.cache, email):
        await send_link(platform, email, links.RESET, "/password/reset", ttl=3600)
    anon_csrf(request)
    return render(
        request,
        "accounts/forgot.html",
        {
            "title": "Reset your password",
            "sent": True,
            "flash": "If an account has that address, a link to reset its password is on its way. "
            "It works once, within an hour.",
        },
    )


@router.get("/password/reset")
async def reset_form(request: Request, platform: PlatformDep, token: str = "") -> HTMLResponse:
    async with platform.db.transaction() as uow:
        user_id = await links.read(uow, platform.settings.ensure_secret_key(), links.RESET, token)
    anon_csrf(request)
    page = render(
        request,
        "accounts/reset.html",
        {"title": "Choose a new password", "token": token, "valid": user_id is not None, "errors": {}},
        status=200 if user_id else 400,
    )
    return keep_anon_csrf(request, page)  # type: ignore[no-any-return]


@router.post("/password/reset")
async def reset(request: Request, platform: PlatformDep, token: Text = "", password: Text = "") -> Response:
    await check_anon_csrf(request)
    try:
        async with platform.db.transaction() as uow:
            user_id = await links.read(uow, platform.settings.ensure_secret_key(), links.RESET, token)
            if user_id is None:
                raise Problem("This link has expired or was used already; ask for a new one.", status=400)
            await service.set_password(uow, user_id, password)
            await audit.record(
                uow, "password.reset", workspace_id=None, actor_user_id=user_id, target_id=user_id
            )
    except Problem as exc:
        anon_csrf(request)
        field = exc.errors[0]["field"] if exc.errors else "_"
        return render(
            request,
            "accounts/reset.html",
            {
                "title": "Choose a new password",
                "token": token,
                "valid": field == "password",
                "errors": {field: exc.detail},
            },
            status=exc.status,
        )
    return _login_page(request, flash="Your password is changed. Sign in with it.")


# --- profile and two-factor ----------------------------------------------------------------------


async def _profile(request: Request, actor: Any, platform: Any, **extra: Any) -> HTMLResponse:
    status = extra.pop("status", 200)
    async with platform.db.read() as conn:
        user = (
            await conn.execute(
                sa.select(
                    users.c.name, users.c.email, users.c.totp_enabled, users.c.totp_pending, users.c.timezone
                ).where(users.c.id == actor.user_id)
            )
        ).one()
        fresh = await service.session_is_fresh(conn, actor.session_id)
        signature = (
            await conn.execute(
                sa.select(members.c.signature).where(
                    members.c.workspace_id == actor.workspace_id, members.c.user_id == actor.user_id
                )
            )
        ).scalar()
    ctx = {
        "title": "Profile and security",
        "user": user,
        "errors": {},
        "fresh": fresh,
        "signature": signature or "",
        "zones": timezones.names(),
        **extra,
    }
    if user.totp_pending and extra.get("setup"):
        ctx["otpauth"] = security.totp_uri(user.totp_pending, user.email)
        ctx["secret"] = user.totp_pending
    return render(request, "accounts/profile.html", ctx, status=status)


@router.get("/profile")
async def profile(request: Request, actor: StaffPage, platform: PlatformDep) -> HTMLResponse:
    return await _profile(request, actor, platform)


@router.post("/profile")
async def update_profile(
    request: Request, actor: StaffPage, platform: PlatformDep, name: Text = "", timezone: OptText = ""
) -> Response:
    try:
        async with platform.db.transaction() as uow:
            await service.update_own_profile(uow, actor, name=name, timezone=timezone)
    except Problem as exc:
        field, said = (
            (exc.errors[0]["field"], exc.errors[0]["message"]) if exc.errors else ("name", exc.detail)
        )
        return await _profile(request, actor, platform, errors={field: said}, status=exc.status)
    return await _profile(request, actor, platform, flash="Saved.")


@router.post("/profile/password")
async def change_password(
    request: Request, actor: StaffPage, platform: PlatformDep, current: Text = "", password: Text = ""
) -> Response:
    async with platform.db.transaction() as uow:
        stored = (
            await uow.execute(sa.select(users.c.password_hash).where(users.c.id == actor.user_id))
        ).scalar()
    if not security.verify_password(stored, current):
        return await _profile(
            request, actor, platform, errors={"current": "That is not your current password."}, status=422
        )
    try:
        async with platform.db.transaction() as uow:
            await service.set_password(uow, actor.user_id, password)
            await audit.record_own(uow, "password.changed", actor)
    except Problem as exc:
        return await _profile(request, actor, platform, errors={"password": exc.detail}, status=exc.status)
    return _login_page(request, flash="Your password is changed and every session ended. Sign in again.")


@router.post("/profile/2fa")
async def start_2fa(
    request: Request, actor: StaffPage, platform: PlatformDep, current: OptText = "", otp: OptText = ""
) -> HTMLResponse:
    try:
        async with platform.db.transaction() as uow:
            await signin.require_fresh(request, uow, platform, actor, current, otp)
            await service.begin_totp(uow, actor.user_id)
    except Problem as exc:
        return await _profile(request, actor, platform, errors={"reauth": exc.detail}, status=exc.status)
    return await _profile(request, actor, platform, setup=True)


@router.post("/profile/2fa/confirm")
async def confirm_2fa(
    request: Request, actor: StaffPage, platform: PlatformDep, code: Text = ""
) -> HTMLResponse:
    try:
        async with platform.db.transaction() as uow:
            codes = await service.confirm_totp(uow, actor.user_id, code.strip().replace(" ", ""))
            await audit.record_own(uow, "2fa.enabled", actor)
    except Problem as exc:
        return await _profile(
            request,
            actor,
            platform,
            setup=True,
            errors={"code": exc.errors[0]["message"] if exc.errors else exc.detail},
            status=422,
        )
    return await _profile(
        request,
        actor,
        platform,
        recovery_codes=codes,
        flash="Two-factor authentication is on. Keep these recovery codes somewhere safe.",
    )


@router.post("/profile/2fa/disable")
async def disable_2fa(
    request: Request, actor: StaffPage, platform: PlatformDep, current: OptText = "", otp: OptText = ""
) -> HTMLResponse:
    try:
        async with platform.db.transaction() as uow:
            await signin.require_fresh(request, uow, platform, actor, current, otp)
            await service.disable_totp(uow, actor.user_id)
            await audit.record_own(uow, "2fa.disabled", actor)
    except Problem as exc:
        return await _profile(request, actor, platform, errors={"reauth": exc.detail}, status=exc.status)
    return await _profile(request, actor, platform, flash="Two-factor authentication is off.")


@router.post("/profile/sessions/end")
async def end_everywhere(request: Request, actor: StaffPage, platform: PlatformDep) -> Response:
    async with platform.db.transaction() as uow:
        await service.end_sessions(uow, actor.user_id)
    response = redirect("/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/")
async def home() -> RedirectResponse:
    return redirect("/inbox")


@router.get("/brand/{workspace_id}.css")
async def brand_css(workspace_id: int, platform: PlatformDep) -> Response:
    """The workspace's colours as CSS (a stylesheet, so pages keep a CSP without inline styles)."""
    from helpline.web.pages import brand_css, workspace_brand

    brand = await workspace_brand(platform, workspace_id) if 0 < workspace_id < 2**63 else {}
    css = brand_css(brand.get("primary_colour"))
    return Response(css, media_type="text/css", headers={"Cache-Control": "max-age=60"})


@router.get("/brand/{workspace_id}/logo")
async def brand_logo(workspace_id: int, platform: PlatformDep) -> Response:
    from helpline.web.pages import workspace_brand

    brand = await workspace_brand(platform, workspace_id) if 0 < workspace_id < 2**63 else {}
    sha = brand.get("logo")
    if not sha:
        return Response(status_code=404)
    try:
        data = await platform.storage.get(sha)
    except FileNotFoundError:
        return Response(status_code=404)
    kind = brand.get("logo_type") or "application/octet-stream"
    return Response(data, media_type=kind, headers={"Cache-Control": "max-age=300"})
