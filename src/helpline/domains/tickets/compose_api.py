"""API of composing on a ticket: the caller's draft, the ticket's snooze, time entries, and the
time report (per agent or per ticket). Every route reads the ticket through ``access_ticket`` (the
caller's workspace, role and groups) and writes through ``tickets.service``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from helpline.domains.tickets import queries, service
from helpline.domains.tickets.schemas import (
    DraftRead,
    DraftWrite,
    SnoozeRead,
    SnoozeWrite,
    TimeEntryCreate,
    TimeEntryPage,
    TimeEntryRead,
    TimeReport,
)
from helpline.errors import Forbidden
from helpline.web.deps import CurrentPrincipal, PlatformDep
from helpline.web.responses import JSON
from helpline.web.types import IdPath

router = APIRouter(tags=["tickets"])


def _staff(actor: CurrentPrincipal) -> None:
    if not actor.is_staff:
        raise Forbidden("only staff compose on tickets")


@router.get("/tickets/{ticket_id}/draft", response_model=DraftRead, summary="Your draft on this ticket")
async def get_draft(ticket_id: IdPath, actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    _staff(actor)
    async with platform.db.read() as conn:
        await queries.access_ticket(conn, actor, ticket_id)
        draft = await queries.draft_of(conn, actor, ticket_id)
    return JSON(draft or {"body": "", "public": actor.can_reply_publicly, "updated_at": None})


@router.put("/tickets/{ticket_id}/draft", response_model=DraftRead, summary="Keep your draft on this ticket")
async def put_draft(
    ticket_id: IdPath, body: DraftWrite, actor: CurrentPrincipal, platform: PlatformDep
) -> JSON:
    _staff(actor)
    async with platform.db.transaction() as uow:
        ticket = await queries.access_ticket(uow.conn, actor, ticket_id)
        await service.save_draft(uow, actor, ticket, body.body, public=body.public)
        draft = await queries.draft_of(uow.conn, actor, ticket_id)
    return JSON(draft or {"body": "", "public": body.public, "updated_at": None})


@router.delete("/tickets/{ticket_id}/draft", status_code=204, summary="Discard your draft on this ticket")
async def delete_draft(ticket_id: IdPath, actor: CurrentPrincipal, platform: PlatformDep) -> Response:
    _staff(actor)
    async with platform.db.transaction() as uow:
        await queries.access_ticket(uow.conn, actor, ticket_id)
        await service.clear_draft(uow, actor, ticket_id)
    return Response(status_code=204)


def _snooze(row: dict[str, object] | None) -> dict[str, object]:
    if row is None:
        return {"snoozed": False, "until": None, "user_id": None}
    return {"snoozed": True, "until": row["until"], "user_id": row["user_id"]}


@router.get("/tickets/{ticket_id}/snooze", response_model=SnoozeRead, summary="Whether the ticket is snoozed")
async def get_snooze(ticket_id: IdPath, actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    _staff(actor)
    async with platform.db.read() as conn:
        await queries.access_ticket(conn, actor, ticket_id)
        return JSON(_snooze(await queries.snooze_of(conn, ticket_id)))


@router.put(
    "/tickets/{ticket_id}/snooze",
    response_model=SnoozeRead,
    summary="Snooze the ticket until a time",
    description="It leaves the open views until then; a customer's reply wakes it sooner.",
)
async def put_snooze(
    ticket_id: IdPath, body: SnoozeWrite, actor: CurrentPrincipal, platform: PlatformDep
) -> JSON:
    async with platform.db.transaction() as uow:
        ticket = await queries.access_ticket(uow.conn, actor, ticket_id)
        await service.snooze(uow, platform.pubsub, actor, ticket, body.until)
        row = await queries.snooze_of(uow.conn, ticket_id)
    return JSON(_snooze(row))


@router.delete("/tickets/{ticket_id}/snooze", status_code=204, summary="Wake the ticket now")
async def delete_snooze(ticket_id: IdPath, actor: CurrentPrincipal, platform: PlatformDep) -> Response:
    async with platform.db.transaction() as uow:
        ticket = await queries.access_ticket(uow.conn, actor, ticket_id)
        await service.unsnooze(uow, platform.pubsub, actor, ticket)
    return Response(status_code=204)


@router.get(
    "/tickets/{ticket_id}/time-entries", response_model=TimeEntryPage, summary="Time logged on the ticket"
)
async def list_time(ticket_id: IdPath, actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    _staff(actor)
    async with platform.db.read() as conn:
        await queries.access_ticket(conn, actor, ticket_id)
        items = await queries.time_entries(conn, ticket_id)
    return JSON({"items": items, "total_minutes": sum(i["minutes"] for i in items)})


@router.post(
    "/tickets/{ticket_id}/time-entries",
    status_code=201,
    response_model=TimeEntryRead,
    summary="Log minutes spent on the ticket",
)
async def add_time(
    ticket_id: IdPath, body: TimeEntryCreate, actor: CurrentPrincipal, platform: PlatformDep
) -> JSON:
    async with platform.db.transaction() as uow:
        ticket = await queries.access_ticket(uow.conn, actor, ticket_id)
        row = await service.log_time(uow, actor, ticket, body.minutes, body.note)
    row.pop("workspace_id", None)
    row.pop("ticket_id", None)
    return JSON(row, status_code=201)


@router.get(
    "/reports/time",
    response_model=TimeReport,
    summary="Logged time summed per agent or per ticket",
    description="Over the tickets you may see in this workspace; `since`/`until` bound when it was logged.",
)
async def time_report(
    actor: CurrentPrincipal,
    platform: PlatformDep,
    by: Annotated[Literal["agent", "ticket"], Query()] = "agent",
    since: datetime | None = None,
    until: datetime | None = None,
) -> JSON:
    async with platform.db.read() as conn:
        items = await queries.time_report(conn, actor, by=by, since=since, until=until)
    return JSON({"by": by, "items": items})
