"""HTTP API of outbound webhooks (admins only; agents and customers get 403, another workspace's
target 404). The rules are ``service.py``'s, shared with the admin pages; guide: docs/webhooks.md."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from helpline.domains.webhooks import queries, service
from helpline.domains.webhooks.schemas import (
    DeliveryPage,
    DeliveryRead,
    WebhookCreate,
    WebhookCreated,
    WebhookRead,
    WebhookSecret,
    WebhookUpdate,
)
from helpline.domains.webhooks.service import TargetChanges
from helpline.types import Id
from helpline.web.deps import CurrentPrincipal, PlatformDep
from helpline.web.responses import JSON
from helpline.web.types import IdPath

router = APIRouter(tags=["webhooks"])


def _changes(body: WebhookCreate | WebhookUpdate) -> TargetChanges:
    sent = body.model_dump(exclude_unset=True, exclude_none=True)
    return TargetChanges(**{k: sent[k] for k in TargetChanges.__dataclass_fields__ if k in sent})


@router.get("/webhooks", response_model=list[WebhookRead], summary="Webhook targets (admins)")
async def list_webhooks(actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    async with platform.db.read() as conn:
        return JSON(await queries.list_targets(conn, actor))


@router.post(
    "/webhooks",
    status_code=201,
    response_model=WebhookCreated,
    summary="Add a webhook target (admins)",
    description="The answer holds the signing secret (`whsec_…`): it is shown this once.",
)
async def create_webhook(body: WebhookCreate, actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    async with platform.db.transaction() as uow:
        target_id, secret = await service.do_create(uow, actor, _changes(body))
        item = await queries.access_target(uow.conn, actor, target_id)
    return JSON(
        {**item, "secret": secret}, status_code=201, headers={"Location": f"/api/v1/webhooks/{target_id}"}
    )


@router.get("/webhooks/{webhook_id}", response_model=WebhookRead, summary="One webhook target (admins)")
async def get_webhook(webhook_id: IdPath, actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    async with platform.db.read() as conn:
        return JSON(await queries.access_target(conn, actor, webhook_id))


@router.patch(
    "/webhooks/{webhook_id}",
    response_model=WebhookRead,
    summary="Change a webhook target (admins)",
    description="`enabled: true` re-enables a disabled target and clears its failure count.",
)
async def update_webhook(
    webhook_id: IdPath, body: WebhookUpdate, actor: CurrentPrincipal, platform: PlatformDep
) -> JSON:
    async with platform.db.transaction() as uow:
        await service.do_update(uow, actor, webhook_id, _changes(body))
        return JSON(await queries.access_target(uow.conn, actor, webhook_id))


@router.delete("/webhooks/{webhook_id}", status_code=204, summary="Delete a webhook target (admins)")
async def delete_webhook(webhook_id: IdPath, actor: CurrentPrincipal, platform: PlatformDep) -> Response:
    async with platform.db.transaction() as uow:
        await service.do_delete(uow, actor, webhook_id)
    return Response(status_code=204)


@router.post(
    "/webhooks/{webhook_id}/rotate-secret",
    response_model=WebhookSecret,
    summary="Replace the signing secret (admins)",
    description="The old secret stops signing at once; the new one is shown this once.",
)
async def rotate_secret(webhook_id: IdPath, actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    async with platform.db.transaction() as uow:
        secret = await service.do_rotate(uow, actor, webhook_id)
    return JSON({"id": webhook_id, "secret": secret, "secret_hint": queries.secret_hint(secret)})


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    response_model=DeliveryPage,
    summary="A target's delivery log, newest first (admins)",
)
async def list_deliveries(
    webhook_id: IdPath,
    actor: CurrentPrincipal,
    platform: PlatformDep,
    limit: Annotated[int, Query(ge=1, le=queries.PAGE_MAX)] = 50,
    before: Annotated[Id | None, Query(description="`next_before` of the previous page")] = None,
) -> JSON:
    async with platform.db.read() as conn:
        return JSON(await queries.list_deliveries(conn, actor, webhook_id, limit=limit, before=before))


@router.post(
    "/webhooks/{webhook_id}/test",
    status_code=202,
    response_model=DeliveryRead,
    summary="Send a `webhook.test` event to the target (admins)",
)
async def test_webhook(webhook_id: IdPath, actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    async with platform.db.transaction() as uow:
        delivery_id = await service.do_test(uow, actor, webhook_id)
        page = await queries.list_deliveries(uow.conn, actor, webhook_id, limit=1, before=delivery_id + 1)
    return JSON(page["items"][0], status_code=202)
