"""The failed-mail list: inbound messages that could not be parsed or broke a limit, with the reason,
the original ``.eml`` (downloaded from the API's raw endpoint) and a reprocess button. The other
states (waiting, processed) are a filter away."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from helpline.domains.accounts.admin_views import AdminPage
from helpline.domains.accounts.principal import Principal
from helpline.domains.channels.email import mailboxes as mailbox_service
from helpline.domains.channels.email import queries, service
from helpline.domains.channels.email.views._common import FLASHES, router
from helpline.errors import Problem
from helpline.types import MAX_ID
from helpline.web.deps import PlatformDep
from helpline.web.forms import flash_of, form_of
from helpline.web.pages import redirect, safe_next
from helpline.web.templating import render
from helpline.web.types import IdPath

STATES = [
    ("failed", "Failed"),
    ("received", "Waiting to be processed"),
    ("processed", "Processed"),
    ("all", "All"),
]
PAGE_SIZE = 50


def _id(raw: str | None) -> int | None:
    raw = (raw or "").strip()
    return int(raw) if raw.isdigit() and len(raw) < 20 and 0 < int(raw) <= MAX_ID else None


async def _failed_page(
    request: Request, actor: Principal, platform: Any, *, error: str | None = None, status: int = 200
) -> HTMLResponse:
    params = request.query_params
    state = params.get("state", "failed")
    state = state if state in dict(STATES) else "failed"
    mailbox_id, cursor = _id(params.get("mailbox_id")), _id(params.get("cursor"))
    async with platform.db.read() as conn:
        boxes = await queries.list_mailboxes(conn, actor)
        items, next_cursor = await queries.list_inbound(
            conn,
            actor,
            state=None if state == "all" else state,
            mailbox_id=mailbox_id,
            cursor=cursor,
            limit=PAGE_SIZE,
        )
    filters = {"state": state, **({"mailbox_id": mailbox_id} if mailbox_id else {})}
    here = request.url.path + "?" + urlencode({**filters, **({"cursor": cursor} if cursor else {})})
    return render(
        request,
        "email/failed.html",
        {
            "title": "Failed mail" if state == "failed" else "Inbound mail",
            "items": items,
            "addresses": {m["id"]: m["address"] for m in boxes},
            "mailboxes": [(m["id"], m["address"]) for m in boxes],
            "states": STATES,
            "state": state,
            "mailbox_id": mailbox_id or "",
            "here": here,
            "next_url": f"{request.url.path}?{urlencode({**filters, 'cursor': next_cursor})}"
            if next_cursor
            else None,
            "flash": error or flash_of(request, FLASHES),
            "flash_kind": "error" if error else "ok",
            "section": "failed",
        },
        status=status,
    )


@router.get("/admin/email/failed")
async def failed_page(request: Request, actor: AdminPage, platform: PlatformDep) -> HTMLResponse:
    return await _failed_page(request, actor, platform)


@router.post("/admin/email/inbound/{inbound_id}/reprocess")
async def reprocess(
    request: Request, inbound_id: IdPath, actor: AdminPage, platform: PlatformDep
) -> Response:
    form = await form_of(request)
    back = safe_next(str(form.get("next", "")), "/admin/email/failed")
    if not back.startswith("/admin/email/failed"):
        back = "/admin/email/failed"
    mailbox_service.check_admin(actor)
    try:
        await service.reprocess(platform, actor.workspace_id, inbound_id)
    except Problem as exc:
        if exc.status != 409:
            raise
        return await _failed_page(request, actor, platform, error=exc.detail, status=409)
    return redirect(back + ("&" if "?" in back else "?") + "done=reprocessed")
