"""The page where a person who already has an account accepts an invitation to another workspace:
signed in as themselves (their password, and their code with 2FA on), choosing a password of their
own when they have none or only one an admin picked. Nothing changes until they accept."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from helpline.domains.accounts import service, signin
from helpline.errors import Problem
from helpline.platform.db import UnitOfWork
from helpline.web.deps import PlatformDep
from helpline.web.pages import anon_csrf, check_anon_csrf, keep_anon_csrf
from helpline.web.templating import render

router = APIRouter(include_in_schema=False)
Text = Annotated[str, Form()]


async def _page(
    request: Request,
    platform: Any,
    secret: str,
    *,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    async with platform.db.transaction() as uow:
        inv = await service.open_invitation(uow, secret)
    anon_csrf(request)
    page = render(
        request,
        "accounts/invitation.html",
        {
            "title": f"Join {inv.workspace_name}" if inv else "Invitation",
            "inv": inv,
            "secret": secret,
            "errors": errors or {},
        },
        status=status if inv else 404,
    )
    return keep_anon_csrf(request, page)  # type: ignore[no-any-return]


@router.get("/invitations/{secret}")
async def invitation(request: Request, secret: str, platform: PlatformDep) -> HTMLResponse:
    return await _page(request, platform, secret)


@router.post("/invitations/{secret}")
async def accept(
    request: Request,
    secret: str,
    platform: PlatformDep,
    password: Text = "",
    otp: Text = "",
    new_password: Text = "",
) -> Response:
    await check_anon_csrf(request)
    s = platform.settings
    client = signin.client_of(request)
    keys = [f"login:addr:{client}"]
    try:
        async with platform.db.transaction() as uow:
            await _throttle(uow, platform, keys)
            user_id, workspace_id = await service.accept_invitation(
                uow, secret, password=password, otp=otp, new_password=new_password
            )
    except Problem as exc:
        if exc.status == 401:
            for key in keys:
                await platform.cache.incr(key, s.login_window_seconds)
        field = exc.errors[0]["field"] if exc.errors else "_"
        return await _page(request, platform, secret, errors={field: exc.detail}, status=exc.status)
    return await signin.open_session(request, platform, user_id, workspace_id, "/inbox")


async def _throttle(uow: UnitOfWork, platform: Any, keys: list[str]) -> None:
    """Wrong passwords here count like failed sign-ins from the same address."""
    for key in keys:
        if await platform.cache.get_int(key) >= platform.settings.login_max_failures:
            raise Problem("too many failed attempts; try again later", status=429)
