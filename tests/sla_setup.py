"""Configuring business hours and an SLA policy for a test workspace, in one call."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from helpline.db.base import utcnow
from helpline.domains.automation.models import Schedule, ScheduleVersion, SlaPolicy

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
OFFICE = {
    "timezone": "Europe/Berlin",
    "week": {d: [["09:00", "17:00"]] for d in WEEKDAYS},
    "holidays": [],
}
ALWAYS = {
    "timezone": "UTC",
    "week": {d: [["00:00", "24:00"]] for d in (*WEEKDAYS, "sat", "sun")},
    "holidays": [],
}


async def configure(
    ws: Any,
    *,
    targets: dict[str, Any],
    body: dict[str, Any] | None = None,
    escalations: list[Any] | None = None,
    conditions: dict[str, Any] | None = None,
    since: datetime = datetime(2000, 1, 1, tzinfo=UTC),
) -> tuple[int, int]:
    """A default schedule (``body``, around the clock by default) valid ``since``, and a fallback
    policy with ``targets`` (``{"normal": {"first_reply": {"minutes": 60}}}``); their ids."""
    body = body or ALWAYS
    now = utcnow()
    async with ws.platform.db.transaction() as uow:
        sid = (
            await uow.execute(
                sa.insert(Schedule.__table__)
                .values(
                    workspace_id=ws.id,
                    name="Office hours",
                    timezone=body["timezone"],
                    body=body,
                    is_default=True,
                    version=1,
                    created_at=now,
                    updated_at=now,
                )
                .returning(Schedule.__table__.c.id)
            )
        ).scalar_one()
        await uow.execute(
            sa.insert(ScheduleVersion.__table__).values(schedule_id=sid, version=1, body=body, valid_from=since)
        )
        pid = (
            await uow.execute(
                sa.insert(SlaPolicy.__table__)
                .values(
                    workspace_id=ws.id,
                    name="Standard",
                    description="",
                    position=0,
                    active=True,
                    is_fallback=conditions is None,
                    conditions=conditions or {},
                    targets=targets,
                    escalations=escalations or [],
                    version=1,
                    created_at=now,
                    updated_at=now,
                )
                .returning(SlaPolicy.__table__.c.id)
            )
        ).scalar_one()
    return sid, pid
