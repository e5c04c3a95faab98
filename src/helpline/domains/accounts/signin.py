"""The steps of a browser sign-in shared by the console and the portal: password, then (for accounts
with two-factor authentication) the code, carried between the two by a short-lived signed cookie
that names the user and workspace but grants nothing on its own."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

import sqlalchemy as sa
from fastapi import Request, Response

from helpline.domains.accounts import audit, service
from helpline.domains.accounts.models import Membership, User, Workspace
from helpline.errors import Problem
from helpline.web.deps import SESSION_COOKIE
from helpline.web.pages import redirect, set_session_cookie

members, users, workspaces = Membership.__table__, User.__table__, Workspace.__table__

PENDING_COOKIE = "helpline_2fa"
PENDING_SECONDS = 300


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _mac(secret: str, payload: str) -> str:
    digest = hmac.new(secret.encode(), ("pending2fa|" + payload).encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode()


def pending_value(secret: str, user_id: int, workspace_id: int) -> str:
    payload = f"{user_id}.{workspace_id}.{int(time.time()) + PENDING_SECONDS}"
    return f"{payload}.{_mac(secret, payload)}"


def read_pending(secret: str, value: str | None) -> tuple[int, int] | None:
    """(user id, workspace id) of a valid, unexpired pending cookie; None otherwise."""
    parts = (value or "").split(".")
    if len(parts) != 4 or not all(p.isdigit() for p in parts[:3]) or int(parts[2]) < time.time():
        return None
    if not hmac.compare_digest(_mac(secret, ".".join(parts[:3])), parts[3]):
        return None
    return int(parts[0]), int(parts[1])


def remember_pending(response: Response, platform: Any, user_id: int, workspace_id: int) -> Response:
    """Set the cookie that lets the code step finish this sign-in (five minutes, this site only)."""
    s = platform.settings
    response.set_cookie(
        PENDING_COOKIE,
        pending_value(s.ensure_secret_key(), user_id, workspace_id),
        max_age=PENDING_SECONDS,
        httponly=True,
        samesite="strict",
        path="/",
        secure=s.base_url.startswith("https://"),
    )
    return response


def pending_of(request: Request, platform: Any) -> tuple[int, int] | None:
    return read_pending(platform.settings.ensure_secret_key(), request.cookies.get(PENDING_COOKIE))


async def check_password(
    uow: Any, platform: Any, request: Request, email: str, password: str
) -> tuple[int, bool]:
    """(user id, whether a second factor is still needed) for a right password; raises a Problem
    (401 wrong, 429 throttled) otherwise."""
    s = platform.settings
    try:
        user_id = await service.authenticate(
            uow,
            platform.cache,
            email=email,
            password=password,
            otp=None,
            client=client_of(request),
            max_failures=s.login_max_failures,
            window=s.login_window_seconds,
        )
        return user_id, False
    except Problem as exc:
        if exc.status == 401 and exc.errors and exc.errors[0].get("message") == "required":
            return await service.active_user_by_email(uow, email) or 0, True
        raise


async def require_fresh(
    request: Request, uow: Any, platform: Any, actor: Any, password: str | None, otp: str | None
) -> None:
    """``service.require_fresh`` for a request: its client address and the sign-in throttle's limits."""
    s = platform.settings
    await service.require_fresh(
        uow,
        platform.cache,
        actor,
        password=password or None,
        otp=otp or None,
        client=client_of(request),
        max_failures=s.login_max_failures,
        window=s.login_window_seconds,
    )


async def check_code(platform: Any, request: Request, user_id: int, otp: str) -> None:
    """The second step: a TOTP or recovery code of ``user_id``; raises a Problem when it is wrong."""
    s = platform.settings
    async with platform.db.transaction() as uow:
        await service.second_factor(
            uow,
            platform.cache,
            user_id=user_id,
            otp=otp,
            client=client_of(request),
            max_failures=s.login_max_failures,
            window=s.login_window_seconds,
        )


async def record_signin(
    uow: Any, user_id: int, workspace_id: int, *, method: str, detail: dict[str, Any] | None = None
) -> None:
    """Audit a successful sign-in in the workspace it opened (same transaction as the session)."""
    email = (await uow.execute(sa.select(users.c.email).where(users.c.id == user_id))).scalar_one()
    await audit.record(
        uow,
        "signin.succeeded",
        workspace_id=workspace_id,
        actor_user_id=user_id,
        actor_email=email,
        target_type="user",
        target_id=user_id,
        detail={"method": method, **(detail or {})},
    )


async def record_failed(
    platform: Any, email: str, workspace_slug: str | None, exc: Exception, *, method: str = "password"
) -> None:
    """Audit a refused sign-in in its own transaction (the attempt's rolled back). It lands in the
    workspace named, else the one the account would have signed in to, else the instance's log."""
    if not isinstance(exc, Problem) or exc.status not in (401, 429):
        return
    email = service.normalise_email(email)[:320]
    async with platform.db.transaction() as uow:
        user_id = (await uow.execute(sa.select(users.c.id).where(users.c.email == email))).scalar()
        ws = None
        if workspace_slug:
            ws = (
                await uow.execute(sa.select(workspaces.c.id).where(workspaces.c.slug == workspace_slug))
            ).scalar()
        elif user_id is not None:
            ws = (
                await uow.execute(
                    sa.select(sa.func.min(members.c.workspace_id)).where(members.c.user_id == user_id)
                )
            ).scalar()
        await audit.record(
            uow,
            "signin.failed",
            workspace_id=ws,
            actor_user_id=user_id,
            actor_email=email,
            target_type="user" if user_id else "",
            target_id=user_id or "",
            detail={"method": method, "status": exc.status, "reason": exc.detail[:200]},
        )


async def open_session(
    request: Request,
    platform: Any,
    user_id: int,
    workspace_id: int,
    target: str,
    *,
    method: str = "password",
    detail: dict[str, Any] | None = None,
) -> Response:
    """Start a session (rotating any the browser had), set its cookie and go to ``target``; a customer
    is sent to the portal whatever the target. ``method`` is how the person proved who they are
    (``service.start_session``)."""
    s = platform.settings
    async with platform.db.transaction() as uow:
        cookie, _ = await service.start_session(
            uow,
            user_id,
            workspace_id,
            days=s.session_days,
            replaces=request.cookies.get(SESSION_COOKIE),
            method=method,
        )
        await record_signin(uow, user_id, workspace_id, method=method, detail=detail)
        role = (
            await uow.execute(
                sa.select(members.c.role).where(
                    members.c.user_id == user_id, members.c.workspace_id == workspace_id
                )
            )
        ).scalar_one()
    if role == "customer" and not target.startswith("/portal"):
        target = "/portal"
    response = redirect(target)
    set_session_cookie(response, cookie, days=s.session_days, secure=s.base_url.startswith("https://"))
    response.delete_cookie(PENDING_COOKIE, path="/")
    return response
