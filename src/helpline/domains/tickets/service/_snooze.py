"""Snoozing a ticket: put aside until a time, it leaves the open views (``page_reads``) and comes
back when the ``tickets.snooze_wake`` job runs at that time, when a customer writes on it
(:func:`wake_on_reply`, called by the customers' batch writer), or when an agent wakes it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from helpline.db.base import utcnow
from helpline.domains.accounts.principal import Principal
from helpline.domains.tickets.events import SYSTEM, Actor, Snoozed, Unsnoozed, record, record_many
from helpline.domains.tickets.models import TicketSnooze
from helpline.domains.tickets.service._common import after_change
from helpline.errors import Forbidden, Invalid
from helpline.platform import jobs
from helpline.platform.db import UnitOfWork
from helpline.platform.pubsub import PubSub

snoozes = TicketSnooze.__table__
#: The longest a ticket may be put aside.
MAX_SNOOZE = timedelta(days=366)
WAKE_JOB = "tickets.snooze_wake"


def check_editor(actor: Principal, doing: str) -> None:
    """``_update.check_editor``'s rule (admins and agents), without importing the writer of updates."""
    if not actor.can_edit_tickets:
        raise Forbidden(f"you may not {doing}")


def check_snooze(actor: Principal, until: datetime, now: datetime) -> None:
    check_editor(actor, "snooze tickets")
    if until.tzinfo is None:
        raise Invalid("until", "give a time with its offset (e.g. 2027-01-05T09:00:00+00:00)")
    if until <= now:
        raise Invalid("until", "choose a time in the future")
    if until - now > MAX_SNOOZE:
        raise Invalid("until", "choose a time within a year")


async def snooze(
    uow: UnitOfWork, pubsub: PubSub, actor: Principal, ticket: dict[str, Any], until: datetime
) -> datetime:
    """Put ``ticket`` (already access-checked) aside until ``until``; a later snooze replaces it."""
    now = utcnow()
    check_snooze(actor, until, now)
    until = until.astimezone(now.tzinfo)
    await uow.execute(snoozes.delete().where(snoozes.c.ticket_id == ticket["id"]))
    await uow.execute(
        snoozes.insert().values(
            ticket_id=ticket["id"],
            workspace_id=ticket["workspace_id"],
            until=until,
            user_id=actor.user_id,
            created_at=now,
        )
    )
    await record(uow, ticket, actor, [Snoozed(until.isoformat())], at=now)
    await jobs.enqueue(
        uow,
        WAKE_JOB,
        {"ticket_id": ticket["id"]},
        dedupe_key=f"snooze:{ticket['id']}:{until.isoformat()}",
        delay=until - now,
    )
    after_change(uow, pubsub, ticket["workspace_id"], ticket["id"], "snoozed")
    return until


async def unsnooze(uow: UnitOfWork, pubsub: PubSub, actor: Principal, ticket: dict[str, Any]) -> bool:
    """Bring ``ticket`` back now (False when it was not snoozed)."""
    check_editor(actor, "wake tickets")
    gone = await uow.execute(snoozes.delete().where(snoozes.c.ticket_id == ticket["id"]))
    if not gone.rowcount:
        return False
    await record(uow, ticket, actor, [Unsnoozed("agent")])
    after_change(uow, pubsub, ticket["workspace_id"], ticket["id"], "unsnoozed")
    return True


async def _wake(uow: UnitOfWork, where: sa.ColumnElement[bool], actor: Actor, reason: str) -> list[int]:
    rows = (
        await uow.execute(
            snoozes.delete().where(where).returning(snoozes.c.ticket_id, snoozes.c.workspace_id)
        )
    ).all()
    await record_many(
        uow, [({"id": r.ticket_id, "workspace_id": r.workspace_id}, actor, Unsnoozed(reason)) for r in rows]
    )
    return [int(r.ticket_id) for r in rows]


async def wake_due(uow: UnitOfWork, ticket_ids: Sequence[int], now: datetime | None = None) -> list[int]:
    """The wake job: those of ``ticket_ids`` whose snooze time has come come back (the system acts)."""
    if not ticket_ids:
        return []
    when = now or utcnow()
    return await _wake(
        uow, sa.and_(snoozes.c.ticket_id.in_(list(ticket_ids)), snoozes.c.until <= when), SYSTEM, "time"
    )


async def wake_on_reply(uow: UnitOfWork, ticket_ids: Sequence[int]) -> list[int]:
    """A customer wrote on these tickets: any that were snoozed come back now."""
    if not ticket_ids:
        return []
    return await _wake(uow, snoozes.c.ticket_id.in_(sorted(set(ticket_ids))), SYSTEM, "reply")
