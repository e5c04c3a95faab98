"""The SLA engine: a consumer of ticket events on the durable feed (``sla.clocks``).

Each batch holds one bucket's events in order. Per ticket, the stored clocks are folded through
its events at the times they happened (an imported ticket's history counts as if live); a change of
what a policy looks at (priority, group, type, organization, requester, tags, custom fields)
chooses the policy and schedule again and applies them from that moment. The clocks, the summary
and the SLA stream are written in the transaction that moves the feed cursor, so each event counts
once. A warning or breach due within a minute gets a sweep job at that second (``alerts``)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from helpline.db.base import utcnow
from helpline.domains.automation.sla import policy, store
from helpline.domains.automation.sla.clocks import Facts, Hours, Machine
from helpline.domains.tickets.feed import SOURCE
from helpline.platform import feed, jobs
from helpline.platform.db import UnitOfWork

CONSUMER = "sla.clocks"
#: Event fields whose change may change the policy or the schedule.
POLICY_FIELDS = frozenset(
    {"priority", "type", "group_id", "organization_id", "requester_id", "tags", "custom_fields", "custom"}
)
#: How far ahead the engine schedules a sweep for a coming alert (the sweep itself looks again
#: at least this often while alerts are pending).
SWEEP_AHEAD = timedelta(seconds=60)


async def on_events(batch: feed.Batch) -> None:
    assert batch.uow is not None
    await apply_events(batch.uow, batch.rows)


async def apply_events(uow: UnitOfWork, rows: list[dict[str, Any]]) -> None:
    """Fold ticket event rows (in order per ticket) into their tickets' clocks."""
    by_ticket: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_ticket[r["ticket_id"]].append(r)
    conn = uow.conn
    states = await store.load(conn, list(by_ticket))
    relevant = [
        tid for tid, evs in by_ticket.items() if tid not in states or any(_moves_policy(e) for e in evs)
    ]
    facts = await policy.ticket_facts(conn, relevant)
    spaces = await policy.workspaces(conn, {f["workspace_id"] for f in facts.values()})
    schedule_ids: set[int | None] = {s.schedule_id for s in states.values()}
    schedule_ids |= {spaces[f["workspace_id"]].schedule_for(f) for f in facts.values()}
    hours = await store.hours(conn, schedule_ids)
    changed: list[tuple[store.State, Machine]] = []
    for tid, evs in by_ticket.items():
        state = states.get(tid)
        m: Machine | None = state.machine(hours) if state else None
        for e in evs:
            m, state = _fold(m, state, e, facts.get(tid), spaces, hours)
        if m is not None and state is not None and (m.recorded or tid not in states):
            state.clocks, state.facts = m.clocks, m.facts
            changed.append((state, m))
    await _write(uow, changed)


def _moves_policy(e: dict[str, Any]) -> bool:
    return e["kind"] == "created" or (e["kind"] == "field_changed" and e["field"] in POLICY_FIELDS)


def _fold(
    m: Machine | None,
    state: store.State | None,
    e: dict[str, Any],
    facts: dict[str, Any] | None,
    spaces: dict[int, policy.Workspace],
    hours: Hours,
) -> tuple[Machine | None, store.State | None]:
    at: datetime = e["created_at"]
    new = e.get("new")
    kind = e["kind"]
    if kind == "created":
        state = store.State(e["ticket_id"], e["workspace_id"], {}, Facts())
        m = Machine(hours)
        m.created(at, (new or {}).get("status") or "new")
    if m is None or state is None:
        return m, state  # events of a ticket the engine never saw created
    if kind == "message_added" and isinstance(new, dict):
        m.message(at, new.get("author_kind"), bool(new.get("public")))
    elif kind == "field_changed" and e["field"] == "status" and isinstance(new, str):
        m.status(at, new)
    if _moves_policy(e) and facts is not None:
        _choose(m, state, at, facts, spaces[facts["workspace_id"]])
    return m, state


def _choose(
    m: Machine, state: store.State, at: datetime, facts: dict[str, Any], space: policy.Workspace
) -> None:
    """Apply the policy and schedule the ticket's facts choose, when they differ from the applied ones."""
    chosen = space.policy_for(facts)
    targets = policy.targets_for(chosen, facts["priority"]) if chosen else {}
    schedule_id = space.schedule_for(facts)
    applied = {k: c.target for k, c in m.clocks.items()}
    wanted = {k: targets.get(k) for k in m.clocks}
    policy_id = chosen.id if chosen else None
    if policy_id == state.policy_id and schedule_id == state.schedule_id and applied == wanted:
        return
    state.policy_id, state.schedule_id = policy_id, schedule_id
    m.apply(at, policy_id, targets, schedule_id)


async def _write(uow: UnitOfWork, changed: list[tuple[store.State, Machine]]) -> None:
    if not changed:
        return
    for state, m in changed:
        await store.record(uow, state.ticket_id, state.workspace_id, m.recorded)
    await store.save(uow, [s for s, _ in changed])
    alerts = [c.alert_at for s, _ in changed for c in s.clocks.values() if c.alert_at is not None]
    if alerts:
        await schedule_sweep(uow, min(alerts))


async def schedule_sweep(uow: UnitOfWork, at: datetime, now: datetime | None = None) -> None:
    """Make sure a sweep runs at ``at`` (to the second) when it is within :data:`SWEEP_AHEAD`, and
    one within a minute otherwise (at most one queued job per second or per minute: the dedupe key
    names the time)."""
    now = now or utcnow()
    if at - now <= SWEEP_AHEAD:
        when = max(at, now)
        when = when.replace(microsecond=0) + timedelta(seconds=1 if when.microsecond else 0)
    else:
        when = (now + SWEEP_AHEAD).replace(second=0, microsecond=0)
    await jobs.enqueue(
        uow, "sla.sweep", {}, dedupe_key=f"sla.sweep@{when.isoformat()}", delay=max(when - now, timedelta(0))
    )


def install() -> None:
    """Register the engine on the ticket events feed (once per process)."""
    if CONSUMER not in feed.REGISTRY.consumers:
        feed.REGISTRY.consumer(SOURCE, CONSUMER, on_events)
