"""Triggers: rules checked on each change to a ticket (docs/automation.md), a consumer of the ticket
events feed (``automation.triggers``).

- A *change* is the events one write made: the same ticket, time and actor. Changes by people (an
  agent, a customer) and by time rules are checked; Helpline's own (a bounce, an SLA escalation, a
  trigger's actions) are not: a trigger's actions are checked within the change that fired it.
- For each change the workspace's active triggers are checked in order against the ticket as it
  is now plus the change's facts (``update_type``, ``changed``, ``actor``, ``comment``; the
  condition language's trigger fields). A trigger that matches applies its actions through the
  tickets service (``apply_rule``) in the feed's transaction, so the change counts once; then the
  check starts over from the first trigger with the ticket as the actions left it and their fields
  added to ``changed``. Each trigger fires at most once per change, so two that undo each other
  stop; after :data:`CAP` firings the change is left as it is and the cap logged.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

import sqlalchemy as sa

from helpline.domains.accounts.principal import Principal
from helpline.domains.automation import actions as acts
from helpline.domains.automation import conditions
from helpline.domains.automation.models import Trigger
from helpline.domains.automation.rule_book import RuleBook, check_parts
from helpline.domains.automation.sla import policy
from helpline.domains.tickets import service as tickets_service
from helpline.domains.tickets.feed import SOURCE
from helpline.platform import feed
from helpline.platform.db import UnitOfWork

log = logging.getLogger(__name__)
CONSUMER = "automation.triggers"
triggers_t = Trigger.__table__
#: The most trigger firings one change may cause.
CAP = 10
#: An event's field -> the name ``changed`` uses.
_FIELD = {"custom_fields": "custom"}
#: What each action type changes, in ``changed``'s names.
_CHANGES = {
    "set_status": "status",
    "set_priority": "priority",
    "set_type": "type",
    "set_group": "group_id",
    "set_assignee": "assignee_id",
    "add_tags": "tags",
    "remove_tags": "tags",
}


async def check_trigger(
    uow: UnitOfWork, actor: Principal, conds: Any, actions: Any
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    return await check_parts(uow, actor, conds, actions, trigger=True)


BOOK = RuleBook(triggers_t, "trigger", check_trigger)


# --- the feed consumer -------------------------------------------------------------------------------


def changes(rows: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """The changes in a batch of event rows (in order): ``(ticket, facts of the change)`` for each
    one triggers check."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[(r["ticket_id"], r["created_at"], r.get("actor_user_id"), r.get("actor_kind"))].append(r)
    out = []
    for (ticket_id, _at, _uid, kind), events in groups.items():
        rules = {str((e.get("new") or {}).get("rule")) for e in events if e["kind"] == "rule_applied"}
        if "trigger" in rules:
            continue  # a trigger's own actions: checked in the change that fired it
        if kind not in ("agent", "customer") and not rules & {"time_rule", "macro"}:
            continue  # Helpline's own (a bounce, an escalation, an import's history)
        changed = {
            _FIELD.get(str(e["field"]), str(e["field"]))
            for e in events
            if e["kind"] == "field_changed" and e.get("field")
        }
        messages = [e.get("new") or {} for e in events if e["kind"] == "message_added"]
        comment = (
            "public"
            if any(m.get("public") for m in messages if isinstance(m, dict))
            else "internal"
            if messages
            else "none"
        )
        out.append(
            (
                int(ticket_id),
                {
                    "update_type": "created" if any(e["kind"] == "created" for e in events) else "updated",
                    "changed": sorted(changed),
                    "actor": kind if kind in ("agent", "customer") else "system",
                    "comment": comment,
                },
            )
        )
    return out


async def on_events(batch: feed.Batch) -> None:
    assert batch.uow is not None
    found = changes(batch.rows)
    if not found:
        return
    uow = batch.uow
    ids = sorted({t for t, _ in found})
    spaces = {int(r["workspace_id"]) for r in batch.rows}
    rows = await uow.execute(
        sa.select(triggers_t)
        .where(triggers_t.c.workspace_id.in_(sorted(spaces)), triggers_t.c.active.is_(True))
        .order_by(triggers_t.c.position, triggers_t.c.id)
    )
    by_space: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in rows.mappings():
        by_space[int(r["workspace_id"])].append(dict(r))
    if not by_space:
        return
    facts = await policy.ticket_facts(uow.conn, ids)
    for ticket_id, change in found:
        now = facts.get(ticket_id)
        if now is None or not by_space.get(int(now["workspace_id"])):
            continue
        await _fire(uow, batch.platform, ticket_id, change, by_space[int(now["workspace_id"])], now)


async def _fire(
    uow: UnitOfWork,
    platform: Any,
    ticket_id: int,
    change: dict[str, Any],
    triggers: list[dict[str, Any]],
    now: dict[str, Any],
) -> None:
    """Check the triggers against one change until none fires (each at most once; :data:`CAP`)."""
    fired: set[int] = set()
    changed = set(change["changed"])
    facts = {**now, **change}
    while True:
        hit = next(
            (t for t in triggers if t["id"] not in fired and conditions.matches(t["conditions"], facts)), None
        )
        if hit is None:
            return
        if len(fired) >= CAP:
            log.warning(
                "triggers: ticket %s hit the cap of %d firings in one change; %r left",
                ticket_id,
                CAP,
                hit["name"],
            )
            return
        fired.add(hit["id"])
        said = await tickets_service.apply_rule(
            uow,
            platform.pubsub,
            ticket_id,
            rule="trigger",
            rule_id=int(hit["id"]),
            name=str(hit["name"]),
            actions=hit["actions"],
            describe=acts.describe,
        )
        if said is None:
            return  # closed or gone
        changed |= {_CHANGES[a["type"]] for a in hit["actions"] if a["type"] in _CHANGES}
        again = await policy.ticket_facts(uow.conn, [ticket_id])
        facts = {**again.get(ticket_id, now), **change, "changed": sorted(changed)}


def install() -> None:
    """Register the triggers on the ticket events feed (once per process)."""
    if CONSUMER not in feed.REGISTRY.consumers:
        feed.REGISTRY.consumer(SOURCE, CONSUMER, on_events)


install()
