"""Signing in: passwords with throttling, web sessions, two-factor authentication, password changes."""

from __future__ import annotations

import secrets
from datetime import timedelta

import sqlalchemy as sa

from helpline.db.base import utcnow
from helpline.domains.accounts import security
from helpline.domains.accounts.service._common import (
    check_password,
    members,
    normalise_email,
    recovery,
    sessions,
    users,
    workspaces,
)
from helpline.platform.cache import Cache
from helpline.platform.db import UnitOfWork
from helpline.web.errors import Invalid, TooManyRequests, Unauthorized


async def _throttle(cache: Cache, keys: list[str], limit: int) -> None:
    for key in keys:
        if await cache.get_int(key) >= limit:
            wait = await cache.ttl(key)
            raise TooManyRequests(
                f"too many failed sign-ins; try again in {wait} seconds",
                headers={"Retry-After": str(wait)},
            )


async def authenticate(
    uow: UnitOfWork,
    cache: Cache,
    *,
    email: str,
    password: str,
    otp: str | None,
    client: str,
    max_failures: int,
    window: int,
) -> int:
    """The user id for valid credentials (and a valid TOTP or recovery code when 2FA is on).

    Failures count per account and per client address; past ``max_failures`` within ``window``
    seconds, every attempt answers 429 until the window ends, right password or not.
    """
    email = normalise_email(email)
    keys = [f"login:acct:{email}", f"login:addr:{client}"]
    await _throttle(cache, keys, max_failures)
    row = (
        await uow.execute(
            sa.select(users.c.id, users.c.password_hash, users.c.totp_enabled, users.c.totp_secret).where(
                users.c.email == email, users.c.is_active.is_(True)
            )
        )
    ).first()
    ok = security.verify_password(row[1] if row else None, password)
    if not ok or row is None:
        for key in keys:
            await cache.incr(key, window)
        raise Unauthorized("wrong email or password")
    user_id, totp_enabled, totp_secret = row.id, row.totp_enabled, row.totp_secret
    if totp_enabled:
        if not otp:
            raise Unauthorized(
                "this account has two-factor authentication: send the 6-digit code as `otp`",
                errors=[{"field": "otp", "message": "required"}],
            )
        if not (security.verify_totp(totp_secret, otp) or await _use_recovery_code(uow, user_id, otp)):
            for key in keys:
                await cache.incr(key, window)
            raise Unauthorized("wrong two-factor code", errors=[{"field": "otp", "message": "wrong code"}])
    await cache.delete(keys[0])
    return int(user_id)


async def _use_recovery_code(uow: UnitOfWork, user_id: int, code: str) -> bool:
    result = await uow.execute(
        recovery.update()
        .where(
            recovery.c.user_id == user_id,
            recovery.c.code_hash == security.recovery_hash(code),
            recovery.c.used_at.is_(None),
        )
        .values(used_at=utcnow())
    )
    return result.rowcount == 1


async def start_session(
    uow: UnitOfWork,
    user_id: int,
    workspace_id: int,
    *,
    days: int,
    replaces: str | None = None,
    method: str = "password",
) -> tuple[str, str]:
    """A new session (cookie value, CSRF token). The session it replaces, if any, ends: rotation.
    ``method`` says how the person proved who they are (``password``, ``link``, ``passkey``, ``sso``);
    the proof counts as a fresh re-authentication (``reauth_at``)."""
    if replaces:
        await uow.execute(
            sessions.update()
            .where(sessions.c.token_hash == security.token_hash(replaces))
            .values(revoked_at=utcnow())
        )
    cookie = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    await uow.execute(
        sessions.insert().values(
            user_id=user_id,
            workspace_id=workspace_id,
            token_hash=security.token_hash(cookie),
            csrf_token=csrf,
            created_at=utcnow(),
            expires_at=utcnow() + timedelta(days=days),
            method=method,
            reauth_at=utcnow(),
        )
    )
    return cookie, csrf


