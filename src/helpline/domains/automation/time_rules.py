"""Time rules ("automations"): conditions over open tickets checked every few minutes by the job
runner, and actions applied to each ticket that matches (docs/automation.md).

- Saving checks the conditions (the condition language with its timed fields, e.g. "hours since
  updated greater than 72"), the actions (``automation.actions``) and that the actions stop the
  conditions (``actions.stops``): a rule that would match the same ticket again after acting is
  refused, naming ``actions``.
- A pass (:func:`run_pass`, the ``automation.time_rules`` job every :data:`EVERY`) runs each active
  rule of each workspace in order over its tickets that are not closed
  (:func:`conditions_sql.where`), at most :data:`LIMIT` tickets a rule and pass. For each ticket,
  under its row lock and only if it has not changed since it matched, it writes
  ``time_rule_runs`` (rule, ticket, period = the ticket's ``updated_at`` when it matched) and
  applies the actions in the same transaction: a second worker, or the pass run again after a
  restart, finds the row (or the ticket changed) and does nothing; the rule acts again only once
  the ticket has changed and matches again.
- A dry run (:func:`dry_run`) shows which of the workspace's latest 1,000 tickets a rule would act on
  now, and what it would do, without saving anything.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.db.base import utcnow
from helpline.domains.accounts.principal import Principal
from helpline.domains.accounts.queries import require_admin, require_staff
from helpline.domains.automation import actions as acts
from helpline.domains.automation import conditions_sql
from helpline.domains.automation.models import TimeRule, TimeRuleRun
from helpline.domains.automation.sla_policies import check_conditions, check_groups, check_users
from helpline.domains.tickets import lifecycle
from helpline.domains.tickets import service as tickets_service
from helpline.domains.tickets.models import Ticket
from helpline.errors import Conflict, Invalid, NotFound
from helpline.platform import jobs
from helpline.platform.db import UnitOfWork

if TYPE_CHECKING:
    from helpline.platform.runtime import Platform

log = logging.getLogger(__name__)
rules_t = TimeRule.__table__
runs_t = TimeRuleRun.__table__
tickets_t = Ticket.__table__
#: How often the job runner runs a pass, and how many tickets one rule acts on in one pass.
EVERY = timedelta(minutes=5)
LIMIT = 1000
#: How many of the latest tickets a dry run looks at.
DRY_RUN_TICKETS = 1000
_NAME_TAKEN = [{"field": "name", "message": "taken"}]


@dataclass
class RuleChanges:
    """What a create or an update sets (None: unchanged on update)."""

    name: str | None = None
    description: str | None = None
    active: bool | None = None
    conditions: Any = None
    actions: Any = None


# --- reading -----------------------------------------------------------------------------------------


def _read(r: Any) -> dict[str, Any]:
    return {
        "id": r["id"],
        "name": r["name"],
        "description": r["description"],
        "position": r["position"],
        "active": r["active"],
        "conditions": r["conditions"] or {"all": [], "any": []},
        "actions": r["actions"] or [],
        "created_at": r["created_at"],
        "updated_at": r["updated_at"],
    }


async def list_rules(conn: AsyncConnection, actor: Principal) -> list[dict[str, Any]]:
    """The workspace's time rules in the order they run (staff only)."""
    require_staff(actor)
    rows = await conn.execute(
        sa.select(rules_t)
        .where(rules_t.c.workspace_id == actor.workspace_id)
        .order_by(rules_t.c.position, rules_t.c.id)
    )
    return [_read(r) for r in rows.mappings()]


