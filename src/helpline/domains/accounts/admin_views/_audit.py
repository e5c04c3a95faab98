"""The audit log page: ``/admin/audit`` (filters by action, person and dates; newest first, paged)
and its CSV / JSON-lines download (the download is itself recorded)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse

from helpline.domains.accounts import audit
from helpline.domains.accounts.admin_views._common import AdminPage, router
from helpline.domains.accounts.audit_api import stream_export
from helpline.web.deps import PlatformDep
from helpline.web.templating import render

Text = Annotated[str, Query(max_length=320)]


def _filters(action: str, actor: str, since: str, until: str) -> tuple[dict[str, object], dict[str, str]]:
    """The page's filters as ``audit.search`` keywords, and the errors of those it could not read."""
    errors: dict[str, str] = {}
    out: dict[str, object] = {"action": action.strip() or None, "actor": actor.strip() or None}
    if (
        out["action"]
        and out["action"] not in audit.ACTIONS
        and not any(a.startswith(f"{out['action']}.") for a in audit.ACTIONS)
    ):
        errors["action"] = "Pick an action from the list."
        out["action"] = None
    for key, raw, extra in (("since", since, 0), ("until", until, 1)):
        if raw:
            try:
                day = datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=UTC)
                out[key] = day + timedelta(days=extra)  # "until" includes the day itself
            except ValueError:
                errors[key] = "Use a date like 2026-12-31."
    return out, errors


@router.get("/admin/audit")
async def audit_page(
    request: Request,
    actor: AdminPage,
    platform: PlatformDep,
    action: Text = "",
    person: Text = "",
    since: Text = "",
    until: Text = "",
    before: Annotated[str, Query(pattern=r"^\d{0,18}$")] = "",
) -> HTMLResponse:
    filters, errors = _filters(action, person, since, until)
    async with platform.db.read() as conn:
        items, nxt = await audit.search(
            conn, actor.workspace_id, before=int(before) if before else None, limit=50, **filters
        )
    return render(
        request,
        "accounts/admin_audit.html",
        {
            "title": "Audit log",
            "items": items,
            "next": nxt,
            "actions": audit.ACTIONS,
            "values": {"action": action, "person": person, "since": since, "until": until},
            "errors": errors,
            "section": "audit",
        },
        status=422 if errors else 200,
    )


@router.get("/admin/audit/export")
async def audit_export(
    actor: AdminPage,
    platform: PlatformDep,
    format: Literal["csv", "jsonl"] = "csv",
    action: Text = "",
    person: Text = "",
    since: Text = "",
    until: Text = "",
) -> StreamingResponse:
    filters, _ = _filters(action, person, since, until)
    async with platform.db.transaction() as uow:
        await audit.record(
            uow,
            "audit.exported",
            workspace_id=actor.workspace_id,
            actor=actor,
            detail={"format": format, **{k: str(v) for k, v in filters.items() if v is not None}},
        )
    return stream_export(platform, actor.workspace_id, format, filters)
