"""Recomputing open tickets' clocks after a configuration change.

- A schedule edit (``sla.recompute``): every running clock under that schedule gets its due and
  warning times again. Nothing else changes: the time each clock counted stays counted (the
  schedule's earlier version covers the time before the edit, ``clocks.Hours``).
- A policy or group-schedule change (``sla.reapply``): every unsolved ticket of the workspace is
  matched again and, where the policy, its targets or the schedule differ, they apply from now.

Both walk the tickets in pages by id, one transaction a page, so a restart simply runs them again.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from helpline.db.base import UTCDateTime, utcnow
from helpline.domains.automation.sla import policy, store
from helpline.domains.automation.sla.engine import _choose, schedule_sweep
from helpline.platform.db import UnitOfWork

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

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
    clocks. The due and warning times are :func:`clocks.plan`'s (``Hours.add``, on timestamps); the
    clocks and summaries of a page are written with one statement each on PostgreSQL."""
    total = 0
    async for uow, first, ids in _pages(platform, s_t.c.schedule_id == schedule_id, page):
        after = ids[-1]
        planner = await store.hours(uow.conn, [schedule_id])
        rows: list[Any] = list(
            await uow.execute(_RUNNING, {"sid": schedule_id, "after": first, "last": after})
        )
        updates: list[tuple[int, str, datetime | None, datetime | None, datetime | None]] = []
        for t, m, since, eb, ec, target, warn, business, sid, fresh, unbreached in rows:
            rest = target - (eb if business else ec)
            due = planner.add(sid if business else None, since, rest)
            warn_at = planner.add(sid if business else None, since, rest - warn) if warn > 0 else None
            alert = warn_at if warn_at is not None and fresh else (due if unbreached else None)
            updates.append((t, m, due, warn_at, alert))
        total += len(updates)
        if updates:
            await _write_plans(uow, updates)
            await _summaries(uow, ids)
            soonest = min((u[4] for u in updates if u[4] is not None), default=None)
            if soonest is not None:
                await schedule_sweep(uow, soonest)
    return total


#: A page's running clocks (``clocks.RUNNING``) with a target, of tickets whose summary names the
#: schedule.
_RUNNING = (
    sa.text(
        "SELECT c.ticket_id, c.metric, c.since, c.elapsed_business, c.elapsed_calendar, c.target_seconds,"
        " c.warn_seconds, c.business, c.schedule_id,"
        " c.warned_at IS NULL AND c.breached_at IS NULL, c.breached_at IS NULL"
        " FROM ticket_clocks c JOIN ticket_sla s ON s.ticket_id = c.ticket_id"
        " WHERE s.schedule_id = :sid AND c.ticket_id > :after AND c.ticket_id <= :last"
        " AND c.state = 'running' AND c.target_seconds IS NOT NULL"
    )
    .bindparams(sa.bindparam("after", type_=sa.BigInteger), sa.bindparam("last", type_=sa.BigInteger))
    .columns(
        sa.column("ticket_id", sa.BigInteger),
        sa.column("metric", sa.String),
        sa.column("since", UTCDateTime()),
        sa.column("elapsed_business", sa.Float),
        sa.column("elapsed_calendar", sa.Float),
        sa.column("target_seconds", sa.Integer),
        sa.column("warn_seconds", sa.Integer),
        sa.column("business", sa.Boolean),
        sa.column("schedule_id", sa.BigInteger),
        sa.column("fresh", sa.Boolean),
        sa.column("unbreached", sa.Boolean),
    )
)


async def _write_plans(
    uow: Any, updates: list[tuple[int, str, datetime | None, datetime | None, datetime | None]]
) -> None:
    if uow.dialect == "postgresql":
        cols = list(zip(*updates, strict=True))
        await uow.execute(
            sa.text(
                "UPDATE ticket_clocks c SET due_at = u.due, warn_at = u.warn, alert_at = u.alert"
                " FROM unnest(CAST(:t AS BIGINT[]), CAST(:m AS TEXT[]), CAST(:due AS TIMESTAMPTZ[]),"
                " CAST(:warn AS TIMESTAMPTZ[]), CAST(:alert AS TIMESTAMPTZ[])) AS u(t, m, due, warn, alert)"
                " WHERE c.ticket_id = u.t AND c.metric = u.m"
            ),
            {
                "t": list(cols[0]),
                "m": list(cols[1]),
                "due": list(cols[2]),
                "warn": list(cols[3]),
                "alert": list(cols[4]),
            },
        )
        return
    await uow.execute(
        c_t.update()
        .where(c_t.c.ticket_id == sa.bindparam("t"), c_t.c.metric == sa.bindparam("m"))
        .values(due_at=sa.bindparam("due"), warn_at=sa.bindparam("warn"), alert_at=sa.bindparam("alert")),
        [{"t": t, "m": m, "due": d, "warn": w, "alert": a} for t, m, d, w, a in updates],
    )


async def _summaries(uow: Any, ids: list[int]) -> None:
    """Each ticket's soonest due and warning times again, from its clocks."""
    if uow.dialect == "postgresql":
        await uow.execute(
            sa.text(
                "UPDATE ticket_sla s SET next_due_at = x.due, next_warn_at = x.warn"
                " FROM (SELECT i.id, min(c.due_at) AS due, min(c.warn_at) AS warn"
                "  FROM unnest(CAST(:ids AS BIGINT[])) AS i(id)"
                "  LEFT JOIN ticket_clocks c ON c.ticket_id = i.id AND c.breached_at IS NULL"
                "  GROUP BY i.id) AS x"
                " WHERE s.ticket_id = x.id"
            ),
            {"ids": ids},
        )
        return
    running = sa.and_(c_t.c.ticket_id == s_t.c.ticket_id, c_t.c.breached_at.is_(None))
    await uow.execute(
        s_t.update()
        .where(s_t.c.ticket_id.in_(ids))
        .values(
            next_due_at=sa.select(sa.func.min(c_t.c.due_at)).where(running).scalar_subquery(),
            next_warn_at=sa.select(sa.func.min(c_t.c.warn_at)).where(running).scalar_subquery(),
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
