"""Signing in: passwords with throttling, web sessions, two-factor authentication, password changes."""

from __future__ import annotations

import secrets
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline import timezones
from helpline.db.base import utcnow
from helpline.domains.accounts import audit, security
from helpline.domains.accounts.principal import Principal
from helpline.domains.accounts.service._common import (
    belongs_only_to,
    check_password,
    members,
    normalise_email,
    recovery,
    sessions,
    users,
    workspaces,
)
from helpline.errors import Invalid, ReauthRequired, TooManyRequests, Unauthorized
from helpline.platform.cache import Cache
from helpline.platform.db import UnitOfWork

#: How long a sign-in or re-authentication counts as fresh for sensitive changes.
REAUTH_SECONDS = 300


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


async def end_sessions(
    uow: UnitOfWork, user_id: int, *, session_id: int | None = None, workspace_id: int | None = None
) -> int:
    """End one session, or every session of the user (sign out everywhere), or every one of theirs in
    one workspace; how many ended."""
    cond = [sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None)]
    if session_id is not None:
        cond.append(sessions.c.id == session_id)
    if workspace_id is not None:
        cond.append(sessions.c.workspace_id == workspace_id)
    result = await uow.execute(sessions.update().where(*cond).values(revoked_at=utcnow()))
    return int(result.rowcount)


async def membership_workspace(uow: UnitOfWork, user_id: int, slug: str | None) -> int:
    """The workspace to sign in to: the named one, or the user's first where they are active and the
    workspace is not disabled."""
    q = sa.select(members.c.workspace_id).join(workspaces, workspaces.c.id == members.c.workspace_id)
    q = q.where(
        members.c.user_id == user_id, members.c.is_active.is_(True), workspaces.c.disabled_at.is_(None)
    )
    if slug:
        q = q.where(workspaces.c.slug == slug)
    row = (await uow.execute(q.order_by(members.c.workspace_id).limit(1))).first()
    if row is None:
        raise Unauthorized("wrong email or password")
    return int(row[0])


async def session_is_fresh(uow: UnitOfWork | AsyncConnection, session_id: int | None) -> bool:
    """Whether the session proved who it is (sign-in or re-authentication) within REAUTH_SECONDS.

    A session opened by a workspace's single sign-on proves only what that workspace's identity
    provider says, and the provider is the workspace admin's to configure: it counts as a proof of
    the person only while they belong to that workspace alone (docs/adr/0011)."""
    if session_id is None:
        return False
    row = (
        await uow.execute(
            sa.select(
                sessions.c.reauth_at, sessions.c.method, sessions.c.user_id, sessions.c.workspace_id
            ).where(sessions.c.id == session_id)
        )
    ).first()
    if row is None or row.reauth_at is None or row.reauth_at <= utcnow() - timedelta(seconds=REAUTH_SECONDS):
        return False
    return row.method != "sso" or await belongs_only_to(uow, row.user_id, row.workspace_id)


async def update_own_profile(uow: UnitOfWork, actor: Principal, *, name: str, timezone: str) -> None:
    """A person's own name and time zone (empty: their workspace's), from the console's profile page
    or the portal's. Raises :class:`Invalid` naming the field."""
    name = name.strip()[:200]
    if not name:
        raise Invalid("name", "Enter your name.")
    tz = timezones.check(timezone) if timezone.strip() else None
    await check_identity_change(uow, actor)
    await uow.execute(users.update().where(users.c.id == actor.user_id).values(name=name, timezone=tz))


async def check_identity_change(uow: UnitOfWork | AsyncConnection, actor: Principal) -> None:
    """Changing one's own identity (name, email, password, 2FA, passkeys) from a session that a
    workspace's single sign-on opened is allowed only while the person belongs to that workspace
    alone; otherwise they sign in with their own password (or passkey) first."""
    if actor.session_id is None:
        return
    method = (
        await uow.execute(sa.select(sessions.c.method).where(sessions.c.id == actor.session_id))
    ).scalar()
    if method == "sso" and not await belongs_only_to(uow, actor.user_id, actor.workspace_id):
        raise ReauthRequired(
            "you signed in through this workspace's single sign-on, which cannot change an account "
            "that other workspaces use: sign in with your own password or passkey to do this"
        )


