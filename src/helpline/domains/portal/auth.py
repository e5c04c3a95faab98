"""Portal pages for signing up, signing in (password with the two-factor step, or a link by email) and
out. The console's sign-in machinery is reused: the pending second-step cookie and session opening."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from helpline.domains.accounts import links, signin
from helpline.domains.accounts import service as accounts
from helpline.domains.accounts.sso import service as sso_service
from helpline.domains.portal import queries, service
from helpline.domains.portal.common import AnonPortal, CustomerVisit, Portal, portal_next
from helpline.errors import Problem, Unauthorized
from helpline.web.deps import SESSION_COOKIE, PlatformDep
from helpline.web.pages import anon_csrf, check_anon_csrf, keep_anon_csrf, redirect, session_of
from helpline.web.templating import render

router = APIRouter(include_in_schema=False)
Text = Annotated[str, Form()]
CHECK_EMAIL = (
    "If that address can sign in here, a sign-in link is on its way to it. The link works once, "
    "within 15 minutes."
)


def _page(
    request: Request, name: str, portal: Portal, ctx: dict[str, object], *, status: int = 200
) -> HTMLResponse:
    anon_csrf(request)
    response = render(request, f"portal/{name}.html", {"portal": portal, "errors": {}, **ctx}, status=status)
    return keep_anon_csrf(request, response)  # type: ignore[no-any-return]


def _login_page(
    request: Request,
    portal: Portal,
    *,
    next_url: str,
    step: str = "password",
    email: str = "",
    errors: dict[str, str] | None = None,
    flash: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    return _page(
        request,
        "login",
        portal,
        {
            "title": "Sign in",
            "next": next_url,
            "step": step,
            "email": email,
            "errors": errors or {},
            "flash": flash,
        },
        status=status,
    )


async def _signed_in(request: Request, platform: Any, portal: Portal) -> bool:
    found = await session_of(request, platform)
    return found is not None and found[0].is_customer and found[0].workspace_id == portal.id


async def _finish(request: Request, platform: Any, portal: Portal, user_id: int, target: str) -> Response:
    """Open the session; staff who signed in on the portal go to the console instead."""
    async with platform.db.read() as conn:
        role = await queries.member_role(conn, user_id, portal.id)
        await sso_service.check_password_sign_in(conn, user_id, portal.id)
    return await signin.open_session(
        request, platform, user_id, portal.id, target if role == "customer" else "/inbox"
    )


@router.get("/portal")
async def portal_home(platform: PlatformDep) -> Response:
    """The default workspace's portal."""
    async with platform.db.transaction() as uow:
        ws = await accounts.default_workspace(uow)
        slug = await queries.workspace_slug(uow.conn, ws)
    return redirect(f"/portal/{slug}/requests")


@router.get("/portal/{slug}")
async def portal_root(portal: AnonPortal) -> Response:
    return redirect(portal.url("/requests"))


@router.get("/portal/{slug}/login")
async def login_form(request: Request, portal: AnonPortal, platform: PlatformDep, next: str = "") -> Response:
    target = portal_next(next, portal)
    if await _signed_in(request, platform, portal):
        return redirect(target)
    return _login_page(request, portal, next_url=target)


@router.post("/portal/{slug}/login")
async def login(
    request: Request,
    portal: AnonPortal,
    platform: PlatformDep,
    email: Text = "",
    password: Text = "",
    next: Text = "",
) -> Response:
    await check_anon_csrf(request)
    target = portal_next(next, portal)
    try:
        async with platform.db.transaction() as uow:
            user_id, needs_code = await signin.check_password(uow, platform, request, email, password)
            if await queries.member_role(uow.conn, user_id, portal.id) is None:
                raise Unauthorized("wrong email or password")
    except Problem as exc:
        return _login_page(
            request, portal, next_url=target, email=email, errors={"_": exc.detail}, status=exc.status
        )
    if needs_code:
        page = _login_page(request, portal, next_url=target, step="code")
        return signin.remember_pending(page, platform, user_id, portal.id)
    return await _finish(request, platform, portal, user_id, target)


@router.post("/portal/{slug}/login/code")
async def login_code(
    request: Request, portal: AnonPortal, platform: PlatformDep, otp: Text = "", next: Text = ""
) -> Response:
    await check_anon_csrf(request)
    target = portal_next(next, portal)
    pending = signin.pending_of(request, platform)
    if pending is None or pending[1] != portal.id:
        return _login_page(
            request,
            portal,
            next_url=target,
            status=401,
            errors={"_": "The sign-in took too long; start again."},
        )
    user_id = pending[0]
    try:
        await signin.check_code(platform, request, user_id, otp)
    except Problem as exc:
        return _login_page(
            request, portal, next_url=target, step="code", errors={"otp": exc.detail}, status=exc.status
        )
    return await _finish(request, platform, portal, user_id, target)


