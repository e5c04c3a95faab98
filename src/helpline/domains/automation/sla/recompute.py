"""Recomputing open tickets' clocks after a configuration change.

- A schedule edit (``sla.recompute``): every running clock under that schedule gets its due and
  warning times again. Nothing else changes: the time each clock counted stays counted (the
  schedule's earlier version covers the time before the edit, ``clocks.Hours``).
- A policy or group-schedule change (``sla.reapply``): every unsolved ticket of the workspace is
  matched again and, where the policy, its targets or the schedule differ, they apply from now.

Both walk the tickets in pages by id, one transaction a page, so a restart simply runs them again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from helpline.db.base import UTCDateTime, utcnow
from helpline.domains.automation import calendar
from helpline.domains.automation.sla import policy, store
from helpline.domains.automation.sla.clocks import Hours, due_and_warn
from helpline.domains.automation.sla.engine import _choose, schedule_sweep
from helpline.platform.db import UnitOfWork

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Sequence

    from helpline.platform.runtime import Platform

PAGE = 2000
#: Tickets per transaction of a schedule's recompute (a page's clocks are planned in Python and
#: written with one statement).
SCHEDULE_PAGE = 10_000
s_t = store.summary_t
c_t = store.clocks_t


async def _pages(
    platform: Platform, where: sa.ColumnElement[bool], page: int
) -> AsyncIterator[tuple[UnitOfWork, int, list[int]]]:
    """The summaries' ticket ids matching ``where`` in pages by id, each with its own transaction
    (and the id the page starts after): a restart simply runs the walk again."""
    after = 0
    while True:
        async with platform.db.transaction() as uow:
            ids: list[int] = list(
                (
                    await uow.execute(
                        sa.select(s_t.c.ticket_id)
                        .where(where, s_t.c.ticket_id > after)
                        .order_by(s_t.c.ticket_id)
                        .limit(page)
                    )
                ).scalars()
            )
            if not ids:
                return
            yield uow, after, ids
            after = ids[-1]


async def schedule_changed(platform: Platform, schedule_id: int, *, page: int = SCHEDULE_PAGE) -> int:
    """Plan again every running clock with a target of tickets under ``schedule_id``; how many
    clocks. A page is read and planned (:func:`_read`) while the previous page is written, in its
    own transaction (:func:`_write`)."""
    total = 0
    writing: asyncio.Task[int] | None = None
    try:
        after: int | None = 0
        while after is not None:
            after, plans = await _read(platform, schedule_id, after, page)  # while the last is written
            if writing is not None:
                total += await writing
            writing = asyncio.create_task(_write(platform, plans)) if plans.clocks else None
        if writing is not None:
            total += await writing
            writing = None
    finally:
        if writing is not None:
            writing.cancel()
    return total


async def _read(platform: Platform, schedule_id: int, after: int, page: int) -> tuple[int | None, _Plans]:
    """The plans of the next ``page`` tickets under ``schedule_id`` after ticket ``after`` (the
    arithmetic of :func:`clocks.plan`: ``Hours.add_ts``), and the last ticket read
    (``None`` when there was none)."""
    pg = platform.db.dialect == "postgresql"
    async with platform.db.read() as conn:
        if pg:
            await conn.execute(_NO_JIT)
        ids = (
            sa.select(s_t.c.ticket_id)
            .where(s_t.c.schedule_id == schedule_id, s_t.c.ticket_id > after)
            .order_by(s_t.c.ticket_id)
            .limit(page)
            .subquery()
        )
        last = (await conn.execute(sa.select(sa.func.max(ids.c.ticket_id)))).scalar()
        if last is None:
            return None, _Plans()
        hours = await store.hours(conn, [schedule_id])
        if pg:  # the driver's own rows: a third of the time SQLAlchemy's take, at 20,000 a page
            driver = (await conn.get_raw_connection()).driver_connection
            assert driver is not None
            rows: Sequence[Any] = await driver.fetch(_RUNNING_PG, schedule_id, after, last)
        else:
            rows = (await conn.execute(_RUNNING, {"sid": schedule_id, "after": after, "last": last})).all()
    plans = _plans(hours, rows, float if pg else calendar.timestamp)
    plans.schedule_id = schedule_id
    return int(last), plans


#: A page's statements are estimated costly enough for PostgreSQL to compile them (JIT), which
#: costs more than it saves on statements this simple (tens of milliseconds a page).
_NO_JIT = sa.text("SET LOCAL jit = off")
#: The running clocks (``clocks.RUNNING``) with a target of tickets whose summary names the
#: schedule, each with its summary's row version (PostgreSQL's ``xmin``).
_SELECT = (
    "SELECT c.ticket_id, c.metric, {since}, c.elapsed_business, c.elapsed_calendar, c.target_seconds,"
    " c.warn_seconds, c.business, c.schedule_id, c.warned_at IS NULL AND c.breached_at IS NULL,"
    " c.breached_at IS NULL, {version}"
    " FROM ticket_clocks c JOIN ticket_sla s ON s.ticket_id = c.ticket_id"
    " WHERE s.schedule_id = {sid} AND c.state = 'running' AND c.target_seconds IS NOT NULL"
)
#: ... of a page of tickets, on SQLite.
_RUNNING = sa.text(
    _SELECT.format(since="c.since", version="0", sid=":sid")
    + " AND c.ticket_id > CAST(:after AS BIGINT) AND c.ticket_id <= CAST(:last AS BIGINT)"
).columns(sa.column("ticket_id"), sa.column("metric"), sa.column("since", UTCDateTime()))
#: ... on PostgreSQL (for the driver), with ``since`` as a POSIX timestamp (what the planning
#: counts in).
_PG = {"since": "date_part('epoch', c.since)", "version": "CAST(CAST(s.xmin AS TEXT) AS BIGINT)"}
_RUNNING_PG = _SELECT.format(sid="$1", **_PG) + " AND c.ticket_id > $2 AND c.ticket_id <= $3"
#: ... of given tickets, whose summaries it locks.
_RUNNING_PG_LOCKED = sa.text(
    _SELECT.format(sid=":sid", **_PG) + " AND c.ticket_id = ANY(CAST(:ids AS BIGINT[])) FOR UPDATE OF s"
)


@dataclass
class _Plans:
    """A page's new plans. Per clock (ticket, metric, the ``since`` and target it was planned
    from, due, warn, alert), per ticket (its summary's row version, soonest due, warning and alert:
    ``store.summary_row``'s), the times as POSIX timestamps."""

    clocks: list[tuple[int, str, Any, int, float | None, float | None, float | None]] = field(
        default_factory=list
    )
    tickets: dict[int, list[Any]] = field(default_factory=dict)
    hours: Hours | None = None
    schedule_id: int = 0


def _plans(hours: Hours, rows: Sequence[Any], stamp: Callable[[Any], float]) -> _Plans:
    """Each running clock's due, warning and next alert times (``clocks.plan``'s
    ``due_and_warn`` and ``Clock.alert_at``), and each ticket's soonest of them; ``stamp`` gives a
    row's ``since`` as a POSIX timestamp."""
    out = _Plans(hours=hours)
    tickets = out.tickets
    for t, m, since, eb, ec, target, warn, business, sid, fresh, unbreached, version in rows:
        if business:
            due, warn_at = due_and_warn(hours, sid, stamp(since), target - eb, warn)
        else:
            due, warn_at = due_and_warn(hours, None, stamp(since), target - ec, warn)
        alert = warn_at if warn_at is not None and fresh else (due if unbreached else None)
        out.clocks.append((t, m, since, target, due, warn_at, alert))
        mins = tickets.get(t)
        if mins is None:
            mins = tickets[t] = [version, None, None, None]
        if unbreached and due is not None:
            mins[1] = due if mins[1] is None else min(mins[1], due)
            if warn_at is not None:
                mins[2] = warn_at if mins[2] is None else min(mins[2], warn_at)
        if alert is not None:
            mins[3] = alert if mins[3] is None else min(mins[3], alert)
    return out


async def _write(platform: Platform, plans: _Plans) -> int:
    """Write a page's plans and schedule the sweep for its soonest alert; how many clocks were
    written.

    On PostgreSQL the summaries go first, each only where its row version (``xmin``) is still
    the one read: the engine rewrites a ticket's summary with every change, so a ticket written
    here is one whose read is current, and it stays locked until commit. A ticket the engine
    changed since is read again with its summary locked (the engine planned the clocks it
    touched, but not the others) and planned again. Then the clocks of the tickets written. On
    SQLite (one writer at a time) a clock is written where
    its ``since`` and target are still the ones planned from, and the summaries are folded from
    the clocks again."""
    async with platform.db.transaction() as uow:
        if uow.dialect == "postgresql":
            count = await _write_pg(uow, plans)
        else:
            result = await uow.execute(
                c_t.update()
                .where(
                    c_t.c.ticket_id == sa.bindparam("t"),
                    c_t.c.metric == sa.bindparam("m"),
                    c_t.c.since == sa.bindparam("s"),
                    c_t.c.target_seconds == sa.bindparam("target"),
                    c_t.c.state == "running",
                )
                .values(
                    due_at=sa.bindparam("due"), warn_at=sa.bindparam("warn"), alert_at=sa.bindparam("alert")
                ),
                [
                    {
                        "t": t,
                        "m": m,
                        "s": since,
                        "target": target,
                        "due": _at(d),
                        "warn": _at(w),
                        "alert": _at(a),
                    }
                    for t, m, since, target, d, w, a in plans.clocks
                ],
            )
            await _summaries(uow, sorted(plans.tickets))
            count = result.rowcount
        soonest = min((c[6] for c in plans.clocks if c[6] is not None), default=None)
        if soonest is not None:
            await schedule_sweep(uow, datetime.fromtimestamp(soonest, UTC))
        return count


async def _write_pg(uow: UnitOfWork, plans: _Plans) -> int:
    """:func:`_write` on PostgreSQL; a ticket changed since its page was read is read again, its
    summary locked, and planned again."""
    await uow.execute(_NO_JIT)
    kept = await _write_summaries(uow, plans)
    missed = [t for t in plans.tickets if t not in kept]
    again = _Plans()
    if missed and plans.hours is not None:
        rows = (await uow.execute(_RUNNING_PG_LOCKED, {"sid": plans.schedule_id, "ids": missed})).all()
        again = _plans(plans.hours, rows, float)
        await _write_summaries(uow, again)
    mine = [c for c in plans.clocks if c[0] in kept] + again.clocks
    if mine:
        t, m, _, _, due, warn, alert = (list(col) for col in zip(*mine, strict=True))
        await uow.execute(
            sa.text(
                "UPDATE ticket_clocks c SET due_at = to_timestamp(u.due),"
                " warn_at = to_timestamp(u.warn), alert_at = to_timestamp(u.alert)"
                " FROM unnest(CAST(:t AS BIGINT[]), CAST(:m AS TEXT[]),"
                " CAST(:due AS FLOAT8[]), CAST(:warn AS FLOAT8[]), CAST(:alert AS FLOAT8[]))"
                " AS u(t, m, due, warn, alert)"
                " WHERE c.ticket_id = u.t AND c.metric = u.m"
            ),
            {"t": t, "m": m, "due": due, "warn": warn, "alert": alert},
        )
    return len(mine)


async def _write_summaries(uow: UnitOfWork, plans: _Plans) -> set[int]:
    """The page's summaries, each where its row version is still the one read; the tickets written."""
    if not plans.tickets:
        return set()
    version, due, warn, alert = (list(col) for col in zip(*plans.tickets.values(), strict=True))
    rows = await uow.execute(
        sa.text(
            "UPDATE ticket_sla s SET next_due_at = to_timestamp(u.due),"
            " next_warn_at = to_timestamp(u.warn), next_alert_at = to_timestamp(u.alert)"
            " FROM unnest(CAST(:t AS BIGINT[]), CAST(:v AS XID[]), CAST(:due AS FLOAT8[]),"
            " CAST(:warn AS FLOAT8[]), CAST(:alert AS FLOAT8[])) AS u(t, v, due, warn, alert)"
            " WHERE s.ticket_id = u.t AND s.xmin = u.v RETURNING s.ticket_id"
        ),
        {"t": list(plans.tickets), "v": version, "due": due, "warn": warn, "alert": alert},
    )
    return set(rows.scalars())


def _at(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


async def _summaries(uow: Any, ids: list[int]) -> None:
    """Each ticket's soonest due, warning and alert times again, from its clocks (as
    ``store.summary_row`` has them)."""
    unbreached = sa.and_(c_t.c.ticket_id == s_t.c.ticket_id, c_t.c.breached_at.is_(None))
    await uow.execute(
        s_t.update()
        .where(s_t.c.ticket_id.in_(ids))
        .values(
            next_due_at=sa.select(sa.func.min(c_t.c.due_at)).where(unbreached).scalar_subquery(),
            next_warn_at=sa.select(sa.func.min(c_t.c.warn_at))
            .where(unbreached, c_t.c.due_at.is_not(None))
            .scalar_subquery(),
            next_alert_at=sa.select(sa.func.min(c_t.c.alert_at))
            .where(c_t.c.ticket_id == s_t.c.ticket_id)
            .scalar_subquery(),
        )
    )


async def policies_changed(
    platform: Platform, workspace_id: int, *, now: datetime | None = None, page: int = PAGE
) -> int:
    """Match every unsolved ticket of the workspace again; how many tickets changed policy,
    targets or schedule."""
    total = 0
    async for uow, _, ids in _pages(platform, s_t.c.workspace_id == workspace_id, page):
        at = now or utcnow()
        states = await store.load(uow.conn, ids)
        states = {t: s for t, s in states.items() if s.facts.status not in ("solved", "closed")}
        facts = await policy.ticket_facts(uow.conn, list(states))
        space = (await policy.workspaces(uow.conn, [workspace_id]))[workspace_id]
        schedules = {s.schedule_id for s in states.values()} | {space.schedule_for(f) for f in facts.values()}
        hours = await store.hours(uow.conn, schedules)
        changed = []
        for tid, state in states.items():
            if tid not in facts:
                continue
            m = state.machine(hours)
            _choose(m, state, at, facts[tid], space)
            state.clocks = m.clocks
            if m.recorded:
                await store.record(uow, tid, state.workspace_id, m.recorded)
                changed.append(state)
        total += len(changed)
        await store.save(uow, changed)
        alerts = [c.alert_at for s in changed for c in s.clocks.values() if c.alert_at is not None]
        if alerts:
            await schedule_sweep(uow, min(alerts))
    return total
