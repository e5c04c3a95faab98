"""Members of the workspace and the invitations that bring existing accounts into it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query, Response
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.domains.accounts import queries, service
from helpline.domains.accounts.api._common import group_members, groups, invitations, members, users
from helpline.domains.accounts.models import Role
from helpline.domains.accounts.schemas import (
    InvitationRead,
    Invited,
    UserCreate,
    UserPage,
    UserRead,
    UserUpdate,
)
from helpline.errors import NotFound
from helpline.web.deps import CurrentPrincipal, PlatformDep
from helpline.web.responses import JSON
from helpline.web.types import IdPath

router = APIRouter(tags=["accounts"])


async def _groups_of(conn: AsyncConnection, ws: int, user_ids: list[int]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {u: [] for u in user_ids}
    if user_ids:
        rows = await conn.execute(
            sa.select(group_members.c.user_id, group_members.c.group_id)
            .join(groups, groups.c.id == group_members.c.group_id)
            .where(groups.c.workspace_id == ws, group_members.c.user_id.in_(user_ids))
            .order_by(group_members.c.group_id)
        )
        for row in rows:
            out[row.user_id].append(row.group_id)
    return out


_USER_COLS = (
    users.c.id,
    users.c.email,
    users.c.name,
    members.c.role,
    members.c.is_active,
    users.c.totp_enabled,
    members.c.contact_id,
    users.c.created_at,
)


async def _render_users(
    conn: AsyncConnection, ws: int, rows: Sequence[sa.Row[*tuple[Any, ...]]]
) -> list[dict[str, Any]]:
    gmap = await _groups_of(conn, ws, [r.id for r in rows])
    return [{**dict(r._mapping), "group_ids": gmap[r.id]} for r in rows]


@router.get("/users", response_model=UserPage, summary="Members of this workspace")
async def list_users(
    actor: CurrentPrincipal,
    platform: PlatformDep,
    role: Annotated[Role | None, Query()] = None,
    cursor: Annotated[str | None, Query(pattern=r"^\d{1,18}$")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> JSON:
    queries.require_staff(actor)
    stmt = (
        sa.select(*_USER_COLS)
        .join(members, members.c.user_id == users.c.id)
        .where(members.c.workspace_id == actor.workspace_id)
    )
    if role is not None:
        stmt = stmt.where(members.c.role == role.value)
    if cursor:
        stmt = stmt.where(users.c.id > int(cursor))
    async with platform.db.read() as conn:
        rows = (await conn.execute(stmt.order_by(users.c.id).limit(limit + 1))).all()
        items = await _render_users(conn, actor.workspace_id, rows[:limit])
    return JSON({"items": items, "next_cursor": str(rows[limit - 1].id) if len(rows) > limit else None})


async def _user_detail(conn: AsyncConnection, ws: int, user_id: IdPath) -> dict[str, Any]:
    rows = (
        await conn.execute(
            sa.select(*_USER_COLS)
            .join(members, members.c.user_id == users.c.id)
            .where(users.c.id == user_id, members.c.workspace_id == ws)
        )
    ).all()
    if not rows:
        raise NotFound(f"user {user_id} not found")
    return (await _render_users(conn, ws, rows))[0]


@router.post(
    "/users",
    status_code=201,
    response_model=UserRead,
    summary="Add a person (admins); someone who already has an account is invited instead",
    responses={202: {"model": Invited, "description": "The email has an account: an invitation was mailed"}},
)
async def create_user(body: UserCreate, actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    """A new email becomes a new account in this workspace, with `password` if given (the person must
    choose their own before joining another workspace). An email that already has an account is
    never changed (`password` and `name` are ignored): the person is mailed an invitation that they
    accept signed in as themselves, and the answer is 202."""
    queries.require_admin(actor)
    async with platform.db.transaction() as uow:
        added = await service.add_member(
            uow,
            actor,
            email=str(body.email),
            role=body.role,
            name=body.name,
            password=body.password,
            group_ids=list(body.group_ids),
            base_url=platform.settings.base_url,
        )
        if added.invitation_id is not None:
            return JSON(
                {
                    "status": "invited",
                    "user_id": added.user_id,
                    "email": service.normalise_email(str(body.email)),
                    "role": body.role.value,
                    "invitation_id": added.invitation_id,
                },
                status_code=202,
            )
        item = await _user_detail(uow.conn, actor.workspace_id, added.user_id)
    return JSON(item, status_code=201, headers={"Location": f"/api/v1/users/{added.user_id}"})


@router.get("/invitations", response_model=list[InvitationRead], summary="Open invitations (admins)")
async def list_invitations(actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    queries.require_admin(actor)
    async with platform.db.read() as conn:
        rows = await conn.execute(
            sa.select(
                invitations.c.id,
                invitations.c.user_id,
                users.c.email,
                invitations.c.role,
                invitations.c.group_ids,
                invitations.c.created_at,
                invitations.c.expires_at,
            )
            .join(users, users.c.id == invitations.c.user_id)
            .where(
                invitations.c.workspace_id == actor.workspace_id,
                invitations.c.accepted_at.is_(None),
                invitations.c.revoked_at.is_(None),
            )
            .order_by(invitations.c.id)
        )
        return JSON([dict(r) for r in rows.mappings()])


@router.delete("/invitations/{invitation_id}", status_code=204, summary="Withdraw an invitation (admins)")
async def revoke_invitation(
    invitation_id: IdPath, actor: CurrentPrincipal, platform: PlatformDep
) -> Response:
    async with platform.db.transaction() as uow:
        await service.revoke_invitation(uow, actor, invitation_id)
    return Response(status_code=204)


@router.get("/users/{user_id}", response_model=UserRead, summary="One member")
async def get_user(user_id: IdPath, actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    async with platform.db.read() as conn:
        await queries.access_user(conn, actor, user_id)
        return JSON(await _user_detail(conn, actor.workspace_id, user_id))


@router.patch("/users/{user_id}", response_model=UserRead, summary="Change a member (admins)")
async def update_user(
    user_id: IdPath, body: UserUpdate, actor: CurrentPrincipal, platform: PlatformDep
) -> JSON:
    """Role, groups and `is_active` are the person's membership in this workspace: deactivating ends
    their sessions and revokes their API tokens here, and nowhere else. `name` belongs to the person:
    it can be changed here only while they belong to this workspace alone (422 otherwise);
    `group_ids` replaces their groups."""
    async with platform.db.transaction() as uow:
        await service.do_update_member(
            uow,
            actor,
            user_id,
            name=body.name,
            role=body.role,
            is_active=body.is_active,
            group_ids=body.group_ids,
        )
        item = await _user_detail(uow.conn, actor.workspace_id, user_id)
    return JSON(item)
