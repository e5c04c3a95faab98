"""Which SLA policy and which schedule apply to a ticket, and the targets they give it.

The first active policy (by position) whose conditions match the ticket's facts applies; the
workspace's fallback applies when none does; a ticket with neither has clocks without targets
(still measured). The schedule is the ticket's group's, else the workspace's default, else none
(around the clock)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.domains.automation import conditions, schedules, sla_policies
from helpline.domains.automation.models import TicketSlaSummary
from helpline.domains.automation.sla.clocks import METRICS, Target
from helpline.domains.automation.sla_policies import PolicyRow
from helpline.domains.customers.models import Organization
from helpline.domains.tickets.models import Ticket, TicketTag

tickets_t = Ticket.__table__
tags_t = TicketTag.__table__
orgs_t = Organization.__table__
sla_t = TicketSlaSummary.__table__


def targets_for(policy: PolicyRow, priority: str) -> dict[str, Target | None]:
    """The policy's targets for ``priority`` by metric, in seconds."""
    mine = policy.targets.get(priority) or {}
    out: dict[str, Target | None] = {}
    for m in METRICS:
        t = mine.get(m)
        out[m] = (
            Target(int(t["minutes"]) * 60, bool(t.get("business", True)), int(t.get("warn", 0)) * 60)
            if t
            else None
        )
    return out


@dataclass
class Workspace:
    """What a workspace's tickets are matched against: its policies in match order (the fallback
    last) and its choice of schedules."""

    policies: list[PolicyRow]
    schedules: tuple[int | None, dict[int, int]]

    def policy_for(self, facts: Mapping[str, Any]) -> PolicyRow | None:
        for p in self.policies:
            if p.is_fallback or conditions.matches(p.conditions, facts):
                return p
        return None

    def schedule_for(self, facts: Mapping[str, Any]) -> int | None:
        return schedules.pick(self.schedules, facts.get("group_id"))


async def workspaces(conn: AsyncConnection, ids: Iterable[int]) -> dict[int, Workspace]:
    """The policies and schedules of each workspace."""
    return {
        ws: Workspace(await sla_policies.policies_for(conn, ws), await schedules.schedule_choice(conn, ws))
        for ws in set(ids)
    }


async def ticket_facts(
    conn: AsyncConnection, ticket_ids: Sequence[int], *, timed: bool = False
) -> dict[int, dict[str, Any]]:
    """What policy conditions look at, per ticket (as it is now); with ``timed``, also what the
    timed fields count from (``created_at``, ``updated_at``, ``solved_at``, ``next_due_at``)."""
    if not ticket_ids:
        return {}
    t = tickets_t
    joined = t.outerjoin(orgs_t, orgs_t.c.id == t.c.organization_id)
    extra: list[Any] = []
    if timed:
        joined = joined.outerjoin(sla_t, sla_t.c.ticket_id == t.c.id)
        extra = [t.c.created_at, t.c.updated_at, t.c.solved_at, sla_t.c.next_due_at]
    rows = await conn.execute(
        sa.select(
            t.c.id,
            t.c.workspace_id,
            t.c.status,
            t.c.priority,
            t.c.type,
            t.c.channel,
            t.c.group_id,
            t.c.organization_id,
            t.c.assignee_id,
            t.c.requester_id,
            t.c.custom,
            orgs_t.c.attributes,
            *extra,
        )
        .select_from(joined)
        .where(t.c.id.in_(ticket_ids))
    )
    out: dict[int, dict[str, Any]] = {}
    for r in rows.mappings():
        facts = dict(r)
        attributes = facts.pop("attributes") or {}
        facts["key_account_level"] = attributes.get("key_account_level")
        facts["custom"] = facts.get("custom") or {}
        facts["tags"] = []
        out[r["id"]] = facts
    for tag in await conn.execute(
        sa.select(tags_t.c.ticket_id, tags_t.c.tag).where(tags_t.c.ticket_id.in_(ticket_ids))
    ):
        out[int(tag.ticket_id)]["tags"].append(tag.tag)
    return out
