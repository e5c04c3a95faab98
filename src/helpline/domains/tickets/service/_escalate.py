"""An SLA escalation's changes to a ticket, written as Helpline's own (``automation.sla.alerts``
decides when and what; this writes it, with the history's sentence)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from helpline.db.base import utcnow
from helpline.domains.tickets import lifecycle
from helpline.domains.tickets.events import SlaAlert, TicketEvent
from helpline.domains.tickets.models import Priority
from helpline.domains.tickets.service._common import check_assignee, check_group, tickets
from helpline.domains.tickets.service._update import _change, _update_tags, _write
from helpline.errors import Problem
from helpline.platform.db import UnitOfWork
from helpline.platform.pubsub import PubSub

_RANK = {p.value: i for i, p in enumerate(Priority)}


async def escalate(
    uow: UnitOfWork,
    pubsub: PubSub,
    ticket_id: int,
    *,
    metric: str,
    stage: str,
    due_at: datetime | None,
    actions: Sequence[Mapping[str, Any]] = (),
    done: Sequence[str] = (),
) -> list[str]:
    """Record that ``metric`` warned or breached on the ticket and apply the escalation's ticket
    actions (``priority`` raises only, never lowers; ``assign`` a person or group of the workspace;
    ``tag``), as the system. ``done`` are sentences of what was done elsewhere (people notified, a
    webhook called). A closed ticket gets the record alone. The sentences of what was done."""
    row = (await uow.execute(sa.select(tickets).where(tickets.c.id == ticket_id))).mappings().first()
    if row is None:
        return []
    ticket = dict(row)
    values: dict[str, Any] = {}
    events: list[TicketEvent] = []
    said = list(done)
    if lifecycle.may_change(ticket["status"]):
        for action in actions:
            try:
                said += await _act(uow, ticket, values, events, action)
            except Problem as exc:  # a person or group removed since the policy was saved
                said.append(f"could not {action.get('type')}: {exc.detail}")
    events.append(SlaAlert(metric, stage, due_at.isoformat() if due_at else "", tuple(said)))
    await _write(uow, pubsub, None, ticket, values, events, utcnow(), check_version=False)
    return said


async def _act(
    uow: UnitOfWork,
    ticket: dict[str, Any],
    values: dict[str, Any],
    events: list[TicketEvent],
    action: Mapping[str, Any],
) -> list[str]:
    kind, ws = action.get("type"), ticket["workspace_id"]
    if kind == "priority":
        wanted = str(action.get("value"))
        current = values.get("priority", ticket["priority"])
        if _RANK.get(wanted, -1) > _RANK.get(current, -1):
            _change(ticket, values, events, "priority", wanted)
            return [f"raised the priority to {wanted}"]
        return []
    if kind == "assign":
        said = []
        if action.get("group_id"):
            await check_group(uow, ws, int(action["group_id"]))
            _change(ticket, values, events, "group_id", int(action["group_id"]))
            said.append("reassigned the group")
        if action.get("user_id"):
            await check_assignee(uow, ws, int(action["user_id"]))
            _change(ticket, values, events, "assignee_id", int(action["user_id"]))
            said.append("reassigned the ticket")
        return said
    if kind == "tag" and action.get("tag"):
        before = len(events)
        await _update_tags(uow, ticket, {"add_tags": [str(action["tag"])]}, events)
        return [f"tagged it {action['tag']}"] if len(events) > before else []
    return []
