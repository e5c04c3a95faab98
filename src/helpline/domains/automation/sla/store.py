"""Reading and writing the SLA engine's rows: each ticket's clocks (``ticket_clocks``), its summary
(``ticket_sla``), its stream (``sla_events``) and the schedules' versions behind business time."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.domains.automation import calendar
from helpline.domains.automation.models import (
    ScheduleVersion,
    SlaEvent,
    TicketClock,
    TicketSlaSummary,
)
from helpline.domains.automation.sla.clocks import METRICS, Clock, Facts, Hours, Machine, Recorded, Target
from helpline.platform.db import UnitOfWork

clocks_t = TicketClock.__table__
summary_t = TicketSlaSummary.__table__
events_t = SlaEvent.__table__
versions_t = ScheduleVersion.__table__


@dataclass
class State:
    """One ticket's SLA state as stored: its clocks, facts, policy and schedule."""

    ticket_id: int
    workspace_id: int
    clocks: dict[str, Clock]
    facts: Facts
    policy_id: int | None = None
    schedule_id: int | None = None
    breached: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def machine(self, hours: Hours) -> Machine:
        return Machine(hours, self.clocks, self.facts)


def clock_of(row: Mapping[str, Any] | sa.RowMapping) -> Clock:
    target = (
        None
        if row["target_seconds"] is None
        else Target(row["target_seconds"], row["business"], row["warn_seconds"])
    )
    return Clock(
        metric=row["metric"],
        cycle=row["cycle"],
        state=row["state"],
        target=target,
        schedule_id=row["schedule_id"],
        started_at=row["started_at"],
        since=row["since"],
        elapsed_business=row["elapsed_business"],
        elapsed_calendar=row["elapsed_calendar"],
        due_at=row["due_at"],
        warn_at=row["warn_at"],
        warned_at=row["warned_at"],
        breached_at=row["breached_at"],
        stopped_at=row["stopped_at"],
        achieved=row["achieved"],
    )


def clock_row(ticket_id: int, workspace_id: int, policy_id: int | None, c: Clock) -> dict[str, Any]:
    assert c.started_at is not None and c.since is not None
    return {
        "ticket_id": ticket_id,
        "metric": c.metric,
        "workspace_id": workspace_id,
        "cycle": c.cycle,
        "policy_id": policy_id,
        "target_seconds": c.target.seconds if c.target else None,
        "warn_seconds": c.target.warn if c.target else 0,
        "business": c.target.business if c.target else True,
        "schedule_id": c.schedule_id,
        "state": c.state,
        "started_at": c.started_at,
        "since": c.since,
        "elapsed_business": c.elapsed_business,
        "elapsed_calendar": c.elapsed_calendar,
        "due_at": c.due_at,
        "warn_at": c.warn_at,
        "alert_at": c.alert_at,
        "warned_at": c.warned_at,
        "breached_at": c.breached_at,
        "stopped_at": c.stopped_at,
        "achieved": c.achieved,
    }


async def load(conn: AsyncConnection, ticket_ids: Sequence[int]) -> dict[int, State]:
    """The stored state of each of ``ticket_ids`` that has one."""
    if not ticket_ids:
        return {}
    states: dict[int, State] = {}
    for r in (
        await conn.execute(sa.select(summary_t).where(summary_t.c.ticket_id.in_(ticket_ids)))
    ).mappings():
        states[r["ticket_id"]] = State(
            r["ticket_id"],
            r["workspace_id"],
            {},
            Facts.of(r["facts"]),
            r["policy_id"],
            r["schedule_id"],
            r["breached"],
            {"targets": (r["facts"] or {}).get("targets") or {}},
        )
    for r in (await conn.execute(sa.select(clocks_t).where(clocks_t.c.ticket_id.in_(ticket_ids)))).mappings():
        if r["ticket_id"] in states:
            states[r["ticket_id"]].clocks[r["metric"]] = clock_of(r)
    for s in states.values():
        # A clock that never started has no row: its target is kept with the summary.
        for m, t in s.extra.get("targets", {}).items():
            if m in METRICS and m not in s.clocks:
                s.clocks[m] = Clock(m, target=Target.of(t), schedule_id=s.schedule_id)
    return states


