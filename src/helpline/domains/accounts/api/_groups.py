"""Groups (teams) of agents."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Response
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.domains.accounts import audit, queries, service
from helpline.domains.accounts.api._common import group_members, groups
from helpline.domains.accounts.schemas import GroupCreate, GroupRead, GroupUpdate
from helpline.errors import Invalid
from helpline.web.deps import CurrentPrincipal, PlatformDep
from helpline.web.responses import JSON
from helpline.web.types import IdPath

router = APIRouter(tags=["accounts"])


async def _group_detail(conn: AsyncConnection, row: Any) -> dict[str, Any]:
    ids = [
        r[0]
        for r in await conn.execute(
            sa.select(group_members.c.user_id)
            .where(group_members.c.group_id == row.id)
            .order_by(group_members.c.user_id)
        )
    ]
    return {"id": row.id, "name": row.name, "description": row.description, "member_ids": ids}


@router.get("/groups", response_model=list[GroupRead], summary="Groups (teams) of agents")
async def list_groups(actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    queries.require_staff(actor)
    async with platform.db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(groups).where(groups.c.workspace_id == actor.workspace_id).order_by(groups.c.name)
            )
        ).all()
        return JSON([await _group_detail(conn, r) for r in rows])


@router.post("/groups", status_code=201, response_model=GroupRead, summary="Create a group (admins)")
async def create_group(body: GroupCreate, actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    queries.require_admin(actor)
    async with platform.db.transaction() as uow:
        gid = await service.create_group(uow, actor.workspace_id, body.name, body.description)
        await service.set_group_members(uow, actor.workspace_id, gid, body.member_ids)
        item = await _group_detail(uow.conn, await queries.access_group(uow.conn, actor, gid))
        await audit.record(
            uow,
            "group.created",
            workspace_id=actor.workspace_id,
            actor=actor,
            target_type="group",
            target_id=gid,
            detail={"member_ids": item["member_ids"]},
        )
    return JSON(item, status_code=201)


@router.get("/groups/{group_id}", response_model=GroupRead, summary="One group")
async def get_group(group_id: IdPath, actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    async with platform.db.read() as conn:
        return JSON(await _group_detail(conn, await queries.access_group(conn, actor, group_id)))


@router.patch(
    "/groups/{group_id}", response_model=GroupRead, summary="Rename a group or set its members (admins)"
)
async def update_group(
    group_id: IdPath, body: GroupUpdate, actor: CurrentPrincipal, platform: PlatformDep
) -> JSON:
    queries.require_admin(actor)
    async with platform.db.transaction() as uow:
        row = await queries.access_group(uow.conn, actor, group_id)
        changes = body.model_dump(exclude_unset=True, exclude={"member_ids"})
        if changes.get("name") and changes["name"] != row.name:
            dup = (
                await uow.execute(
                    sa.select(groups.c.id).where(
                        groups.c.workspace_id == actor.workspace_id, groups.c.name == changes["name"]
                    )
                )
            ).first()
            if dup:
                raise Invalid("name", "another group has that name")
        changes = {k: v for k, v in changes.items() if v is not None}
        if changes:
            await uow.execute(groups.update().where(groups.c.id == group_id).values(**changes))
        before = await _group_detail(uow.conn, row)
        if body.member_ids is not None:
            await service.set_group_members(uow, actor.workspace_id, group_id, body.member_ids)
        item = await _group_detail(uow.conn, await queries.access_group(uow.conn, actor, group_id))
        await audit.record(
            uow,
            "group.updated",
            workspace_id=actor.workspace_id,
            actor=actor,
            target_type="group",
            target_id=group_id,
            detail={
                "name": item["name"],
                "member_ids": {"from": before["member_ids"], "to": item["member_ids"]},
            },
        )
    return JSON(item)


@router.delete(
    "/groups/{group_id}", status_code=204, summary="Delete a group; its tickets lose their group (admins)"
)
async def delete_group(group_id: IdPath, actor: CurrentPrincipal, platform: PlatformDep) -> Response:
    queries.require_admin(actor)
    async with platform.db.transaction() as uow:
        await queries.access_group(uow.conn, actor, group_id)
        await uow.execute(groups.delete().where(groups.c.id == group_id))
        await audit.record(
            uow,
            "group.deleted",
            workspace_id=actor.workspace_id,
            actor=actor,
            target_type="group",
            target_id=group_id,
        )
    return Response(status_code=204)
