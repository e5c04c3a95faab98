"""Sessions and the signed-in person: sign in and out, their own profile, password and 2FA."""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request, Response

from helpline.domains.accounts import audit, security, service, signin
from helpline.domains.accounts.api._common import fresh, members, users
from helpline.domains.accounts.principal import Principal
from helpline.domains.accounts.schemas import (
    Me,
    MeUpdate,
    PasswordChange,
    Reauth,
    RecoveryCodes,
    SessionCreate,
    SessionRead,
    TotpConfirm,
    TotpStart,
)
from helpline.domains.accounts.sso import service as sso_service
from helpline.errors import Invalid, Problem
from helpline.web.deps import SESSION_COOKIE, CurrentPrincipal, PlatformDep
from helpline.web.pages import set_session_cookie
from helpline.web.responses import JSON

router = APIRouter(tags=["accounts"])


@router.post(
    "/session",
    response_model=SessionRead,
    summary="Sign in (sets the session cookie)",
    responses={401: {"description": "Wrong credentials"}, 429: {"description": "Throttled"}},
)
async def sign_in(body: SessionCreate, request: Request, platform: PlatformDep) -> JSON:
    s = platform.settings
    client = signin.client_of(request)
    try:
        async with platform.db.transaction() as uow:
            user_id = await service.authenticate(
                uow,
                platform.cache,
                email=str(body.email),
                password=body.password,
                otp=body.otp,
                client=client,
                max_failures=s.login_max_failures,
                window=s.login_window_seconds,
            )
            ws = await service.membership_workspace(uow, user_id, body.workspace)
            await sso_service.check_password_sign_in(uow, user_id, ws)
            cookie, csrf = await service.start_session(
                uow, user_id, ws, days=s.session_days, replaces=request.cookies.get(SESSION_COOKIE)
            )
            role: str = (
                await uow.execute(
                    sa.select(members.c.role).where(
                        members.c.user_id == user_id, members.c.workspace_id == ws
                    )
                )
            ).scalar_one()
            await signin.record_signin(uow, user_id, ws, method="password")
    except Problem as exc:
        await signin.record_failed(platform, str(body.email), body.workspace, exc)
        raise
    response = JSON({"user_id": user_id, "workspace_id": ws, "role": role, "csrf_token": csrf})
    set_session_cookie(response, cookie, days=s.session_days, secure=s.base_url.startswith("https://"))
    return response


@router.delete("/session", status_code=204, summary="Sign out")
async def sign_out(
    actor: CurrentPrincipal,
    platform: PlatformDep,
    everywhere: Annotated[bool, Query(description="End every session of this user")] = False,
) -> Response:
    async with platform.db.transaction() as uow:
        await service.end_sessions(uow, actor.user_id, session_id=None if everywhere else actor.session_id)
        await audit.record(
            uow, "sessions.ended" if everywhere else "signout", workspace_id=actor.workspace_id, actor=actor
        )
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _me(actor: Principal, email: str, name: str) -> dict[str, Any]:
    """The ``Me`` body: the person's ``email`` and ``name`` as stored now, the rest from the principal."""
    return {
        "id": actor.user_id,
        "email": email,
        "name": name,
        "role": actor.role.value,
        "workspace_id": actor.workspace_id,
        "group_ids": sorted(actor.group_ids),
        "contact_id": actor.contact_id,
        "is_operator": actor.is_operator,
    }


@router.get("/me", response_model=Me, summary="Who am I")
async def me(actor: CurrentPrincipal) -> JSON:
    return JSON(_me(actor, actor.email, actor.name))


@router.patch(
    "/me",
    response_model=Me,
    summary="Change your own name or email (an email change needs your password)",
    responses={403: {"description": "Re-authentication required"}},
)
async def update_me(body: MeUpdate, request: Request, actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    async with platform.db.transaction() as uow:
        if body.email is not None and service.normalise_email(str(body.email)) != actor.email:
            await fresh(platform, request, uow, actor, body)
            await service.change_email(uow, actor, str(body.email))
        if body.name is not None:
            await service.check_identity_change(uow, actor)
            await uow.execute(users.update().where(users.c.id == actor.user_id).values(name=body.name))
        row = (
            await uow.execute(sa.select(users.c.email, users.c.name).where(users.c.id == actor.user_id))
        ).one()
    return JSON(_me(actor, row.email, row.name))


@router.post(
    "/me/password",
    status_code=204,
    summary="Change your password (needs the current one); every session ends",
    responses={403: {"description": "Re-authentication required"}},
)
async def change_password(
    body: PasswordChange, request: Request, actor: CurrentPrincipal, platform: PlatformDep
) -> Response:
    async with platform.db.transaction() as uow:
        # The current password is asked for every time, however fresh the session.
        if not body.password:
            raise Invalid("password", "send your current password")
        await fresh(platform, request, uow, actor, body)
        try:
            await service.set_password(uow, actor.user_id, body.new_password)
        except Invalid as exc:
            raise Invalid("new_password", exc.errors[0]["message"]) from None
        await audit.record_own(uow, "password.changed", actor)
    return Response(status_code=204)


@router.post(
    "/me/2fa",
    response_model=TotpStart,
    summary="Start two-factor set-up (2FA stays as it is until a code confirms the new secret)",
    responses={403: {"description": "Re-authentication required"}},
)
async def start_2fa(
    request: Request, actor: CurrentPrincipal, platform: PlatformDep, body: Reauth | None = None
) -> JSON:
    async with platform.db.transaction() as uow:
        await fresh(platform, request, uow, actor, body)
        secret = await service.begin_totp(uow, actor.user_id)
    return JSON({"secret": secret, "otpauth_uri": security.totp_uri(secret, actor.email)})


@router.post(
    "/me/2fa/confirm", response_model=RecoveryCodes, summary="Confirm 2FA with a code; get recovery codes"
)
async def confirm_2fa(body: TotpConfirm, actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    async with platform.db.transaction() as uow:
        codes = await service.confirm_totp(uow, actor.user_id, body.code)
        await audit.record_own(uow, "2fa.enabled", actor)
    return JSON({"recovery_codes": codes})


@router.delete(
    "/me/2fa",
    status_code=204,
    summary="Turn two-factor authentication off (needs your password and a code)",
    responses={403: {"description": "Re-authentication required"}},
)
async def disable_2fa(
    request: Request, actor: CurrentPrincipal, platform: PlatformDep, body: Reauth | None = None
) -> Response:
    async with platform.db.transaction() as uow:
        await fresh(platform, request, uow, actor, body)
        await service.disable_totp(uow, actor.user_id)
        await audit.record_own(uow, "2fa.disabled", actor)
    return Response(status_code=204)
