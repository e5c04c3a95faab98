"""Writes of the accounts domain: workspaces, users and memberships, groups, tokens, sessions, 2FA."""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa

from helpline.db.base import utcnow
from helpline.domains.accounts import security
from helpline.domains.accounts.models import (
    ApiToken,
    Group,
    GroupMember,
    Membership,
    RecoveryCode,
    Role,
    User,
    WebSession,
    Workspace,
)
from helpline.domains.customers import service as customers
from helpline.platform.cache import Cache
from helpline.platform.db import UnitOfWork
from helpline.web.errors import Conflict, Invalid, NotFound, TooManyRequests, Unauthorized

workspaces = Workspace.__table__
users = User.__table__
members = Membership.__table__
groups = Group.__table__
group_members = GroupMember.__table__
tokens = ApiToken.__table__
sessions = WebSession.__table__
recovery = RecoveryCode.__table__

DEFAULT_WORKSPACE = "default"
MIN_PASSWORD = 10


def normalise_email(email: str) -> str:
    return email.strip().lower()


def ticket_sequence(workspace_id: int) -> str:
    return f"ticket_number_ws_{int(workspace_id)}"


async def create_workspace(uow: UnitOfWork, name: str, slug: str | None = None) -> int:
    slug = slug or re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "workspace"
    exists = (await uow.execute(sa.select(workspaces.c.id).where(workspaces.c.slug == slug))).first()
    if exists:
        raise Conflict(f"a workspace with the slug {slug!r} exists")
    ws_id = (
        await uow.execute(
            workspaces.insert()
            .values(slug=slug, name=name, settings={}, ticket_seq=0, created_at=utcnow())
            .returning(workspaces.c.id)
        )
    ).scalar_one()
    if uow.dialect == "postgresql":
        await uow.execute(sa.text(f"CREATE SEQUENCE IF NOT EXISTS {ticket_sequence(ws_id)}"))
    return int(ws_id)


async def default_workspace(uow: UnitOfWork) -> int:
    """The single workspace of a default install, created on first use."""
    row = (await uow.execute(sa.select(workspaces.c.id).order_by(workspaces.c.id).limit(1))).first()
    if row:
        return int(row[0])
    return await create_workspace(uow, "Helpline", DEFAULT_WORKSPACE)


async def workspace_by_slug(uow: UnitOfWork, slug: str) -> int:
    row = (await uow.execute(sa.select(workspaces.c.id).where(workspaces.c.slug == slug))).first()
    if row is None:
        raise NotFound(f"no workspace {slug!r}")
    return int(row[0])


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise Invalid("password", f"must be at least {MIN_PASSWORD} characters")


async def group_id_for(uow: UnitOfWork, workspace_id: int, name: str, *, create: bool = False) -> int:
    row = (
        await uow.execute(
            sa.select(groups.c.id).where(groups.c.workspace_id == workspace_id, groups.c.name == name)
        )
    ).first()
    if row:
        return int(row[0])
    if not create:
        raise Invalid("group", f"no group named {name!r}")
    return await create_group(uow, workspace_id, name)


async def create_group(uow: UnitOfWork, workspace_id: int, name: str, description: str = "") -> int:
    name = name.strip()
    if not name:
        raise Invalid("name", "must not be empty")
    dup = (
        await uow.execute(
            sa.select(groups.c.id).where(groups.c.workspace_id == workspace_id, groups.c.name == name)
        )
    ).first()
    if dup:
        raise Conflict(f"a group named {name!r} exists", errors=[{"field": "name", "message": "taken"}])
    return int(
        (
            await uow.execute(
                groups.insert()
                .values(workspace_id=workspace_id, name=name, description=description, created_at=utcnow())
                .returning(groups.c.id)
            )
        ).scalar_one()
    )


async def set_group_members(uow: UnitOfWork, workspace_id: int, group_id: int, user_ids: list[int]) -> None:
    staff = {
        r[0]
        for r in await uow.execute(
            sa.select(members.c.user_id).where(
                members.c.workspace_id == workspace_id,
                members.c.user_id.in_(user_ids),
                members.c.role != Role.customer.value,
            )
        )
    }
    missing = sorted(set(user_ids) - staff)
    if missing:
        raise Invalid("member_ids", f"not agents of this workspace: {missing}")
    await uow.execute(group_members.delete().where(group_members.c.group_id == group_id))
    if user_ids:
        await uow.execute(
            group_members.insert(), [{"group_id": group_id, "user_id": u} for u in sorted(staff)]
        )


