"""A rule's actions on a ticket (a time rule now; triggers and macros later), written as the rule's
own change: each change its usual event, and a ``rule_applied`` event naming the rule and what it
did, so the history reads "Time rule “Close after 7 days”: set the status to closed". The actions
were checked when the rule was saved (``automation.actions.validate``); what no longer holds (a
group deleted since, a status the ticket may not take) is skipped and said."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from helpline.db.base import utcnow
from helpline.domains.tickets import lifecycle
from helpline.domains.tickets.events import RuleApplied, TicketEvent
from helpline.domains.tickets.service._common import check_assignee, check_group, tickets
from helpline.domains.tickets.service._notes import add_system_note
from helpline.domains.tickets.service._update import _change, _update_tags, _write
from helpline.errors import Problem
from helpline.platform.db import UnitOfWork
from helpline.platform.pubsub import PubSub

#: Action type -> the ticket column it sets.
_SETS = {
    "set_status": "status",
    "set_priority": "priority",
    "set_type": "type",
    "set_group": "group_id",
    "set_assignee": "assignee_id",
}


async def apply_rule(
    uow: UnitOfWork,
    pubsub: PubSub,
    ticket_id: int,
    *,
    rule: str,
    rule_id: int,
    name: str,
    actions: Sequence[Mapping[str, Any]],
    describe: Any,
) -> list[str] | None:
    """Apply ``actions`` to the ticket as rule ``rule_id`` (``rule`` is its kind, ``name`` its name
    now); the sentences of what it did (``describe(action)`` gives one; none: nothing was written),
    or None when the ticket is gone or closed (a closed ticket is final)."""
    row = (
        (await uow.execute(sa.select(tickets).where(tickets.c.id == ticket_id).with_for_update()))
        .mappings()
        .first()
    )
    if row is None or not lifecycle.may_change(row["status"]):
        return None
    ticket = dict(row)
    values: dict[str, Any] = {}
    events: list[TicketEvent] = []
    said: list[str] = []
    notes: list[str] = []
    for action in actions:
        kind, value = str(action["type"]), action.get("value")
        try:
            before = (dict(values), len(events))
            if kind in _SETS:
                column = _SETS[kind]
                if kind == "set_group" and value is not None:
                    await check_group(uow, ticket["workspace_id"], int(value))
                if kind == "set_assignee" and value is not None:
                    await check_assignee(uow, ticket["workspace_id"], int(value))
                if values.get(column, ticket[column]) != value:
                    ticket_now = {**ticket, **values}
                    _change(ticket_now, values, events, column, value)
            elif kind in ("add_tags", "remove_tags"):
                await _update_tags(uow, {**ticket, **values}, {kind: list(value or [])}, events)
            elif kind == "add_note":
                notes.append(str(value))
            if kind == "add_note" or (values, len(events)) != before:
                said.append(describe(action))
        except Problem as exc:  # a group or person removed since the rule was saved, a status refused
            said.append(f"could not {describe(action)}: {exc.detail}")
    if not said:
        return said  # nothing to change: nothing written, not even the rule's name
    events.append(RuleApplied(rule, rule_id, name, tuple(said)))
    await _write(uow, pubsub, None, ticket, values, events, utcnow(), check_version=False)
    for text in notes:
        await add_system_note(uow, pubsub, ticket, text=text, channel="api")
    return said
