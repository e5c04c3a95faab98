"""What a ticket's SLA looks like to its readers (the API's ``sla``, the ticket page, the inbox):
one entry per target, running or done."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.db.base import utcnow
from helpline.domains.automation.sla import store
from helpline.domains.automation.sla.clocks import METRICS

_ORDER = {m: i for i, m in enumerate(METRICS)}


async def targets(
    conn: AsyncConnection, ticket_ids: Sequence[int], now: datetime | None = None
) -> dict[int, list[dict[str, Any]]]:
    """Per ticket, its targets in metric order: ``metric``, ``cycle``, ``status`` (active, paused,
    fulfilled, breached), ``due_at``, ``warn_at``, ``target_minutes``, ``business``, and the
    business and calendar minutes used so far (or until it stopped)."""
    now = now or utcnow()
    out: dict[int, list[dict[str, Any]]] = {t: [] for t in ticket_ids}
    if not ticket_ids:
        return out
    c = store.clocks_t
    rows = (
        (
            await conn.execute(
                sa.select(c).where(c.c.ticket_id.in_(ticket_ids), c.c.target_seconds.is_not(None))
            )
        )
        .mappings()
        .all()
    )
    hours = await store.hours(conn, {r["schedule_id"] for r in rows})
    for r in sorted(rows, key=lambda r: (r["ticket_id"], _ORDER.get(r["metric"], 99))):
        clock = store.clock_of(r)
        business, calendar = clock.used(hours, now)
        assert clock.target is not None
        out[r["ticket_id"]].append(
            {
                "metric": clock.metric,
                "cycle": clock.cycle,
                "status": clock.status(now),
                "due_at": clock.due_at,
                "warn_at": clock.warn_at,
                "target_minutes": clock.target.seconds // 60,
                "business": clock.target.business,
                "started_at": clock.started_at,
                "stopped_at": clock.stopped_at,
                "breached_at": clock.breached_at,
                "business_minutes": round(business / 60, 1),
                "calendar_minutes": round(calendar / 60, 1),
            }
        )
    return out