async def access_rule(conn: AsyncConnection, actor: Principal, rule_id: int) -> dict[str, Any]:
    require_staff(actor)
    row = (
        (
            await conn.execute(
                sa.select(rules_t).where(
                    rules_t.c.id == rule_id, rules_t.c.workspace_id == actor.workspace_id
                )
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"time rule {rule_id} not found")
    return _read(row)


# --- checking and writing ------------------------------------------------------------------------------


async def check_rule(
    uow: UnitOfWork, actor: Principal, conditions: Any, actions: Any
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The conditions and actions checked (each part named when wrong), and that the actions stop
    the conditions."""
    conds = await check_conditions(uow.conn, actor.workspace_id, conditions, timed=True)
    checked = acts.validate(actions)
    for i, a in enumerate(checked):
        if a["type"] == "set_group" and a["value"] is not None:
            await check_groups(uow, actor, [a["value"]], f"actions[{i}].value")
        if a["type"] == "set_assignee" and a["value"] is not None:
            await check_users(uow, actor, [a["value"]], f"actions[{i}].value")
    if not acts.stops(conds, checked):
        raise Invalid(
            "actions",
            "the actions must make one of the conditions under 'all' false, so the rule acts once per "
            "ticket: e.g. add a tag the conditions exclude, change the status they require, or require "
            "'hours since updated' greater than some hours",
        )
    return conds, checked


async def _check_name(uow: UnitOfWork, actor: Principal, name: str, current_id: int | None) -> str:
    name = name.strip()
    if not name or len(name) > 200:
        raise Invalid("name", "a name of 1 to 200 characters")
    dup = sa.select(rules_t.c.id).where(rules_t.c.workspace_id == actor.workspace_id, rules_t.c.name == name)
    if current_id is not None:
        dup = dup.where(rules_t.c.id != current_id)
    if (await uow.execute(dup)).first():
        raise Conflict(f"a time rule named {name!r} exists", errors=_NAME_TAKEN)
    return name


async def _write(uow: UnitOfWork, stmt: Any) -> Any:
    try:
        async with uow.conn.begin_nested():
            return await uow.execute(stmt)
    except IntegrityError:
        raise Conflict("name: taken by a request that ran at the same time", errors=_NAME_TAKEN) from None


async def do_create(uow: UnitOfWork, actor: Principal, data: RuleChanges) -> int:
    require_admin(actor)
    name = await _check_name(uow, actor, data.name or "", None)
    conds, checked = await check_rule(uow, actor, data.conditions, data.actions)
    last = (
        await uow.execute(
            sa.select(sa.func.max(rules_t.c.position)).where(rules_t.c.workspace_id == actor.workspace_id)
        )
    ).scalar()
    now = utcnow()
    rule_id = (
        await _write(
            uow,
            rules_t.insert()
            .values(
                workspace_id=actor.workspace_id,
                name=name,
                description=(data.description or "").strip()[:2000],
                position=(last or 0) + 1,
                active=True if data.active is None else data.active,
                conditions=conds,
                actions=checked,
                created_at=now,
                updated_at=now,
            )
            .returning(rules_t.c.id),
        )
    ).scalar_one()
    await schedule_pass(uow)
    return int(rule_id)


async def do_update(uow: UnitOfWork, actor: Principal, rule_id: int, data: RuleChanges) -> None:
    require_admin(actor)
    current = await access_rule(uow.conn, actor, rule_id)
    values: dict[str, Any] = {"updated_at": utcnow()}
    if data.name is not None:
        values["name"] = await _check_name(uow, actor, data.name, rule_id)
    if data.description is not None:
        values["description"] = data.description.strip()[:2000]
    if data.active is not None:
        values["active"] = data.active
    if data.conditions is not None or data.actions is not None:
        conds, checked = await check_rule(
            uow,
            actor,
            current["conditions"] if data.conditions is None else data.conditions,
            current["actions"] if data.actions is None else data.actions,
        )
        values.update(conditions=conds, actions=checked)
    await _write(uow, rules_t.update().where(rules_t.c.id == rule_id).values(**values))
    await schedule_pass(uow)


async def do_delete(uow: UnitOfWork, actor: Principal, rule_id: int) -> None:
    require_admin(actor)
    await access_rule(uow.conn, actor, rule_id)
    await uow.execute(rules_t.delete().where(rules_t.c.id == rule_id))


async def do_reorder(uow: UnitOfWork, actor: Principal, ids: list[int]) -> None:
    """Set the run order: ``ids`` lists every rule of the workspace once."""
    require_admin(actor)
    mine = [r["id"] for r in await list_rules(uow.conn, actor)]
    if sorted(ids) != sorted(mine) or len(set(ids)) != len(ids):
        raise Invalid("ids", "every time rule of the workspace exactly once")
    for position, rid in enumerate(ids, start=1):
        await uow.execute(rules_t.update().where(rules_t.c.id == rid).values(position=position))


# --- running -------------------------------------------------------------------------------------------


async def schedule_pass(uow: UnitOfWork, now: datetime | None = None) -> None:
    """Make sure a pass is queued: at the next :data:`EVERY` boundary (one job per boundary)."""
    now = now or utcnow()
    step = EVERY.total_seconds()
    at = datetime.fromtimestamp((now.timestamp() // step + 1) * step, UTC)
    await jobs.enqueue(
        uow, "automation.time_rules", {}, dedupe_key=f"time_rules@{at.isoformat()}", delay=at - now
    )


def _live(workspace_id: int) -> list[sa.ColumnElement[bool]]:
    """The workspace's tickets a rule may act on: not closed (final), not merged away. Solved ones
    are (e.g. "close 7 days after solved")."""
    return [
        tickets_t.c.workspace_id == workspace_id,
        tickets_t.c.status != lifecycle.CLOSED,
        tickets_t.c.merged_into_id.is_(None),
    ]


async def run_pass(
    platform: Platform, now: datetime | None = None, *, limit: int = LIMIT, workspace_id: int | None = None
) -> int:
    """Run every active rule of every workspace (or of ``workspace_id`` only) once; how many times
    a rule acted."""
    now = now or utcnow()
    which: list[sa.ColumnElement[bool]] = [rules_t.c.active.is_(True)]
    if workspace_id is not None:
        which.append(rules_t.c.workspace_id == workspace_id)
    async with platform.db.read() as conn:
        rules = list(
            (
                await conn.execute(
                    sa.select(rules_t)
                    .where(*which)
                    .order_by(rules_t.c.workspace_id, rules_t.c.position, rules_t.c.id)
                )
            ).mappings()
        )
    acted = 0
    for rule in rules:
        try:
            acted += await _run_rule(platform, dict(rule), now, limit)
        except Exception:  # one rule's failure (a database error) must not stop the others
            log.exception("time rule %s of workspace %s failed", rule["id"], rule["workspace_id"])
    return acted


async def _run_rule(platform: Platform, rule: dict[str, Any], now: datetime, limit: int) -> int:
    acted = 0
    for tid, updated_at in await _matching(platform, rule, now, limit):
        acted += await _act(platform, rule, tid, updated_at)
    return acted


async def _matching(platform: Platform, rule: dict[str, Any], now: datetime, limit: int) -> list[Any]:
    """The rule's tickets at ``now`` (id and ``updated_at``), at most ``limit``, by id."""
    ws = int(rule["workspace_id"])
    match = conditions_sql.where(rule["conditions"], workspace_id=ws, dialect=platform.db.dialect, now=now)
    async with platform.db.read() as conn:
        return list(
            await conn.execute(
                sa.select(tickets_t.c.id, tickets_t.c.updated_at)
                .where(*_live(ws), match)
                .order_by(tickets_t.c.id)
                .limit(limit)
            )
        )


async def _act(platform: Platform, rule: dict[str, Any], ticket_id: int, updated_at: datetime) -> bool:
    """Apply the rule to a ticket that matched when it was last updated at ``updated_at``; whether
    it acted (not when the ticket changed since, or the rule acted in this period already)."""
    async with platform.db.transaction() as uow:
        current = (
            await uow.execute(
                sa.select(tickets_t.c.updated_at).where(tickets_t.c.id == ticket_id).with_for_update()
            )
        ).scalar()
        if current != updated_at:
            return False  # changed since it matched (an agent, another worker): the next pass looks again
        if not await _claim(uow, rule, ticket_id, updated_at):
            return False  # acted already in this period (another worker, an earlier pass)
        said = await tickets_service.apply_rule(
            uow,
            platform.pubsub,
            ticket_id,
            rule="time_rule",
            rule_id=int(rule["id"]),
            name=str(rule["name"]),
            actions=rule["actions"],
            describe=acts.describe,
        )
        return said is not None


async def _claim(uow: UnitOfWork, rule: dict[str, Any], ticket_id: int, updated_at: datetime) -> bool:
    """Write that the rule acts on the ticket in this period unless that is written; whether this
    call wrote it."""
    if uow.dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    stmt = (
        insert(runs_t)
        .values(
            rule_id=rule["id"],
            ticket_id=ticket_id,
            period=updated_at.astimezone(UTC).isoformat(timespec="microseconds")[:40],
            workspace_id=rule["workspace_id"],
            at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["rule_id", "ticket_id", "period"])
        .returning(runs_t.c.rule_id)
    )
    return (await uow.execute(stmt)).first() is not None


async def dry_run(
    conn: AsyncConnection,
    actor: Principal,
    conditions: dict[str, Any],
    actions: list[dict[str, Any]],
    now: datetime | None = None,
) -> dict[str, Any]:
    """Which of the workspace's latest :data:`DRY_RUN_TICKETS` tickets (not closed) a rule with these
    (checked) conditions and actions would act on now, and what it would do; nothing is written."""
    require_staff(actor)
    now = now or utcnow()
    latest = (
        sa.select(tickets_t.c.id)
        .where(tickets_t.c.workspace_id == actor.workspace_id)
        .order_by(tickets_t.c.id.desc())
        .limit(DRY_RUN_TICKETS)
        .subquery()
    )
    match = conditions_sql.where(
        conditions, workspace_id=actor.workspace_id, dialect=conn.dialect.name, now=now
    )
    rows = await conn.execute(
        sa.select(tickets_t.c.id, tickets_t.c.number, tickets_t.c.subject, tickets_t.c.status)
        .where(tickets_t.c.id.in_(sa.select(latest.c.id)), *_live(actor.workspace_id), match)
        .order_by(tickets_t.c.id.desc())
    )
    found = [dict(r) for r in rows.mappings()]
    return {
        "looked_at": DRY_RUN_TICKETS,
        "matches": len(found),
        "tickets": found[:100],
        "would": [acts.describe(a) for a in actions],
    }


async def do_move(uow: UnitOfWork, actor: Principal, rule_id: int, step: int) -> None:
    """Move a rule one place up (``step`` -1) or down (+1) in the run order."""
    require_admin(actor)
    ids = [r["id"] for r in await list_rules(uow.conn, actor)]
    if rule_id not in ids:
        raise NotFound(f"time rule {rule_id} not found")
    i = ids.index(rule_id)
    j = min(max(i + step, 0), len(ids) - 1)
    ids[i], ids[j] = ids[j], ids[i]
    await do_reorder(uow, actor, ids)
