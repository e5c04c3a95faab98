"""What every admin page shares: the router, the admin-only dependency, form helpers and scoped
reads."""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.db.base import utcnow
from helpline.domains.accounts.models import ApiToken, Group, GroupMember, Invitation, Membership, Role, User
from helpline.domains.accounts.principal import Principal
from helpline.errors import Forbidden, NotFound
from helpline.types import MAX_ID
from helpline.web.pages import StaffPage

router = APIRouter(include_in_schema=False)
users: sa.Table = User.__table__
members: sa.Table = Membership.__table__
groups: sa.Table = Group.__table__
group_members: sa.Table = GroupMember.__table__
tokens: sa.Table = ApiToken.__table__

STAFF_ROLES = [
    (Role.admin.value, "Admin"),
    (Role.agent.value, "Agent"),
    (Role.light_agent.value, "Light agent"),
]
#: Messages shown after a redirect, by key (never text from the query string).
FLASHES = {
    "saved": "Saved.",
    "created": "Created.",
    "revoked": "The token is revoked; it no longer works.",
    "deleted": "Deleted.",
    "logo": "The logo is saved.",
    "logo_removed": "The logo is removed.",
    "renamed": "Renamed.",
    "invited": "That person already has an account, so they were emailed an invitation. They join "
    "when they accept it.",
    "withdrawn": "The invitation is withdrawn.",
}


async def admin_page(actor: StaffPage) -> Principal:
    """A signed-in admin; other staff get a 403 page (customers were already sent to sign in)."""
    if not actor.is_admin:
        raise Forbidden(
            "Only admins can open the admin pages. Ask an admin of this workspace if you need a change."
        )
    return actor


AdminPage = Annotated[Principal, Depends(admin_page)]


def ids_in(form: dict[str, Any], key: str) -> list[int]:
    raw = form.get(key, [])
    values = raw if isinstance(raw, list) else [raw]
    return sorted({int(v) for v in values if isinstance(v, str) and v.isdigit() and 0 < int(v) <= MAX_ID})


# --- reads -----------------------------------------------------------------------------------------


async def workspace_groups(conn: AsyncConnection, actor: Principal) -> list[dict[str, Any]]:
    """The workspace's groups by name, each with its member user ids."""
    rows = (
        (
            await conn.execute(
                sa.select(groups.c.id, groups.c.name, groups.c.description)
                .where(groups.c.workspace_id == actor.workspace_id)
                .order_by(groups.c.name)
            )
        )
        .mappings()
        .all()
    )
    by_group: dict[int, list[int]] = {r["id"]: [] for r in rows}
    if by_group:
        for gid, uid in await conn.execute(
            sa.select(group_members.c.group_id, group_members.c.user_id).where(
                group_members.c.group_id.in_(list(by_group))
            )
        ):
            by_group[gid].append(uid)  # type: ignore[index,arg-type]
    return [{**dict(r), "member_ids": sorted(by_group[r["id"]])} for r in rows]


async def workspace_people(
    conn: AsyncConnection, actor: Principal, *, staff_only: bool = False
) -> list[dict[str, Any]]:
    """Members of the actor's workspace (never another's), staff first, with their group ids."""
    stmt = (
        sa.select(
            users.c.id,
            users.c.email,
            users.c.name,
            members.c.is_active,
            users.c.totp_enabled,
            members.c.role,
            users.c.created_at,
        )
        .join(members, members.c.user_id == users.c.id)
        .where(members.c.workspace_id == actor.workspace_id)
    )
    if staff_only:
        stmt = stmt.where(members.c.role != Role.customer.value)
    rows = (await conn.execute(stmt.order_by(users.c.name, users.c.id).limit(2000))).mappings().all()
    gids: dict[int, list[int]] = {r["id"]: [] for r in rows}
    if gids:
        for uid, gid in await conn.execute(
            sa.select(group_members.c.user_id, group_members.c.group_id)
            .join(groups, groups.c.id == group_members.c.group_id)
            .where(groups.c.workspace_id == actor.workspace_id, group_members.c.user_id.in_(list(gids)))
        ):
            gids[uid].append(gid)  # type: ignore[index,arg-type]
    order = {Role.admin.value: 0, Role.agent.value: 1, Role.light_agent.value: 2, Role.customer.value: 3}
    out = [{**dict(r), "group_ids": sorted(gids[r["id"]])} for r in rows]
    return sorted(out, key=lambda p: order.get(p["role"], 9))


async def access_member(conn: AsyncConnection, actor: Principal, user_id: int) -> dict[str, Any]:
    row = (
        (
            await conn.execute(
                sa.select(users.c.id, users.c.email, users.c.name, members.c.is_active, members.c.role)
                .join(members, members.c.user_id == users.c.id)
                .where(users.c.id == user_id, members.c.workspace_id == actor.workspace_id)
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"user {user_id} not found")
    return dict(row)


async def access_group(conn: AsyncConnection, actor: Principal, group_id: int) -> dict[str, Any]:
    row = (
        (
            await conn.execute(
                sa.select(groups).where(groups.c.id == group_id, groups.c.workspace_id == actor.workspace_id)
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"group {group_id} not found")
    return dict(row)


async def open_invitations(conn: AsyncConnection, actor: Principal) -> list[dict[str, Any]]:
    """Invitations of the actor's workspace still waiting for an answer."""
    inv = Invitation.__table__
    rows = await conn.execute(
        sa.select(inv.c.id, inv.c.role, inv.c.created_at, inv.c.expires_at, users.c.email)
        .join(users, users.c.id == inv.c.user_id)
        .where(
            inv.c.workspace_id == actor.workspace_id,
            inv.c.accepted_at.is_(None),
            inv.c.revoked_at.is_(None),
            inv.c.expires_at > utcnow(),
        )
        .order_by(inv.c.id.desc())
    )
    return [dict(r) for r in rows.mappings()]
