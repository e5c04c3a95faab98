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
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.db.base import utcnow
from helpline.domains.accounts.principal import Principal
from helpline.domains.accounts.queries import require_staff
from helpline.domains.automation import actions as acts
from helpline.domains.automation import conditions_sql
from helpline.domains.automation.models import TimeRule, TimeRuleRun
from helpline.domains.automation.rule_book import RuleBook, check_parts
from helpline.domains.tickets import lifecycle
from helpline.domains.tickets import service as tickets_service
from helpline.domains.tickets.models import Ticket
from helpline.errors import Invalid
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


async def check_rule(
    uow: UnitOfWork, actor: Principal, conditions: Any, actions: Any
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A time rule's conditions (with the timed fields) and actions checked, each part named when
    wrong, and that the actions stop the conditions."""
    conds, checked = await check_parts(uow, actor, conditions, actions, timed=True)
    if not acts.stops(conds, checked):
        raise Invalid(
            "actions",
            "the actions must make one of the conditions under 'all' false, so the rule acts once per "
            "ticket: e.g. add a tag the conditions exclude, change the status they require, or require "
            "'hours since updated' greater than some hours",
        )
    return conds, checked


async def _saved(uow: UnitOfWork) -> None:
    await schedule_pass(uow)


BOOK = RuleBook(rules_t, "time rule", check_rule, _saved)
list_rules, access_rule = BOOK.list_rules, BOOK.access_rule
do_create, do_update, do_delete = BOOK.do_create, BOOK.do_update, BOOK.do_delete
do_reorder, do_move = BOOK.do_reorder, BOOK.do_move


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
