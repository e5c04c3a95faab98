"""HTTP API of the audit log: admins read and export their workspace's entries; the instance
operator reads the instance's own (``scope=instance``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from helpline.domains.accounts import audit, queries, service
from helpline.domains.accounts.principal import Principal
from helpline.domains.accounts.schemas import AuditPage
from helpline.web.deps import CurrentPrincipal, PlatformDep
from helpline.web.responses import JSON

router = APIRouter(tags=["audit"])


Scope = Literal["workspace", "instance"]
ActionQ = Annotated[
    str | None, Query(max_length=64, pattern=r"^[a-z0-9_.]+$", description="e.g. `signin` or `2fa.disabled`")
]
ActorQ = Annotated[str | None, Query(max_length=320, description="Part of the actor's email")]
TargetQ = Annotated[str | None, Query(max_length=64)]


def _scope(actor: Principal, scope: Scope) -> int | None:
    if scope == "instance":
        service.require_operator(actor)
        return None
    queries.require_admin(actor)
    return actor.workspace_id


@router.get(
    "/audit-log", response_model=AuditPage, summary="Security-relevant actions, newest first (admins)"
)
async def list_entries(
    actor: CurrentPrincipal,
    platform: PlatformDep,
    scope: Scope = "workspace",
    action: ActionQ = None,
    actor_email: ActorQ = None,
    target: TargetQ = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: Annotated[str | None, Query(pattern=r"^\d{1,18}$")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> JSON:
    ws = _scope(actor, scope)
    async with platform.db.read() as conn:
        items, nxt = await audit.search(
            conn,
            ws,
            before=int(cursor) if cursor else None,
            limit=limit,
            action=action,
            actor=actor_email,
            target=target,
            since=since,
            until=until,
        )
    return JSON({"items": items, "next_cursor": str(nxt) if nxt else None})


@router.get(
    "/audit-log/export",
    summary="Export the audit log as CSV or JSON lines (admins); the export itself is recorded",
    response_class=StreamingResponse,
)
async def export_entries(
    actor: CurrentPrincipal,
    platform: PlatformDep,
    format: Literal["csv", "jsonl"] = "csv",
    scope: Scope = "workspace",
    action: ActionQ = None,
    actor_email: ActorQ = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> StreamingResponse:
    ws = _scope(actor, scope)
    filters = {"action": action, "actor": actor_email, "since": since, "until": until}
    async with platform.db.transaction() as uow:
        await audit.record(
            uow,
            "audit.exported",
            workspace_id=ws,
            actor=actor,
            detail={"format": format, **{k: str(v) for k, v in filters.items() if v is not None}},
        )
    return stream_export(platform, ws, format, filters)


def stream_export(platform: Any, ws: int | None, fmt: str, filters: dict[str, Any]) -> StreamingResponse:
    """The export as a download, read in chunks on a connection of its own."""

    async def body() -> Any:
        async with platform.db.read() as conn:
            async for chunk in audit.export(conn, ws, fmt, **filters):
                yield chunk

    kind = "text/csv; charset=utf-8" if fmt == "csv" else "application/x-ndjson"
    name = f"audit-log.{'csv' if fmt == 'csv' else 'jsonl'}"
    return StreamingResponse(
        body(), media_type=kind, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )
