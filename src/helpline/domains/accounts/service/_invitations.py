"""Adding people: a new email becomes a new account at once; an existing account gets an invitation
that only the person can accept (docs/adr/0011-accounts-and-sign-in.md)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa

from helpline.db.base import utcnow
from helpline.domains.accounts import audit, security
from helpline.domains.accounts.models import Role
from helpline.domains.accounts.principal import Principal
from helpline.domains.accounts.service._common import (
    check_password,
    group_members,
    groups,
    invitations,
    members,
    normalise_email,
    users,
    workspaces,
)
from helpline.domains.accounts.service._members import check_groups
from helpline.domains.accounts.service._people import create_user, join
from helpline.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
from helpline.platform.db import UnitOfWork
from helpline.platform.jobs import enqueue

INVITATION_DAYS = 7


@dataclass(frozen=True)
class Added:
    user_id: int
    #: Set when the person already had an account: they were invited, not added.
    invitation_id: int | None = None


async def add_member(
    uow: UnitOfWork,
    actor: Principal,
    *,
    email: str,
    role: Role,
    name: str = "",
    password: str | None = None,
    group_ids: list[int] | None = None,
    base_url: str,
) -> Added:
    """An admin adds a person to their workspace. A new email is a new account with ``password``
    (chosen by the admin, so marked as such: the person must choose their own before joining another
    workspace) and joins at once. An email that already has an account is never changed: it gets an
    invitation by mail instead, and ``password`` and ``name`` are ignored for it."""
    if not actor.is_admin:
        raise Forbidden("only an admin may add people")
    wanted = sorted(set(group_ids or []))
    if wanted and role is Role.customer:
        raise Invalid("group_ids", "customers do not belong to groups")
    await check_groups(uow, actor.workspace_id, wanted)
    email = normalise_email(email)
    existing = (await uow.execute(sa.select(users.c.id).where(users.c.email == email))).first()
    if existing is None:
        user_id = await create_user(
            uow,
            actor.workspace_id,
            email=email,
            role=role,
            name=name,
            password=password,
            password_by_admin=True,
        )
        if wanted:
            await uow.execute(group_members.insert(), [{"group_id": g, "user_id": user_id} for g in wanted])
        await audit.record(
            uow,
            "member.created",
            workspace_id=actor.workspace_id,
            actor=actor,
            target_type="user",
            target_id=user_id,
            detail={"role": role.value, "group_ids": wanted},
        )
        return Added(user_id)
    user_id = int(existing[0])
    member = await uow.execute(
        sa.select(members.c.id).where(
            members.c.user_id == user_id, members.c.workspace_id == actor.workspace_id
        )
    )
    if member.first() is not None:
        raise Conflict(
            f"{email} is already a member of this workspace",
            errors=[{"field": "email", "message": "already a member"}],
        )
    inv_id = await invite(
        uow,
        actor.workspace_id,
        user_id,
        inviter=actor,
        email=email,
        role=role,
        group_ids=wanted,
        base_url=base_url,
    )
    return Added(user_id, invitation_id=inv_id)


async def invite(
    uow: UnitOfWork,
    workspace_id: int,
    user_id: int,
    *,
    inviter: Principal | None,
    email: str,
    role: Role,
    group_ids: list[int],
    base_url: str,
) -> int:
    """A new invitation (an older open one for the same person and workspace is withdrawn), mailed;
    its id. ``inviter`` is the admin, or None for the instance operator's command line."""
    now = utcnow()
    await uow.execute(
        invitations.update()
        .where(
            invitations.c.user_id == user_id,
            invitations.c.workspace_id == workspace_id,
            invitations.c.accepted_at.is_(None),
            invitations.c.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    secret = secrets.token_urlsafe(32)
    inv_id = (
        await uow.execute(
            invitations.insert()
            .values(
                workspace_id=workspace_id,
                user_id=user_id,
                role=role.value,
                group_ids=group_ids,
                invited_by=inviter.user_id if inviter else None,
                token_hash=security.token_hash(secret),
                created_at=now,
                expires_at=now + timedelta(days=INVITATION_DAYS),
            )
            .returning(invitations.c.id)
        )
    ).scalar_one()
    ws_name: str = (
        await uow.execute(sa.select(workspaces.c.name).where(workspaces.c.id == workspace_id))
    ).scalar_one()
    await enqueue(
        uow,
        "accounts.send_link",
        {
            "purpose": "invite",
            "email": email,
            "brand": ws_name,
            "url": f"{base_url.rstrip('/')}/invitations/{secret}",
            "inviter": (inviter.name or inviter.email) if inviter else "The administrator",
            "workspace": ws_name,
            "role": role.value,
        },
    )
    await audit.record(
        uow,
        "member.invited",
        workspace_id=workspace_id,
        actor=inviter,
        target_type="user",
        target_id=user_id,
        detail={"invitation_id": int(inv_id), "role": role.value, "group_ids": group_ids},
    )
    return int(inv_id)


@dataclass(frozen=True)
class OpenInvitation:
    id: int
    workspace_id: int
    workspace_name: str
    user_id: int
    email: str
    role: str
    group_ids: list[int]
    inviter: str
    #: The person has no password of their own yet (none at all, or one an admin chose).
    needs_password: bool
    totp_enabled: bool


async def open_invitation(uow: UnitOfWork, secret: str) -> OpenInvitation | None:
    """The invitation a mailed link names, while it is neither used, withdrawn nor expired."""
    if not secret or len(secret) > 100:
        return None
    who = users.alias("inviter")
    inviter = sa.select(who.c.name).where(who.c.id == invitations.c.invited_by).scalar_subquery()
    row = (
        await uow.execute(
            sa.select(
                invitations.c.id,
                invitations.c.workspace_id,
                workspaces.c.name.label("workspace_name"),
                invitations.c.user_id,
                users.c.email,
                invitations.c.role,
                invitations.c.group_ids,
                sa.func.coalesce(inviter, "").label("inviter"),
                users.c.password_hash,
                users.c.password_by_admin,
                users.c.totp_enabled,
            )
            .join(users, users.c.id == invitations.c.user_id)
            .join(workspaces, workspaces.c.id == invitations.c.workspace_id)
            .where(
                invitations.c.token_hash == security.token_hash(secret),
                invitations.c.accepted_at.is_(None),
                invitations.c.revoked_at.is_(None),
                invitations.c.expires_at > utcnow(),
                users.c.is_active.is_(True),
                workspaces.c.disabled_at.is_(None),
            )
        )
    ).first()
    if row is None:
        return None
    return OpenInvitation(
        id=row.id,
        workspace_id=row.workspace_id,
        workspace_name=row.workspace_name,
        user_id=row.user_id,
        email=row.email,
        role=row.role,
        group_ids=[int(g) for g in row.group_ids or []],
        inviter=row.inviter,
        needs_password=not row.password_hash or bool(row.password_by_admin),
        totp_enabled=bool(row.totp_enabled),
    )


async def accept_invitation(
    uow: UnitOfWork,
    secret: str,
    *,
    password: str,
    otp: str = "",
    new_password: str = "",
) -> tuple[int, int]:
    """The person accepts: they prove who they are (their password and second factor; or, when they
    have no password of their own, the mailed link itself, and then they choose a password).
    Returns (user id, workspace id) of the new membership."""
    inv = await open_invitation(uow, secret)
    if inv is None:
        raise NotFound("this invitation has expired, was withdrawn or was used already")
    row = (
        await uow.execute(
            sa.select(users.c.password_hash, users.c.totp_secret, users.c.password_by_admin).where(
                users.c.id == inv.user_id
            )
        )
    ).one()
    if inv.needs_password:
        # No password of their own yet: the mailed link proves the address is theirs (as a password
        # reset would), and they choose one now. The one an admin chose is not asked for.
        check_password(new_password)
        if row.password_hash and security.verify_password(row.password_hash, new_password):
            raise Invalid("new_password", "choose a password of your own, not the one you were given")
        await uow.execute(
            users.update()
            .where(users.c.id == inv.user_id)
            .values(password_hash=security.hash_password(new_password), password_by_admin=False)
        )
    else:
        if not security.verify_password(row.password_hash, password):
            raise Unauthorized("wrong password", errors=[{"field": "password", "message": "wrong password"}])
        if inv.totp_enabled and not security.verify_totp(row.totp_secret, otp.strip().replace(" ", "")):
            raise Unauthorized("wrong two-factor code", errors=[{"field": "otp", "message": "wrong code"}])
    done = await uow.execute(
        invitations.update()
        .where(invitations.c.id == inv.id, invitations.c.accepted_at.is_(None))
        .values(accepted_at=utcnow())
    )
    if done.rowcount != 1:  # accepted twice at once
        raise NotFound("this invitation was used already")
    already = await uow.execute(
        sa.select(members.c.id).where(
            members.c.user_id == inv.user_id, members.c.workspace_id == inv.workspace_id
        )
    )
    if already.first() is None:
        await join(uow, inv.workspace_id, inv.user_id, Role(inv.role), email=inv.email)
        # Groups deleted since the invitation was sent are skipped.
        live = await uow.execute(
            sa.select(groups.c.id).where(
                groups.c.workspace_id == inv.workspace_id, groups.c.id.in_(inv.group_ids or [0])
            )
        )
        gids = sorted({int(r[0]) for r in live})
        if gids and inv.role != Role.customer.value:
            await uow.execute(group_members.insert(), [{"group_id": g, "user_id": inv.user_id} for g in gids])
    await audit.record(
        uow,
        "member.joined",
        workspace_id=inv.workspace_id,
        actor_user_id=inv.user_id,
        actor_email=inv.email,
        target_type="user",
        target_id=inv.user_id,
        detail={"invitation_id": inv.id, "role": inv.role},
    )
    return inv.user_id, inv.workspace_id


async def revoke_invitation(uow: UnitOfWork, actor: Principal, invitation_id: int) -> None:
    if not actor.is_admin:
        raise Forbidden("only an admin may withdraw invitations")
    done = await uow.execute(
        invitations.update()
        .where(
            invitations.c.id == invitation_id,
            invitations.c.workspace_id == actor.workspace_id,
            invitations.c.accepted_at.is_(None),
            invitations.c.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow())
    )
    if done.rowcount != 1:
        raise NotFound(f"invitation {invitation_id} not found")
    await audit.record(
        uow,
        "member.invitation_revoked",
        workspace_id=actor.workspace_id,
        actor=actor,
        target_type="invitation",
        target_id=invitation_id,
    )
