"""Workspaces, groups, people (users and their memberships) and API tokens."""

from __future__ import annotations

import re
from datetime import datetime

import sqlalchemy as sa

from helpline.db.base import utcnow
from helpline.domains.accounts import security
from helpline.domains.accounts.models import Role
from helpline.domains.accounts.service._common import (
    DEFAULT_WORKSPACE,
    check_password,
    group_members,
    groups,
    members,
    normalise_email,
    ticket_sequence,
    tokens,
    users,
    workspaces,
)
from helpline.domains.customers import service as customers
from helpline.errors import Conflict, Invalid, NotFound
from helpline.platform.db import UnitOfWork


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
    password_by_admin: bool = False,
) -> int:
    """Add a person to a workspace with a role (the demo, the operator's CLI, tests, a customer's own
    portal sign-up). A new email gets a new account; an existing account is made a member but never
    changed: giving a password for it is refused, since a workspace must not set what another one
    signs in with (admins add people through :func:`add_member`, which invites existing accounts).

    A customer membership is tied to the contact with the same email (created if needed), so the
    tickets that contact requests are theirs.
    """
    email = normalise_email(email)
    if password is not None:
        check_password(password)
    existing = (await uow.execute(sa.select(users.c.id).where(users.c.email == email))).first()
    if existing:
        user_id = int(existing[0])
        if await _is_member(uow, user_id, workspace_id):
            raise Conflict(
                f"{email} is already a member of this workspace",
                errors=[{"field": "email", "message": "already a member"}],
            )
        if password is not None:
            raise Conflict(
                f"{email} already has an account with its own password; invite them instead",
                errors=[{"field": "password", "message": "this person already has a password"}],
            )
    else:
        user_id = await _new_user(uow, email, name, password, password_by_admin=password_by_admin)
    await join(uow, workspace_id, user_id, role, email=email, name=name)
    for group_name in group_names or []:
        if role is Role.customer:
            raise Invalid("group", "customers do not belong to groups")
        gid = await group_id_for(uow, workspace_id, group_name, create=create_groups)
        await uow.execute(group_members.insert().values(group_id=gid, user_id=user_id))
    return user_id


async def _is_member(uow: UnitOfWork, user_id: int, workspace_id: int) -> bool:
    row = await uow.execute(
        sa.select(members.c.id).where(members.c.user_id == user_id, members.c.workspace_id == workspace_id)
    )
    return row.first() is not None


async def _new_user(
    uow: UnitOfWork, email: str, name: str, password: str | None, *, password_by_admin: bool
) -> int:
    return int(
        (
            await uow.execute(
                users.insert()
                .values(
                    email=email,
                    name=name or email.split("@")[0],
                    password_hash=security.hash_password(password) if password else None,
                    password_by_admin=bool(password) and password_by_admin,
                    totp_enabled=False,
                    is_active=True,
                    is_operator=False,
                    created_at=utcnow(),
                )
                .returning(users.c.id)
            )
        ).scalar_one()
    )


async def join(
    uow: UnitOfWork, workspace_id: int, user_id: int, role: Role, *, email: str, name: str = ""
) -> None:
    """The membership row itself (a customer's tied to their contact)."""
    contact_id = None
    if role is Role.customer:
        contact_id = await customers.find_or_create_contact(uow, workspace_id, email=email, name=name)
    await uow.execute(
        members.insert().values(
            workspace_id=workspace_id,
            user_id=user_id,
            role=role.value,
            contact_id=contact_id,
            is_active=True,
            created_at=utcnow(),
        )
    )


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