async def end_sessions(uow: UnitOfWork, user_id: int, *, session_id: int | None = None) -> int:
    """End one session, or every session of the user (sign out everywhere); how many ended."""
    cond = [sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None)]
    if session_id is not None:
        cond.append(sessions.c.id == session_id)
    result = await uow.execute(sessions.update().where(*cond).values(revoked_at=utcnow()))
    return int(result.rowcount)


async def membership_workspace(uow: UnitOfWork, user_id: int, slug: str | None) -> int:
    """The workspace to sign in to: the named one, or the user's first."""
    q = sa.select(members.c.workspace_id).join(workspaces, workspaces.c.id == members.c.workspace_id)
    q = q.where(members.c.user_id == user_id)
    if slug:
        q = q.where(workspaces.c.slug == slug)
    row = (await uow.execute(q.order_by(members.c.workspace_id).limit(1))).first()
    if row is None:
        raise Unauthorized("wrong email or password")
    return int(row[0])


# --- two-factor ---------------------------------------------------------------------------------


async def begin_totp(uow: UnitOfWork, user_id: int) -> str:
    """Store a fresh, not yet enabled TOTP secret; the caller shows it as a QR code or text."""
    secret = security.new_totp_secret()
    await uow.execute(
        users.update().where(users.c.id == user_id).values(totp_secret=secret, totp_enabled=False)
    )
    return secret


async def confirm_totp(uow: UnitOfWork, user_id: int, code: str) -> list[str]:
    """Enable 2FA once the user proves their authenticator works; returns new recovery codes."""
    row = (await uow.execute(sa.select(users.c.totp_secret).where(users.c.id == user_id))).first()
    if row is None or not row[0]:
        raise Invalid("code", "start two-factor set-up first")
    if not security.verify_totp(row[0], code):
        raise Invalid("code", "the code does not match; check the authenticator's clock")
    await uow.execute(users.update().where(users.c.id == user_id).values(totp_enabled=True))
    codes = security.new_recovery_codes()
    await uow.execute(recovery.delete().where(recovery.c.user_id == user_id))
    await uow.execute(
        recovery.insert(), [{"user_id": user_id, "code_hash": security.recovery_hash(c)} for c in codes]
    )
    return codes


async def disable_totp(uow: UnitOfWork, user_id: int) -> None:
    await uow.execute(
        users.update().where(users.c.id == user_id).values(totp_enabled=False, totp_secret=None)
    )
    await uow.execute(recovery.delete().where(recovery.c.user_id == user_id))


async def second_factor(
    uow: UnitOfWork, cache: Cache, *, user_id: int, otp: str, client: str, max_failures: int, window: int
) -> None:
    """Check the TOTP or recovery code of a user whose password was already checked (the second step of
    a sign-in form); throttled like passwords, per account and per client address."""
    row = (
        await uow.execute(
            sa.select(users.c.email, users.c.totp_secret, users.c.totp_enabled).where(
                users.c.id == user_id, users.c.is_active.is_(True)
            )
        )
    ).first()
    if row is None:
        raise Unauthorized("wrong email or password")
    keys = [f"login:acct:{row.email}", f"login:addr:{client}"]
    await _throttle(cache, keys, max_failures)
    code = otp.strip().replace(" ", "")
    if row.totp_enabled and not (
        security.verify_totp(row.totp_secret, code) or await _use_recovery_code(uow, user_id, code)
    ):
        for key in keys:
            await cache.incr(key, window)
        raise Unauthorized("wrong two-factor code", errors=[{"field": "otp", "message": "wrong code"}])
    await cache.delete(keys[0])


async def set_password(uow: UnitOfWork, user_id: int, password: str) -> None:
    """A new password; every session of the user ends (a reset means the old one may be known)."""
    check_password(password)
    await uow.execute(
        users.update().where(users.c.id == user_id).values(password_hash=security.hash_password(password))
    )
    await end_sessions(uow, user_id)


async def active_user_by_email(uow: UnitOfWork, email: str) -> int | None:
    row = (
        await uow.execute(
            sa.select(users.c.id).where(users.c.email == normalise_email(email), users.c.is_active.is_(True))
        )
    ).first()
    return None if row is None else int(row[0])
