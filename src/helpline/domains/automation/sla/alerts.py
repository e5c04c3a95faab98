"""Warnings and breaches, fired on time by the job runner, once per ticket, target and cycle.

:func:`sweep` takes the tickets whose soonest alert (``ticket_sla.next_alert_at``) has come (``FOR
UPDATE SKIP LOCKED`` on PostgreSQL, so two workers take different tickets), writes for each of their
clocks whose ``alert_at`` has come the ``warn`` / ``breach`` SLA event
(the partial unique index makes a second write of the same alert a no-op) and, only for the one
that wrote it, runs the policy's escalations: the ticket's own changes through the tickets service
(raise priority, reassign, tag; the history shows them), people notified by mail and webhooks
called by jobs after commit. The sweep job (``sla.sweep``) then schedules itself for the next
alert, at that second when it is within a minute. An alert found more than :data:`STALE` late (a
ticket imported with its history, a worker down for a day) is recorded without its escalation."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from helpline.db.base import utcnow
from helpline.domains.automation.models import SlaPolicy
from helpline.domains.automation.sla import store
from helpline.domains.automation.sla.engine import schedule_sweep
from helpline.domains.tickets import service as tickets
from helpline.platform import jobs
from helpline.platform.db import UnitOfWork

if TYPE_CHECKING:
    from helpline.platform.runtime import Platform

STALE = timedelta(hours=24)
policies_t = SlaPolicy.__table__


async def sweep(platform: Platform, now: datetime | None = None, *, limit: int = 500) -> int:
    """Fire the warnings and breaches due by ``now``; how many fired."""
    now = now or utcnow()
    s = store.summary_t
    q = sa.select(s.c.ticket_id).where(s.c.next_alert_at <= now).order_by(s.c.next_alert_at).limit(limit)
    fired = 0
    async with platform.db.transaction() as uow:
        if uow.dialect == "postgresql":
            q = q.with_for_update(skip_locked=True)
        due: list[int] = list((await uow.execute(q)).scalars())
        if due:
            fired = await _fire(uow, platform, due, now)
        upcoming = (
            await uow.execute(sa.select(sa.func.min(s.c.next_alert_at)).where(s.c.next_alert_at > now))
        ).scalar()
        if upcoming is not None:
            await schedule_sweep(uow, upcoming, now)
    return fired


async def _fire(uow: UnitOfWork, platform: Platform, due: Sequence[int], now: datetime) -> int:
    states = await store.load(uow.conn, sorted(due))
    escalations = await _escalations(uow, {s.policy_id for s in states.values() if s.policy_id})
    fired = 0
    ripe = [
        (state, metric, clock)
        for state in states.values()
        for metric, clock in state.clocks.items()
        if clock.alert_at is not None and clock.alert_at <= now
    ]
    ripe.sort(key=lambda r: (r[2].alert_at, r[0].ticket_id, r[1]))
    for state, metric, clock in ripe:
        for stage, at in (("warn", clock.warn_at), ("breach", clock.due_at)):
            seen = clock.warned_at if stage == "warn" else clock.breached_at
            if at is None or at > now or seen is not None or clock.state != "running":
                continue
            # A warning whose breach is due too is recorded, and only the breach escalates.
            late_warn = stage == "warn" and clock.due_at is not None and clock.due_at <= now
            late = now - at > STALE
            claimed = await _claim(uow, state, metric, clock.cycle, stage, at, late)
            if stage == "warn":
                clock.warned_at = now
            else:
                clock.breached_at = now
            if not claimed:
                continue  # fired already (another worker, or a write that raced this one)
            fired += 1
            if not late and not late_warn:
                await _escalate(
                    uow, platform, state, metric, stage, at, escalations.get(state.policy_id, []), clock.cycle
                )
    await store.save(uow, states.values())
    return fired


async def _claim(
    uow: UnitOfWork, state: store.State, metric: str, cycle: int, stage: str, at: datetime, late: bool
) -> bool:
    """Write the alert's SLA event unless it exists (another worker, an earlier round): whether
    this call wrote it."""
    row = {
        "workspace_id": state.workspace_id,
        "ticket_id": state.ticket_id,
        "kind": stage,
        "metric": metric,
        "cycle": cycle,
        "at": at,
        "data": {"late": True} if late else {},
    }
    where = sa.text("kind IN ('warn', 'breach')")
    if uow.dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    stmt = (
        insert(store.events_t)
        .values(**row)
        .on_conflict_do_nothing(index_elements=["ticket_id", "metric", "cycle", "kind"], index_where=where)
        .returning(store.events_t.c.id)
    )
    return (await uow.execute(stmt)).first() is not None


async def _escalations(uow: UnitOfWork, policy_ids: set[int | None]) -> dict[int | None, list[Any]]:
    ids = [p for p in policy_ids if p is not None]
    if not ids:
        return {}
    rows = await uow.execute(
        sa.select(policies_t.c.id, policies_t.c.escalations).where(policies_t.c.id.in_(ids))
    )
    return {r.id: list(r.escalations or []) for r in rows}


async def _escalate(
    uow: UnitOfWork,
    platform: Platform,
    state: store.State,
    metric: str,
    stage: str,
    at: datetime,
    rules: list[Any],
    cycle: int,
) -> None:
    chosen = [
        r
        for r in rules
        if isinstance(r, dict) and r.get("on") == stage and (not r.get("metrics") or metric in r["metrics"])
    ]
    if not chosen:
        return
    ticket_actions: list[dict[str, Any]] = []
    done: list[str] = []
    notify: dict[str, set[int]] = defaultdict(set)
    for rule in chosen:
        for action in rule.get("actions") or []:
            kind = action.get("type")
            if kind == "notify":
                notify["users"] |= {int(u) for u in action.get("user_ids") or []}
                notify["groups"] |= {int(g) for g in action.get("group_ids") or []}
            elif kind == "webhook" and action.get("url"):
                await jobs.enqueue(
                    uow,
                    "sla.webhook",
                    {
                        "id": f"sla_{state.ticket_id}_{metric}_{cycle}_{stage}",
                        "url": action["url"],
                        # Not the secret: the job reads it from the policy when it sends (jobs keep
                        # their arguments, dead ones included).
                        "policy_id": state.policy_id,
                        "workspace_id": state.workspace_id,
                        "ticket_id": state.ticket_id,
                        "metric": metric,
                        "stage": stage,
                        "due_at": at.isoformat(),
                    },
                )
                done.append("called a webhook")
            else:
                ticket_actions.append(action)
    if notify:
        await jobs.enqueue(
            uow,
            "sla.notify",
            {
                "ticket_id": state.ticket_id,
                "metric": metric,
                "stage": stage,
                "due_at": at.isoformat(),
                "user_ids": sorted(notify["users"]),
                "group_ids": sorted(notify["groups"]),
            },
        )
        done.append("notified people")
    await tickets.escalate(
        uow,
        platform.pubsub,
        state.ticket_id,
        metric=metric,
        stage=stage,
        due_at=at,
        actions=ticket_actions,
        done=done,
    )