async def require_fresh(
    uow: UnitOfWork,
    cache: Cache,
    actor: Principal,
    *,
    password: str | None,
    otp: str | None = None,
    client: str,
    max_failures: int,
    window: int,
) -> None:
    """Disabling 2FA, changing email or password, and creating API tokens need a fresh proof: a web
    session that signed in or re-authenticated within :data:`REAUTH_SECONDS`, or the password (and,
    with 2FA on, a code) given with the request. A session or token alone is not enough: it may be a
    stolen cookie or a leaked token. Wrong passwords count towards the sign-in throttle."""
    if not password:
        if await session_is_fresh(uow, actor.session_id):
            return
        raise ReauthRequired(
            "confirm it is you: send your current `password` (and `otp` with two-factor authentication on)"
        )
    row = (
        await uow.execute(
            sa.select(users.c.email, users.c.password_hash, users.c.totp_enabled, users.c.totp_secret).where(
                users.c.id == actor.user_id
            )
        )
    ).one()
    keys = [f"login:acct:{row.email}", f"login:addr:{client}"]
    await _throttle(cache, keys, max_failures)
    ok = security.verify_password(row.password_hash, password)
    code = (otp or "").strip().replace(" ", "")
    if ok and row.totp_enabled:
        ok = bool(code) and (
            security.verify_totp(row.totp_secret, code) or await _use_recovery_code(uow, actor.user_id, code)
        )
    if not ok:
        for key in keys:
            await cache.incr(key, window)
        raise ReauthRequired("that password or two-factor code is not right")
    await mark_fresh(uow, actor.session_id)


async def mark_fresh(uow: UnitOfWork, session_id: int | None) -> None:
    """The session just proved who it is (re-authentication page, passkey, SSO)."""
    if session_id is not None:
        await uow.execute(sessions.update().where(sessions.c.id == session_id).values(reauth_at=utcnow()))


# --- two-factor ---------------------------------------------------------------------------------


async def begin_totp(uow: UnitOfWork, user_id: int) -> str:
    """Store a fresh TOTP secret *beside* the one in use (``totp_pending``); the caller shows it as a
    QR code or text. Two-factor authentication stays as it was until a code confirms the new secret."""
    secret = security.new_totp_secret()
    await uow.execute(users.update().where(users.c.id == user_id).values(totp_pending=secret))
    return secret


async def confirm_totp(uow: UnitOfWork, user_id: int, code: str) -> list[str]:
    """Enable 2FA with the pending secret once the user proves their authenticator works; returns new
    recovery codes."""
    row = (await uow.execute(sa.select(users.c.totp_pending).where(users.c.id == user_id))).first()
    if row is None or not row[0]:
        raise Invalid("code", "start two-factor set-up first")
    if not security.verify_totp(row[0], code):
        raise Invalid("code", "the code does not match; check the authenticator's clock")
    await uow.execute(
        users.update()
        .where(users.c.id == user_id)
        .values(totp_secret=row[0], totp_pending=None, totp_enabled=True)
    )
    codes = security.new_recovery_codes()
    await uow.execute(recovery.delete().where(recovery.c.user_id == user_id))
    await uow.execute(
        recovery.insert(), [{"user_id": user_id, "code_hash": security.recovery_hash(c)} for c in codes]
    )
    return codes


async def disable_totp(uow: UnitOfWork, user_id: int) -> None:
    await uow.execute(
        users.update()
        .where(users.c.id == user_id)
        .values(totp_enabled=False, totp_secret=None, totp_pending=None)
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
        users.update()
        .where(users.c.id == user_id)
        .values(password_hash=security.hash_password(password), password_by_admin=False)
    )
    await end_sessions(uow, user_id)


async def change_email(uow: UnitOfWork, actor: Principal, email: str) -> None:
    """The person's own new sign-in address (the caller has checked a fresh proof)."""
    email = normalise_email(email)
    taken = await uow.execute(
        sa.select(users.c.id).where(users.c.email == email, users.c.id != actor.user_id)
    )
    if taken.first() is not None:
        raise Invalid("email", "another account uses that address")
    await uow.execute(users.update().where(users.c.id == actor.user_id).values(email=email))
    await audit.record(
        uow,
        "email.changed",
        workspace_id=actor.workspace_id,
        actor=actor,
        target_type="user",
        target_id=actor.user_id,
        detail={"from": actor.email, "to": email},
    )


async def active_user_by_email(uow: UnitOfWork, email: str) -> int | None:
    row = (
        await uow.execute(
            sa.select(users.c.id).where(users.c.email == normalise_email(email), users.c.is_active.is_(True))
        )
    ).first()
    return None if row is None else int(row[0])