def summary_row(s: State) -> dict[str, Any]:
    running = [c for c in s.clocks.values() if c.due_at is not None and c.breached_at is None]
    # A warned clock stays at risk until it is met or breached: its warning time is kept.
    warns = [c.warn_at for c in running if c.warn_at is not None]
    return {
        "ticket_id": s.ticket_id,
        "workspace_id": s.workspace_id,
        "policy_id": s.policy_id,
        "schedule_id": s.schedule_id,
        "next_due_at": min((c.due_at for c in running if c.due_at), default=None),
        "next_warn_at": min(warns, default=None),
        "next_alert_at": min((a for c in s.clocks.values() if (a := c.alert_at) is not None), default=None),
        "breached": any(
            c.breached_at is not None and c.state in ("running", "paused") for c in s.clocks.values()
        ),
        "facts": s.facts.as_json()
        | {
            "targets": {
                m: c.target.as_json() for m, c in s.clocks.items() if c.target and c.started_at is None
            }
        },
    }


async def save(uow: UnitOfWork, states: Iterable[State]) -> None:
    """Write each state's clocks and summary in place of the stored ones."""
    states = list(states)
    if not states:
        return
    ids = [s.ticket_id for s in states]
    await uow.execute(clocks_t.delete().where(clocks_t.c.ticket_id.in_(ids)))
    await uow.execute(summary_t.delete().where(summary_t.c.ticket_id.in_(ids)))
    rows = [
        clock_row(s.ticket_id, s.workspace_id, s.policy_id, s.clocks[m])
        for s in states
        for m in METRICS
        if m in s.clocks and s.clocks[m].started_at is not None
    ]
    if rows:
        await uow.execute(clocks_t.insert(), rows)
    await uow.execute(summary_t.insert(), [summary_row(s) for s in states])


async def record(uow: UnitOfWork, ticket_id: int, workspace_id: int, events: Iterable[Recorded]) -> None:
    rows = [
        {
            "workspace_id": workspace_id,
            "ticket_id": ticket_id,
            "kind": e.kind,
            "metric": e.metric,
            "cycle": e.cycle,
            "at": e.at,
            "data": e.data,
        }
        for e in events
    ]
    if rows:
        await uow.execute(events_t.insert(), rows)


async def stream(conn: AsyncConnection, ticket_id: int) -> list[Recorded]:
    """A ticket's SLA stream, in order."""
    rows = await conn.execute(
        sa.select(events_t).where(events_t.c.ticket_id == ticket_id).order_by(events_t.c.id)
    )
    return [Recorded(r.kind, r.at, r.metric, r.cycle, r.data or {}) for r in rows]


# --- business hours: the schedules' versions, parsed once per process ----------------------------------

#: Parsed versions by (database, schedule, version, valid_from): versions never change once written,
#: and the key tells apart a schedule id reused after a delete (SQLite) or another test's database.
_CALENDARS: dict[tuple[str, int, int, datetime], calendar.Calendar] = {}


async def hours(conn: AsyncConnection, schedule_ids: Iterable[int | None]) -> Hours:
    """Business time under every version of ``schedule_ids`` (a deleted schedule counts as around
    the clock)."""
    wanted = {s for s in schedule_ids if s is not None}
    if not wanted:
        return Hours({})
    db = str(conn.engine.url)
    listed = (
        await conn.execute(
            sa.select(versions_t.c.schedule_id, versions_t.c.version, versions_t.c.valid_from).where(
                versions_t.c.schedule_id.in_(wanted)
            )
        )
    ).all()
    missing = [(r.schedule_id, r.version) for r in listed if (db, *r) not in _CALENDARS]
    if missing:
        rows = await conn.execute(
            sa.select(versions_t).where(
                sa.tuple_(versions_t.c.schedule_id, versions_t.c.version).in_(missing)
            )
        )
        for r in rows:
            _CALENDARS[(db, r.schedule_id, r.version, r.valid_from)] = calendar.Calendar.from_body(r.body)
    versions: dict[int, list[tuple[datetime, calendar.Calendar]]] = {}
    for row in listed:
        sid, at = int(row.schedule_id), row.valid_from
        versions.setdefault(sid, []).append((at, _CALENDARS[(db, sid, int(row.version), at)]))
    return Hours(versions)
