"""Changing a member: role, groups, name and deactivation, with every rule in one place."""

from __future__ import annotations

import sqlalchemy as sa

from helpline.db.base import utcnow
from helpline.domains.accounts import queries
from helpline.domains.accounts.models import Role
from helpline.domains.accounts.service._common import (
    group_members,
    groups,
    members,
    tokens,
    users,
)
from helpline.domains.accounts.service._signin import end_sessions
from helpline.platform.db import UnitOfWork
from helpline.web.errors import Forbidden, Invalid, NotFound
from helpline.web.principal import Principal

#: Advisory-lock keys (PostgreSQL) per workspace: member changes that could remove an admin queue here.
_ADMINS_LOCK = 0x41_444D_4E00_0000


def check_member_update(
    actor: Principal,
    current: sa.Row[tuple[object, ...]],
    *,
    role: Role | None,
    is_active: bool | None,
    group_ids: list[int] | None,
) -> None:
    """The rules of changing a member: admins only; nobody changes their own role or deactivates
    themself; a customer sign-in never becomes staff, nor the reverse; customers have no groups."""
    if not actor.is_admin:
        raise Forbidden("only an admin may change people")
    old = Role(str(current.role))
    if role is not None and role is not old:
        if Role.customer in (role, old):
            raise Invalid("role", "a customer cannot become staff or the reverse; create a new sign-in")
        if current.id == actor.user_id:
            raise Invalid("role", "you cannot change your own role")
    if is_active is False and current.id == actor.user_id:
        raise Invalid("is_active", "you cannot deactivate yourself")
    if group_ids is not None and old is Role.customer:
        raise Invalid("group_ids", "customers do not belong to groups")


async def _check_admins_remain(uow: UnitOfWork, user_id: int, ws_ids: list[int], field: str) -> None:
    """Refuse a change that leaves one of ``ws_ids`` where ``user_id`` is an admin without another
    active admin (their own workspace, or another one a deactivation reaches: a user is one account)."""
    admin = Role.admin.value
    theirs = await uow.execute(
        sa.select(members.c.workspace_id).where(
            members.c.user_id == user_id, members.c.workspace_id.in_(ws_ids), members.c.role == admin
        )
    )
    needed = {int(r[0]) for r in theirs}
    if not needed:
        return
    covered = await uow.execute(
        sa.select(members.c.workspace_id)
        .join(users, users.c.id == members.c.user_id)
        .where(
            members.c.workspace_id.in_(needed),
            members.c.role == admin,
            members.c.user_id != user_id,
            users.c.is_active.is_(True),
        )
        .distinct()
    )
    if needed - {int(r[0]) for r in covered}:
        raise Invalid(
            field, "a workspace would be left without an active admin; make someone else admin first"
        )


async def _is_active_admin(uow: UnitOfWork, user_id: int, workspace_id: int) -> bool:
    row = (
        await uow.execute(
            sa.select(members.c.role)
            .join(users, users.c.id == members.c.user_id)
            .where(
                members.c.user_id == user_id,
                members.c.workspace_id == workspace_id,
                users.c.is_active.is_(True),
            )
        )
    ).first()
    return row is not None and row[0] == Role.admin.value


async def do_update_member(
    uow: UnitOfWork,
    actor: Principal,
    user_id: int,
    *,
    name: str | None = None,
    role: Role | None = None,
    is_active: bool | None = None,
    group_ids: list[int] | None = None,
) -> None:
    """Change a member of the actor's workspace; ``None`` leaves that part as it is. The one write
    behind the users API's PATCH and the admin page's person form (:func:`check_member_update`).

    ``group_ids`` replaces the person's groups in this workspace. Deactivating ends every web session
    and revokes every API token of the person (a user is one account, so in every workspace), and
    reactivating brings none of them back; the principal cache forgets them when this commits
    (``web.deps.PRINCIPAL_TABLES``). No workspace is left without an active admin: on PostgreSQL
    changes that could remove one wait for each other per workspace, so two admins demoting each
    other at once cannot both succeed (on SQLite writes are serial anyway).
    """
    if not actor.is_admin:  # before reading anything
        raise Forbidden("only an admin may change people")
    current = await queries.access_user(uow.conn, actor, user_id)  # not theirs: 404 before any lock
    ws_ids = [actor.workspace_id]
    if is_active is False and current.is_active:  # one account: deactivation reaches every workspace
        theirs = await uow.execute(sa.select(members.c.workspace_id).where(members.c.user_id == user_id))
        ws_ids = sorted({actor.workspace_id, *(int(r[0]) for r in theirs)})
    role_changes = role is not None and role.value != current.role
    if role_changes or (is_active is False and current.is_active):
        if uow.dialect == "postgresql":
            for ws in ws_ids:  # in ascending order everywhere, so two such changes never deadlock
                await uow.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADMINS_LOCK + ws})
            current = await queries.access_user(uow.conn, actor, user_id)  # as it is now
            role_changes = role is not None and role.value != current.role
        # The actor's own principal may be older than a change that took their admin role away.
        if not await _is_active_admin(uow, actor.user_id, actor.workspace_id):
            raise Forbidden("only an admin may change people")
    check_member_update(actor, current, role=role, is_active=is_active, group_ids=group_ids)
    if is_active is False and current.is_active:
        # Here the actor stays an admin (checked above); another workspace of the person's might not.
        await _check_admins_remain(uow, user_id, ws_ids, "is_active")
    if name is not None:
        await uow.execute(users.update().where(users.c.id == user_id).values(name=name))
    if role is not None and role_changes:
        await uow.execute(
            members.update()
            .where(members.c.user_id == user_id, members.c.workspace_id == actor.workspace_id)
            .values(role=role.value)
        )
    if group_ids is not None:
        wanted = sorted(set(group_ids))
        found = {
            int(r[0])
            for r in await uow.execute(
                sa.select(groups.c.id).where(
                    groups.c.workspace_id == actor.workspace_id, groups.c.id.in_(wanted)
                )
            )
        }
        if missing := [g for g in wanted if g not in found]:
            raise NotFound(f"group {missing[0]} not found")
        ws_groups = sa.select(groups.c.id).where(groups.c.workspace_id == actor.workspace_id)
        await uow.execute(
            group_members.delete().where(
                group_members.c.user_id == user_id, group_members.c.group_id.in_(ws_groups.scalar_subquery())
            )
        )
        if wanted:
            await uow.execute(group_members.insert(), [{"group_id": g, "user_id": user_id} for g in wanted])
    if is_active is not None and is_active != current.is_active:
        await uow.execute(users.update().where(users.c.id == user_id).values(is_active=is_active))
        # Both ways: what a person had before a deactivation never works again (sessions and
        # tokens from before this rule included), and an unchanged save touches nothing.
        await end_sessions(uow, user_id)
        await uow.execute(
            tokens.update()
            .where(tokens.c.user_id == user_id, tokens.c.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
