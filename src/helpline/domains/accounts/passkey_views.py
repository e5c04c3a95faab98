"""Pages and page endpoints for passkeys: "Sign in with a passkey" on ``/login``, "Use a passkey
instead" at its code step, and the passkeys card of the profile page (``/profile/passkeys``).

Signing in takes two requests. ``…/options`` (JSON, before sign-in: the form's double-submit CSRF
token as ``X-CSRF-Token``) keeps a challenge and names it in an HttpOnly cookie, so only this browser
can answer it; ``static/passkeys.js`` asks the authenticator and posts its answer with the sign-in
form, which answers like the password form: a redirect, or the page with the error. Adding a
passkey goes through the API (``passkey_api.py``); renaming and removing are plain forms here
(htmx swaps the card when it can)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from helpline.domains.accounts import passkeys, signin
from helpline.errors import Problem
from helpline.web.deps import PlatformDep
from helpline.web.errors import problem_response
from helpline.web.pages import StaffPage, check_anon_csrf, redirect, safe_next
from helpline.web.templating import render
from helpline.web.types import IdPath

router = APIRouter(include_in_schema=False)
Text = Annotated[str, Form()]

#: Names the sign-in challenge this browser asked for (HttpOnly, this site only, sign-in paths only).
CHALLENGE_COOKIE = "helpline_passkey"
#: Anonymous option requests per client address and minute (each keeps a challenge in the cache).
OPTIONS_PER_MINUTE = 30


def _login_page(request: Request, **kw: Any) -> HTMLResponse:
    from helpline.domains.accounts.views import _login_page as page

    return page(request, **kw)


def too_late(request: Request, target: str) -> HTMLResponse:
    from helpline.domains.accounts.views import too_late as page

    return page(request, target)


async def _anon_options(request: Request, platform: Any, purpose: str, user_id: int | None) -> Response:
    try:
        await check_anon_csrf(request)
        client = signin.client_of(request)
        if await platform.cache.incr(f"passkey:opts:{client}", 60) > OPTIONS_PER_MINUTE:
            raise Problem(
                "too many passkey requests; wait a minute", status=429, headers={"Retry-After": "60"}
            )
        handle, options = await passkeys.assertion_options(platform, purpose, user_id=user_id)
    except Problem as exc:
        return problem_response(exc.status, exc.title, exc.detail, errors=exc.errors, headers=exc.headers)
    response = JSONResponse({"publicKey": options})
    s = platform.settings
    response.set_cookie(
        CHALLENGE_COOKIE,
        handle,
        max_age=passkeys.CHALLENGE_SECONDS,
        httponly=True,
        samesite="strict",
        path="/login",
        secure=s.base_url.startswith("https://"),
    )
    return response


def _credential_of(raw: str) -> Any:
    import orjson

    try:
        return orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        return None


@router.post("/login/passkey/options")
async def signin_options(request: Request, platform: PlatformDep) -> Response:
    return await _anon_options(request, platform, passkeys.SIGNIN, None)


@router.post("/login/passkey")
async def signin_with_passkey(
    request: Request,
    platform: PlatformDep,
    credential: Text = "",
    next: Text = "/inbox",
    workspace: Text = "",
) -> Response:
    await check_anon_csrf(request)
    target = safe_next(next, "/inbox")
    try:
        user_id, workspace_id = await passkeys.sign_in(
            platform, request.cookies.get(CHALLENGE_COOKIE), _credential_of(credential), workspace.strip()
        )
    except Problem as exc:
        return _login_page(request, errors={"_": exc.detail}, status=exc.status, next_url=target)
    response = await signin.open_session(request, platform, user_id, workspace_id, target, method="passkey")
    response.delete_cookie(CHALLENGE_COOKIE, path="/login")
    return response


@router.post("/login/code/passkey/options")
async def second_step_options(request: Request, platform: PlatformDep) -> Response:
    pending = signin.pending_of(request, platform)
    if pending is None:
        return problem_response(401, "Unauthorized", "the sign-in took too long; enter your password again")
    return await _anon_options(request, platform, passkeys.SECOND_STEP, pending[0])


@router.post("/login/code/passkey")
async def second_step(
    request: Request, platform: PlatformDep, credential: Text = "", next: Text = "/inbox"
) -> Response:
    await check_anon_csrf(request)
    target = safe_next(next, "/inbox")
    pending = signin.pending_of(request, platform)
    if pending is None:
        return too_late(request, target)
    user_id, workspace_id = pending
    try:
        await passkeys.second_step(
            platform, request.cookies.get(CHALLENGE_COOKIE), _credential_of(credential), user_id, workspace_id
        )
    except Problem as exc:
        return _login_page(request, errors={"_": exc.detail}, status=exc.status, next_url=target, step="code")
    response = await signin.open_session(
        request,
        platform,
        user_id,
        workspace_id,
        target,
        method="password",
        detail={"second_factor": "passkey"},
    )
    response.delete_cookie(CHALLENGE_COOKIE, path="/login")
    return response


# --- the profile's passkeys card ---------------------------------------------------------------------

FLASHES = {
    "added": "The passkey is added. You can sign in with it.",
    "renamed": "The passkey is renamed.",
    "removed": "The passkey is removed.",
}


async def _card(
    request: Request,
    actor: Any,
    platform: Any,
    *,
    flash: str | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    """The card's contents for htmx (always 200, so htmx swaps errors in too), else the whole page."""
    async with platform.db.read() as conn:
        mine = await passkeys.list_passkeys(conn, actor.user_id)
    ctx = {
        "passkeys": mine,
        "fresh": await passkeys.is_fresh(platform, actor),
        "passkey_flash": flash,
        "passkey_errors": errors or {},
        "reauth_minutes": passkeys.REAUTH_SECONDS // 60,
    }
    if request.headers.get("hx-request"):
        return render(request, "accounts/_passkeys_list.html", ctx)
    return render(request, "accounts/passkeys.html", {"title": "Passkeys", **ctx}, status=status)


@router.get("/profile/passkeys")
async def passkeys_card(request: Request, actor: StaffPage, platform: PlatformDep) -> HTMLResponse:
    return await _card(request, actor, platform, flash=FLASHES.get(request.query_params.get("done", "")))


@router.post("/profile/passkeys/{passkey_id}/rename")
async def rename(
    request: Request, passkey_id: IdPath, actor: StaffPage, platform: PlatformDep, name: Text = ""
) -> Response:
    try:
        async with platform.db.transaction() as uow:
            await passkeys.do_rename(uow, actor, passkey_id, name)
    except Problem as exc:
        return await _card(request, actor, platform, errors={"_": exc.detail}, status=exc.status)
    return await _done(request, actor, platform, "renamed")


@router.post("/profile/passkeys/{passkey_id}/remove")
async def remove(request: Request, passkey_id: IdPath, actor: StaffPage, platform: PlatformDep) -> Response:
    try:
        async with platform.db.transaction() as uow:
            await passkeys.do_remove(uow, actor, passkey_id)
    except Problem as exc:
        return await _card(request, actor, platform, errors={"_": exc.detail}, status=exc.status)
    return await _done(request, actor, platform, "removed")


async def _done(request: Request, actor: Any, platform: Any, what: str) -> Response:
    if request.headers.get("hx-request"):
        return await _card(request, actor, platform, flash=FLASHES[what])
    return redirect(f"/profile/passkeys?done={what}")
