"""Admin pages of outbound webhooks: ``/admin/webhooks`` (targets with their state and last
delivery, and the form to add one) and ``/admin/webhooks/{id}`` (edit, delivery log, enable or
disable, rotate the secret, send a test, delete). Admins only; writes go through ``service.py``, so
the pages refuse what the API refuses, with the message under the field at fault. A secret is shown
once: on the page answering the create or the rotation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from helpline.domains.accounts.admin_views import FLASHES, AdminPage
from helpline.domains.accounts.principal import Principal
from helpline.domains.webhooks import queries, service
from helpline.domains.webhooks.service import EVENT_TYPES, TargetChanges
from helpline.errors import Problem
from helpline.web.deps import PlatformDep
from helpline.web.forms import errors_of, flash_of, form_of
from helpline.web.pages import redirect
from helpline.web.templating import render
from helpline.web.types import IdPath

router = APIRouter(include_in_schema=False)
PAGE_FLASHES = {
    **FLASHES,
    "enabled": "Enabled: events are sent again.",
    "disabled": "Disabled: no events are sent.",
    "tested": "A webhook.test event is queued; its delivery shows below.",
}


def _changes(form: dict[str, Any]) -> TargetChanges:
    after = str(form.get("disable_after", "")).strip()
    return TargetChanges(
        name=str(form.get("name", "")),
        url=str(form.get("url", "")),
        event_types=[e for e in form.get("event_types", []) if isinstance(e, str)],
        disable_after=int(after) if after.isdigit() and len(after) < 6 else (0 if after else 20),
    )


def _shown(form: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": form.get("name", ""),
        "url": form.get("url", ""),
        "event_types": form.get("event_types", []),
        "disable_after": form.get("disable_after", ""),
    }


async def _list_page(
    request: Request,
    actor: Principal,
    platform: Any,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    async with platform.db.read() as conn:
        items = await queries.list_targets(conn, actor)
    return render(
        request,
        "webhooks/webhooks.html",
        {
            "title": "Webhooks",
            "items": items,
            "events": EVENT_TYPES,
            "values": values or {"name": "", "url": "", "event_types": EVENT_TYPES, "disable_after": 20},
            "errors": errors or {},
            "flash": flash_of(request, PAGE_FLASHES),
            "section": "webhooks",
        },
        status=status,
    )


async def _target_page(
    request: Request,
    actor: Principal,
    platform: Any,
    target_id: int,
    *,
    secret: str | None = None,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    async with platform.db.read() as conn:
        item = await queries.access_target(conn, actor, target_id)
        log = await queries.list_deliveries(conn, actor, target_id, limit=50)
    return render(
        request,
        "webhooks/webhook.html",
        {
            "title": f"Webhook {item['name']}",
            "item": item,
            "deliveries": log["items"],
            "events": EVENT_TYPES,
            "values": values or item,
            "secret": secret,
            "errors": errors or {},
            "flash": flash_of(request, PAGE_FLASHES),
            "section": "webhooks",
        },
        status=status,
    )


@router.get("/admin/webhooks")
async def webhooks_page(request: Request, actor: AdminPage, platform: PlatformDep) -> HTMLResponse:
    return await _list_page(request, actor, platform)


@router.post("/admin/webhooks")
async def create_webhook(request: Request, actor: AdminPage, platform: PlatformDep) -> Response:
    form = await form_of(request, many=("event_types",))
    try:
        async with platform.db.transaction() as uow:
            target_id, secret = await service.do_create(uow, actor, _changes(form))
    except Problem as exc:
        return await _list_page(
            request, actor, platform, values=_shown(form), errors=errors_of(exc), status=422
        )
    return await _target_page(request, actor, platform, target_id, secret=secret, status=201)


@router.get("/admin/webhooks/{webhook_id}")
async def webhook_page(
    request: Request, webhook_id: IdPath, actor: AdminPage, platform: PlatformDep
) -> HTMLResponse:
    return await _target_page(request, actor, platform, webhook_id)


@router.post("/admin/webhooks/{webhook_id}")
async def update_webhook(
    request: Request, webhook_id: IdPath, actor: AdminPage, platform: PlatformDep
) -> Response:
    form = await form_of(request, many=("event_types",))
    try:
        async with platform.db.transaction() as uow:
            await service.do_update(uow, actor, webhook_id, _changes(form))
    except Problem as exc:
        if exc.status in (403, 404):
            raise
        return await _target_page(
            request, actor, platform, webhook_id, values=_shown(form), errors=errors_of(exc), status=422
        )
    return redirect(f"/admin/webhooks/{webhook_id}?done=saved")


@router.post("/admin/webhooks/{webhook_id}/enable")
async def enable_webhook(
    request: Request, webhook_id: IdPath, actor: AdminPage, platform: PlatformDep
) -> Response:
    async with platform.db.transaction() as uow:
        await service.do_update(uow, actor, webhook_id, TargetChanges(enabled=True))
    return redirect(f"/admin/webhooks/{webhook_id}?done=enabled")


@router.post("/admin/webhooks/{webhook_id}/disable")
async def disable_webhook(
    request: Request, webhook_id: IdPath, actor: AdminPage, platform: PlatformDep
) -> Response:
    async with platform.db.transaction() as uow:
        await service.do_update(uow, actor, webhook_id, TargetChanges(enabled=False))
    return redirect(f"/admin/webhooks/{webhook_id}?done=disabled")


@router.post("/admin/webhooks/{webhook_id}/rotate")
async def rotate_secret(
    request: Request, webhook_id: IdPath, actor: AdminPage, platform: PlatformDep
) -> Response:
    async with platform.db.transaction() as uow:
        secret = await service.do_rotate(uow, actor, webhook_id)
    return await _target_page(request, actor, platform, webhook_id, secret=secret)


@router.post("/admin/webhooks/{webhook_id}/test")
async def test_webhook(
    request: Request, webhook_id: IdPath, actor: AdminPage, platform: PlatformDep
) -> Response:
    async with platform.db.transaction() as uow:
        await service.do_test(uow, actor, webhook_id)
    return redirect(f"/admin/webhooks/{webhook_id}?done=tested")


@router.post("/admin/webhooks/{webhook_id}/delete")
async def delete_webhook(
    request: Request, webhook_id: IdPath, actor: AdminPage, platform: PlatformDep
) -> Response:
    async with platform.db.transaction() as uow:
        await service.do_delete(uow, actor, webhook_id)
    return redirect("/admin/webhooks?done=deleted")
