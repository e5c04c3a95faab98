"""Changing a member: role, groups, name and deactivation, with every rule in one place."""

from __future__ import annotations

import sqlalchemy as sa

from helpline.db.base import utcnow
from helpline.domains.accounts import audit, queries
from helpline.domains.accounts.models import Role
from helpline.domains.accounts.principal import Principal
from helpline.domains.accounts.service._common import (
    belongs_only_to,
    group_members,
    groups,
    members,
    tokens,
    users,
)
from helpline.domains.accounts.service._signin import end_sessions
from helpline.errors import Forbidden, Invalid, NotFound
from helpline.platform.db import UnitOfWork

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


async def _is_active_admin(uow: UnitOfWork, user_id: int, workspace_id: int) -> bool:
    row = (
        await uow.execute(
            sa.select(members.c.role)
            .join(users, users.c.id == members.c.user_id)
            .where(
                members.c.user_id == user_id,
                members.c.workspace_id == workspace_id,
                members.c.is_active.is_(True),
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

    Everything here is the membership in the actor's workspace (docs/adr/0011-accounts-and-sign-in.md),
    except the name, which belongs to the person: an admin may change it only while the person belongs
    to this workspace alone. ``group_ids`` replaces the person's groups in this workspace. Deactivating
    ends the person's web sessions and API tokens *of this workspace* (their other workspaces are not
    this admin's to touch), and reactivating brings none of them back; the principal cache forgets them
    when this commits (``web.principal_cache.PRINCIPAL_TABLES``). The actor never deactivates or demotes
    themself, so a workspace always keeps an active admin; on PostgreSQL such changes wait for each
    other per workspace, so two admins demoting each other at once cannot both succeed.
    """
    if not actor.is_admin:  # before reading anything
        raise Forbidden("only an admin may change people")
    current = await queries.access_user(uow.conn, actor, user_id)  # not theirs: 404 before any lock
    ws = actor.workspace_id
    role_changes = role is not None and role.value != current.role
    if role_changes or (is_active is False and current.is_active):
        if uow.dialect == "postgresql":
            await uow.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADMINS_LOCK + ws})
            current = await queries.access_user(uow.conn, actor, user_id)  # as it is now
            role_changes = role is not None and role.value != current.role
        # The actor's own principal may be older than a change that took their admin role away.
        if not await _is_active_admin(uow, actor.user_id, ws):
            raise Forbidden("only an admin may change people")
    check_member_update(actor, current, role=role, is_active=is_active, group_ids=group_ids)
    changed: dict[str, object] = {}
    if name is not None and name != current.name:
        if not await belongs_only_to(uow, user_id, ws):
            raise Invalid(
                "name",
                "this person also belongs to another workspace, so their name is theirs to change "
                "(on their profile page)",
            )
        await uow.execute(users.update().where(users.c.id == user_id).values(name=name))
        changed["name"] = True
    if role is not None and role_changes:
        await uow.execute(
            members.update()
            .where(members.c.user_id == user_id, members.c.workspace_id == ws)
            .values(role=role.value)
        )
        changed["role"] = {"from": current.role, "to": role.value}
    if group_ids is not None:
        wanted = sorted(set(group_ids))
        await check_groups(uow, ws, wanted)
        ws_groups = sa.select(groups.c.id).where(groups.c.workspace_id == ws)
        before = {
            int(r[0])
            for r in await uow.execute(
                sa.select(group_members.c.group_id).where(
                    group_members.c.user_id == user_id,
                    group_members.c.group_id.in_(ws_groups.scalar_subquery()),
                )
            )
        }
        await uow.execute(
            group_members.delete().where(
                group_members.c.user_id == user_id, group_members.c.group_id.in_(ws_groups.scalar_subquery())
            )
        )
        if wanted:
            await uow.execute(group_members.insert(), [{"group_id": g, "user_id": user_id} for g in wanted])
        if before != set(wanted):
            changed["group_ids"] = {"from": sorted(before), "to": wanted}
    if is_active is not None and is_active != current.is_active:
        await uow.execute(
            members.update()
            .where(members.c.user_id == user_id, members.c.workspace_id == ws)
            .values(is_active=is_active)
        )
        # Both ways: what a person had here before a deactivation never works again (sessions and
        # tokens from before this rule included), and an unchanged save touches nothing.
        await end_sessions(uow, user_id, workspace_id=ws)
        await uow.execute(
            tokens.update()
            .where(tokens.c.user_id == user_id, tokens.c.workspace_id == ws, tokens.c.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        changed["is_active"] = is_active
    if changed:
        await audit.record(
            uow,
            "member.updated",
            workspace_id=ws,
            actor=actor,
            target_type="user",
            target_id=user_id,
            detail=changed,
        )


async def check_groups(uow: UnitOfWork, workspace_id: int, group_ids: list[int]) -> None:
    """Every id names a group of this workspace (404 naming the first that does not)."""
    if not group_ids:
        return
    found = {
        int(r[0])
        for r in await uow.execute(
            sa.select(groups.c.id).where(groups.c.workspace_id == workspace_id, groups.c.id.in_(group_ids))
        )
    }
    if missing := [g for g in group_ids if g not in found]:
        raise NotFound(f"group {missing[0]} not found")