# --- sign-in links ---------------------------------------------------------------------------------


def _link_url(platform: Any, portal: Portal) -> str:
    return str(platform.settings.base_url).rstrip("/") + portal.url("/login/link")


@router.get("/portal/{slug}/login/email")
async def email_link_form(request: Request, portal: AnonPortal) -> Response:
    return _page(request, "email_link", portal, {"title": "Get a sign-in link"})


@router.post("/portal/{slug}/login/email")
async def email_link(
    request: Request, portal: AnonPortal, platform: PlatformDep, email: Text = ""
) -> Response:
    await check_anon_csrf(request)
    if await links.allowed(platform.cache, email):
        async with platform.db.transaction() as uow:
            await service.mail_sign_in_link(
                uow,
                platform.settings.ensure_secret_key(),
                workspace_id=portal.id,
                email=email,
                link_url=_link_url(platform, portal),
                brand=request.state.brand["name"],
            )
    return _page(request, "check_email", portal, {"title": "Check your email", "message": CHECK_EMAIL})


@router.get("/portal/{slug}/login/link")
async def link_form(request: Request, portal: AnonPortal, platform: PlatformDep, token: str = "") -> Response:
    """A page with one button: a link opened by a mail scanner's preview spends nothing."""
    async with platform.db.transaction() as uow:
        user_id = await links.read(uow, platform.settings.ensure_secret_key(), links.SIGN_IN, token[:200])
    return _page(
        request,
        "link",
        portal,
        {"title": "Sign in", "token": token[:200], "valid": user_id is not None},
        status=200 if user_id else 400,
    )


@router.post("/portal/{slug}/login/link")
async def link_sign_in(
    request: Request, portal: AnonPortal, platform: PlatformDep, token: Text = ""
) -> Response:
    await check_anon_csrf(request)
    async with platform.db.transaction() as uow:
        user_id = await links.read(uow, platform.settings.ensure_secret_key(), links.SIGN_IN, token[:200])
        role = await queries.member_role(uow.conn, user_id, portal.id) if user_id else None
        two_factor = await queries.totp_enabled(uow.conn, user_id) if user_id else False
    if user_id is None or role is None:
        return _page(request, "link", portal, {"title": "Sign in", "valid": False}, status=400)
    target = portal.url("/requests")
    if two_factor:
        page = _login_page(request, portal, next_url=target, step="code")
        return signin.remember_pending(page, platform, user_id, portal.id)
    return await _finish(request, platform, portal, user_id, target)


# --- signing up and out ----------------------------------------------------------------------------


@router.get("/portal/{slug}/signup")
async def signup_form(request: Request, portal: AnonPortal) -> Response:
    return _page(request, "signup", portal, {"title": "Create an account", "form": {}})


@router.post("/portal/{slug}/signup")
async def signup(
    request: Request,
    portal: AnonPortal,
    platform: PlatformDep,
    name: Text = "",
    email: Text = "",
    password: Text = "",
) -> Response:
    await check_anon_csrf(request)
    try:
        if not await links.allowed(platform.cache, email):
            service.check_sign_up(name, email, password)
            return _page(
                request, "check_email", portal, {"title": "Check your email", "message": CHECK_EMAIL}
            )
        async with platform.db.transaction() as uow:
            done = await service.sign_up(
                uow,
                platform.settings.ensure_secret_key(),
                workspace_id=portal.id,
                link_url=_link_url(platform, portal),
                brand=request.state.brand["name"],
                name=name,
                email=email,
                password=password,
            )
    except Problem as exc:
        return _page(
            request,
            "signup",
            portal,
            {
                "title": "Create an account",
                "errors": service.form_errors(exc),
                "form": {"name": name, "email": email},
            },
            status=exc.status,
        )
    if done.user_id is None:
        return _page(request, "check_email", portal, {"title": "Check your email", "message": CHECK_EMAIL})
    return await signin.open_session(request, platform, done.user_id, portal.id, portal.url("/requests/new"))


@router.post("/portal/{slug}/logout")
async def logout(visit: CustomerVisit, platform: PlatformDep) -> Response:
    async with platform.db.transaction() as uow:
        await accounts.end_sessions(uow, visit.actor.user_id, session_id=visit.actor.session_id)
    response = redirect(visit.portal.url("/login"))
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