async def create_user(
    uow: UnitOfWork,
    workspace_id: int,
    *,
    email: str,
    role: Role,
    name: str = "",
    password: str | None = None,
    group_names: list[str] | None = None,
    create_groups: bool = False,
) -> int:
    """Add a person to a workspace with a role; reuse the user if they belong to another workspace.

    A customer membership is tied to the contact with the same email (created if needed), so the
    tickets that contact requests are theirs.
    """
    email = normalise_email(email)
    if password is not None:
        check_password(password)
    existing = (await uow.execute(sa.select(users.c.id).where(users.c.email == email))).first()
    if existing:
        user_id = int(existing[0])
        member = (
            await uow.execute(
                sa.select(members.c.id).where(
                    members.c.user_id == user_id, members.c.workspace_id == workspace_id
                )
            )
        ).first()
        if member:
            raise Conflict(
                f"{email} is already a member of this workspace",
                errors=[{"field": "email", "message": "already a member"}],
            )
        if password is not None:
            await uow.execute(
                users.update()
                .where(users.c.id == user_id)
                .values(password_hash=security.hash_password(password))
            )
    else:
        user_id = int(
            (
                await uow.execute(
                    users.insert()
                    .values(
                        email=email,
                        name=name or email.split("@")[0],
                        password_hash=security.hash_password(password) if password else None,
                        totp_enabled=False,
                        is_active=True,
                        created_at=utcnow(),
                    )
                    .returning(users.c.id)
                )
            ).scalar_one()
        )
    contact_id = None
    if role is Role.customer:
        contact_id = await customers.find_or_create_contact(uow, workspace_id, email=email, name=name)
    await uow.execute(
        members.insert().values(
            workspace_id=workspace_id,
            user_id=user_id,
            role=role.value,
            contact_id=contact_id,
            created_at=utcnow(),
        )
    )
    for group_name in group_names or []:
        if role is Role.customer:
            raise Invalid("group", "customers do not belong to groups")
        gid = await group_id_for(uow, workspace_id, group_name, create=create_groups)
        await uow.execute(group_members.insert().values(group_id=gid, user_id=user_id))
    return user_id


async def user_id_by_email(uow: UnitOfWork, workspace_id: int, email: str) -> int:
    row = (
        await uow.execute(
            sa.select(users.c.id)
            .join(members, members.c.user_id == users.c.id)
            .where(users.c.email == normalise_email(email), members.c.workspace_id == workspace_id)
        )
    ).first()
    if row is None:
        raise NotFound(f"no user {email} in this workspace")
    return int(row[0])


async def create_token(
    uow: UnitOfWork,
    workspace_id: int,
    user_id: int,
    *,
    name: str = "",
    expires_at: datetime | None = None,
) -> tuple[int, str]:
    """A new API token; the token itself is returned here once and never stored."""
    if expires_at is not None and expires_at <= utcnow():
        raise Invalid("expires_at", "must be in the future")
    token = security.new_token()
    token_id = (
        await uow.execute(
            tokens.insert()
            .values(
                workspace_id=workspace_id,
                user_id=user_id,
                name=name,
                prefix=token[:8],
                token_hash=security.token_hash(token),
                created_at=utcnow(),
                expires_at=expires_at,
            )
            .returning(tokens.c.id)
        )
    ).scalar_one()
    return int(token_id), token


async def revoke_token(uow: UnitOfWork, workspace_id: int, token_id: int, *, owner_id: int | None) -> None:
    cond = [tokens.c.id == token_id, tokens.c.workspace_id == workspace_id]
    if owner_id is not None:
        cond.append(tokens.c.user_id == owner_id)
    result = await uow.execute(
        tokens.update().where(*cond, tokens.c.revoked_at.is_(None)).values(revoked_at=utcnow())
    )
    if result.rowcount == 0:
        raise NotFound(f"token {token_id} not found")


# --- signing in ---------------------------------------------------------------------------------


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
    uow: UnitOfWork, user_id: int, workspace_id: int, *, days: int, replaces: str | None = None
) -> tuple[str, str]:
    """A new session (cookie value, CSRF token). The session it replaces, if any, ends: rotation."""
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
