"""HTTP API of schedules (business hours) and the public-holiday preview and import. The rules are
``schedules.py``'s, shared with the admin pages."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response

from helpline.domains.accounts.queries import require_staff
from helpline.domains.automation import holiday_import, schedules
from helpline.domains.automation.schedules import ScheduleChanges
from helpline.domains.automation.schemas import (
    HolidayImport,
    HolidayImportResult,
    HolidayPreview,
    ScheduleCreate,
    ScheduleRead,
    ScheduleUpdate,
)
from helpline.platform.db import UnitOfWork
from helpline.web import idempotency
from helpline.web.deps import CurrentPrincipal, PlatformDep
from helpline.web.responses import JSON
from helpline.web.types import IdPath

router = APIRouter(tags=["schedules"])
IdemKey = Annotated[str | None, Header(alias="Idempotency-Key", description="Makes a retried POST safe")]


@router.get("/schedules", response_model=list[ScheduleRead], summary="Business-hours schedules")
async def list_schedules(actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    async with platform.db.read() as conn:
        return JSON(await schedules.list_schedules(conn, actor))


@router.post("/schedules", status_code=201, response_model=ScheduleRead, summary="Create a schedule (admins)")
async def create_schedule(
    body: ScheduleCreate,
    request: Request,
    actor: CurrentPrincipal,
    platform: PlatformDep,
    idempotency_key: IdemKey = None,
) -> Response:
    async def work(uow: UnitOfWork) -> tuple[int, Any, dict[str, str]]:
        data = ScheduleChanges(
            name=body.name,
            body=body.body.model_dump(exclude_none=True),
            is_default=body.is_default,
            group_ids=body.group_ids,
        )
        schedule_id = await schedules.do_create(uow, actor, data)
        item = await schedules.access_schedule(uow.conn, actor, schedule_id)
        return 201, item, {"Location": f"/api/v1/schedules/{schedule_id}"}

    return await idempotency.run(platform, actor, request, idempotency_key, work)


@router.get(
    "/schedules/holidays",
    response_model=HolidayPreview,
    summary="Preview a country's public holidays",
    description="The days an import would add, e.g. `?country=DE&subdiv=BY&year=2027` (up to three "
    "`year` parameters). Nothing is saved.",
)
async def preview_holidays(
    actor: CurrentPrincipal,
    country: Annotated[str, Query(min_length=2, max_length=3)],
    year: Annotated[list[int], Query(max_length=3)],
    subdiv: Annotated[str | None, Query(max_length=40)] = None,
) -> JSON:
    require_staff(actor)
    return JSON(holiday_import.offer(country, subdiv, year))


@router.get("/schedules/{schedule_id}", response_model=ScheduleRead, summary="One schedule")
async def get_schedule(schedule_id: IdPath, actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    async with platform.db.read() as conn:
        return JSON(await schedules.access_schedule(conn, actor, schedule_id))


@router.patch("/schedules/{schedule_id}", response_model=ScheduleRead, summary="Change a schedule (admins)")
async def update_schedule(
    schedule_id: IdPath, body: ScheduleUpdate, actor: CurrentPrincipal, platform: PlatformDep
) -> JSON:
    data = ScheduleChanges(
        name=body.name,
        body=body.body.model_dump(exclude_none=True) if body.body is not None else None,
        is_default=body.is_default,
        group_ids=body.group_ids,
    )
    async with platform.db.transaction() as uow:
        await schedules.do_update(uow, actor, schedule_id, data)
        return JSON(await schedules.access_schedule(uow.conn, actor, schedule_id))


@router.delete(
    "/schedules/{schedule_id}",
    status_code=204,
    summary="Delete a schedule (admins)",
    description="The default schedule can be deleted only when it is the last one.",
)
async def delete_schedule(schedule_id: IdPath, actor: CurrentPrincipal, platform: PlatformDep) -> Response:
    async with platform.db.transaction() as uow:
        await schedules.do_delete(uow, actor, schedule_id)
    return Response(status_code=204)


@router.post(
    "/schedules/{schedule_id}/holidays/import",
    response_model=HolidayImportResult,
    summary="Import public holidays into a schedule (admins)",
    description="Adds the previewed days as one-day holidays; `dates_off` are kept, disabled. Days "
    "already imported from the same country and subdivision are not added again.",
)
async def import_holidays(
    schedule_id: IdPath, body: HolidayImport, actor: CurrentPrincipal, platform: PlatformDep
) -> JSON:
    years = sorted({*(body.years or []), *([body.year] if body.year is not None else [])})
    async with platform.db.transaction() as uow:
        added = await schedules.do_import_holidays(
            uow,
            actor,
            schedule_id,
            country=body.country,
            subdiv=body.subdiv,
            years=years,
            dates_off=body.dates_off,
        )
        return JSON(
            {"added": added, "schedule": await schedules.access_schedule(uow.conn, actor, schedule_id)}
        )
