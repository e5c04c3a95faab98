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

from helpline.db.base import utcnow
from helpline.domains.automation.sla import policy, store
from helpline.domains.automation.sla.clocks import RUNNING, plan
from helpline.domains.automation.sla.engine import _choose, schedule_sweep

if TYPE_CHECKING:
    from helpline.platform.runtime import Platform

PAGE = 2000
s_t = store.summary_t
c_t = store.clocks_t


async def schedule_changed(platform: Platform, schedule_id: int, *, page: int = PAGE) -> int:
    """Plan again every running clock of tickets under ``schedule_id``; how many clocks."""
    after, total = 0, 0
    while True:
        async with platform.db.transaction() as uow:
            ids: list[int] = list(
                (
                    await uow.execute(
                        sa.select(s_t.c.ticket_id)
                        .where(s_t.c.schedule_id == schedule_id, s_t.c.ticket_id > after)
                        .order_by(s_t.c.ticket_id)
                        .limit(page)
                    )
                ).scalars()
            )
            if not ids:
                return total
            after = ids[-1]
            hours = await store.hours(uow.conn, [schedule_id])
            rows = (
                (await uow.execute(sa.select(c_t).where(c_t.c.ticket_id.in_(ids), c_t.c.state == RUNNING)))
                .mappings()
                .all()
            )
            updates: list[dict[str, Any]] = []
            for r in rows:
                clock = store.clock_of(r)
                if clock.target is None:
                    continue
                plan(clock, hours)
                updates.append(
                    {
                        "t": r["ticket_id"],
                        "m": r["metric"],
                        "due": clock.due_at,
                        "warn": clock.warn_at,
                        "alert": clock.alert_at,
                    }
                )
            total += len(updates)
            if updates:
                await uow.execute(
                    c_t.update()
                    .where(c_t.c.ticket_id == sa.bindparam("t"), c_t.c.metric == sa.bindparam("m"))
                    .values(
                        due_at=sa.bindparam("due"),
                        warn_at=sa.bindparam("warn"),
                        alert_at=sa.bindparam("alert"),
                    ),
                    updates,
                )
                await _summaries(uow, ids)
                soonest = min((u["alert"] for u in updates if u["alert"] is not None), default=None)
                if soonest is not None:
                    await schedule_sweep(uow, soonest)


async def _summaries(uow: Any, ids: list[int]) -> None:
    """Each ticket's soonest due and warning times again, from its clocks."""
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
    after, total = 0, 0
    while True:
        at = now or utcnow()
        async with platform.db.transaction() as uow:
            ids: list[int] = list(
                (
                    await uow.execute(
                        sa.select(s_t.c.ticket_id)
                        .where(s_t.c.workspace_id == workspace_id, s_t.c.ticket_id > after)
                        .order_by(s_t.c.ticket_id)
                        .limit(page)
                    )
                ).scalars()
            )
            if not ids:
                return total
            after = ids[-1]
            states = await store.load(uow.conn, ids)
            states = {t: s for t, s in states.items() if s.facts.status not in ("solved", "closed")}
            facts = await policy.ticket_facts(uow.conn, list(states))
            space = (await policy.workspaces(uow.conn, [workspace_id]))[workspace_id]
            schedules = {s.schedule_id for s in states.values()} | {
                space.schedule_for(f) for f in facts.values()
            }
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
