"""HTTP API of SLA policies. The rules are ``sla_policies.py``'s, shared with the admin pages."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response

from helpline.domains.automation import sla_policies
from helpline.domains.automation.schemas import (
    SlaPolicyCreate,
    SlaPolicyOrder,
    SlaPolicyRead,
    SlaPolicyUpdate,
)
from helpline.domains.automation.sla_policies import PolicyChanges
from helpline.platform.db import UnitOfWork
from helpline.web import idempotency
from helpline.web.deps import CurrentPrincipal, PlatformDep
from helpline.web.responses import JSON
from helpline.web.types import IdPath

router = APIRouter(tags=["sla-policies"])
IdemKey = Annotated[str | None, Header(alias="Idempotency-Key", description="Makes a retried POST safe")]


def _changes(body: SlaPolicyCreate | SlaPolicyUpdate) -> PolicyChanges:
    """The fields the client sent, as plain JSON values."""
    sent = body.model_dump(exclude_unset=True, exclude_none=True, mode="json")
    return PolicyChanges(**{k: sent[k] for k in PolicyChanges.__dataclass_fields__ if k in sent})


@router.get("/sla-policies", response_model=list[SlaPolicyRead], summary="SLA policies in match order")
async def list_policies(actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    async with platform.db.read() as conn:
        return JSON(await sla_policies.list_policies(conn, actor))


@router.post(
    "/sla-policies", status_code=201, response_model=SlaPolicyRead, summary="Create an SLA policy (admins)"
)
async def create_policy(
    body: SlaPolicyCreate,
    request: Request,
    actor: CurrentPrincipal,
    platform: PlatformDep,
    idempotency_key: IdemKey = None,
) -> Response:
    async def work(uow: UnitOfWork) -> tuple[int, Any, dict[str, str]]:
        data = body.model_dump(mode="json")
        changes = PolicyChanges(**{k: data[k] for k in PolicyChanges.__dataclass_fields__})
        policy_id = await sla_policies.do_create(uow, actor, changes)
        item = await sla_policies.access_policy(uow.conn, actor, policy_id)
        return 201, item, {"Location": f"/api/v1/sla-policies/{policy_id}"}

    return await idempotency.run(platform, actor, request, idempotency_key, work)


@router.post(
    "/sla-policies/order",
    response_model=list[SlaPolicyRead],
    summary="Set the order policies are matched in (admins)",
    description="`ids` lists every policy of the workspace exactly once, first match first. The "
    "fallback is matched last whatever its place.",
)
async def order_policies(body: SlaPolicyOrder, actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    async with platform.db.transaction() as uow:
        await sla_policies.do_reorder(uow, actor, body.ids)
        return JSON(await sla_policies.list_policies(uow.conn, actor))


@router.get("/sla-policies/{policy_id}", response_model=SlaPolicyRead, summary="One SLA policy")
async def get_policy(policy_id: IdPath, actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    async with platform.db.read() as conn:
        return JSON(await sla_policies.access_policy(conn, actor, policy_id))


@router.patch(
    "/sla-policies/{policy_id}", response_model=SlaPolicyRead, summary="Change an SLA policy (admins)"
)
async def update_policy(
    policy_id: IdPath, body: SlaPolicyUpdate, actor: CurrentPrincipal, platform: PlatformDep
) -> JSON:
    async with platform.db.transaction() as uow:
        await sla_policies.do_update(uow, actor, policy_id, _changes(body))
        return JSON(await sla_policies.access_policy(uow.conn, actor, policy_id))


@router.delete("/sla-policies/{policy_id}", status_code=204, summary="Delete an SLA policy (admins)")
async def delete_policy(policy_id: IdPath, actor: CurrentPrincipal, platform: PlatformDep) -> Response:
    async with platform.db.transaction() as uow:
        await sla_policies.do_delete(uow, actor, policy_id)
    return Response(status_code=204)
