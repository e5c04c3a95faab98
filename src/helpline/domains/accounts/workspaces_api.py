"""HTTP API of the instance operator: workspaces (``/api/v1/workspaces``). Everyone else gets 403."""

from __future__ import annotations

from fastapi import APIRouter

from helpline.domains.accounts import service
from helpline.domains.accounts.schemas import (
    WorkspaceCreate,
    WorkspaceCreated,
    WorkspaceRead,
    WorkspaceUpdate,
)
from helpline.web.deps import CurrentPrincipal, PlatformDep
from helpline.web.responses import JSON
from helpline.web.types import IdPath

router = APIRouter(tags=["workspaces"])


async def _one(platform: PlatformDep, workspace_id: int) -> dict[str, object]:
    async with platform.db.read() as conn:
        rows = [w for w in await service.list_workspaces(conn) if w["id"] == workspace_id]
    return rows[0]


@router.get("/workspaces", response_model=list[WorkspaceRead], summary="Every workspace (instance operator)")
async def list_all(actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    service.require_operator(actor)
    async with platform.db.read() as conn:
        return JSON(await service.list_workspaces(conn))


@router.post(
    "/workspaces",
    status_code=201,
    response_model=WorkspaceCreated,
    summary="Create a workspace (instance operator)",
)
async def create(body: WorkspaceCreate, actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    service.require_operator(actor)
    async with platform.db.transaction() as uow:
        ws, admin_id, invited = await service.do_create_workspace(
            uow,
            actor,
            name=body.name,
            slug=body.slug,
            admin_email=str(body.admin_email) if body.admin_email else None,
            admin_name=body.admin_name,
            admin_password=body.admin_password,
            base_url=platform.settings.base_url,
        )
    item = await _one(platform, ws)
    return JSON({**item, "admin_user_id": admin_id, "admin_invited": invited}, status_code=201)


@router.patch(
    "/workspaces/{workspace_id}", response_model=WorkspaceRead, summary="Disable or enable a workspace"
)
async def update(
    workspace_id: IdPath, body: WorkspaceUpdate, actor: CurrentPrincipal, platform: PlatformDep
) -> JSON:
    service.require_operator(actor)
    async with platform.db.transaction() as uow:
        await service.set_workspace_disabled(uow, actor, workspace_id, body.disabled)
    return JSON(await _one(platform, workspace_id))
