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

from helpline.domains.automation import conditions
from helpline.domains.automation.models import Schedule, ScheduleGroup, SlaPolicy
from helpline.domains.automation.sla.clocks import METRICS, Target
from helpline.domains.customers.models import Organization
from helpline.domains.tickets.models import Ticket, TicketTag

policies_t = SlaPolicy.__table__
schedules_t = Schedule.__table__
groups_t = ScheduleGroup.__table__
tickets_t = Ticket.__table__
tags_t = TicketTag.__table__
orgs_t = Organization.__table__


@dataclass(frozen=True)
class Policy:
    id: int
    conditions: Mapping[str, Any]
    targets: Mapping[str, Any]
    escalations: Sequence[Mapping[str, Any]]
    is_fallback: bool

    def targets_for(self, priority: str) -> dict[str, Target | None]:
        """The targets of ``priority`` by metric, in seconds."""
        mine = self.targets.get(priority) or {}
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
    """What a workspace's tickets are matched against."""

    policies: list[Policy]
    default_schedule: int | None
    group_schedules: dict[int, int]

    def policy_for(self, facts: Mapping[str, Any]) -> Policy | None:
        for p in self.policies:
            if not p.is_fallback and conditions.matches(p.conditions, facts):
                return p
        return next((p for p in self.policies if p.is_fallback), None)

    def schedule_for(self, facts: Mapping[str, Any]) -> int | None:
        group = facts.get("group_id")
        return self.group_schedules.get(group, self.default_schedule) if group else self.default_schedule


async def workspaces(conn: AsyncConnection, ids: Iterable[int]) -> dict[int, Workspace]:
    """The policies (in match order) and schedules of each workspace."""
    ids = set(ids)
    out = {ws: Workspace([], None, {}) for ws in ids}
    if not ids:
        return out
    rows = await conn.execute(
        sa.select(policies_t)
        .where(policies_t.c.workspace_id.in_(ids), policies_t.c.active.is_(True))
        .order_by(policies_t.c.position, policies_t.c.id)
    )
    for r in rows:
        out[r.workspace_id].policies.append(
            Policy(r.id, r.conditions or {}, r.targets or {}, r.escalations or [], r.is_fallback)
        )
    for r in await conn.execute(
        sa.select(schedules_t.c.id, schedules_t.c.workspace_id).where(
            schedules_t.c.workspace_id.in_(ids), schedules_t.c.is_default.is_(True)
        )
    ):
        out[r.workspace_id].default_schedule = r.id
    for r in await conn.execute(sa.select(groups_t).where(groups_t.c.workspace_id.in_(ids))):
        out[r.workspace_id].group_schedules[r.group_id] = r.schedule_id
    return out


async def ticket_facts(conn: AsyncConnection, ticket_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """What policy conditions look at, per ticket (as it is now)."""
    if not ticket_ids:
        return {}
    t = tickets_t
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
        )
        .select_from(t.outerjoin(orgs_t, orgs_t.c.id == t.c.organization_id))
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
