"""Typed ticket events: every change to a ticket's state is one of these, stored as a row of
``events`` (the audit history, the metrics' source, and what the durable feed delivers).

Writers build events and hand them to :func:`record` (one ticket) or :func:`record_many` (a batch):
the one funnel into the ``events`` table, so whatever must see every change (the durable feed's
in-transaction consumers, ``tickets/feed.py``) hooks there and nowhere else. Readers (the event list
API, the ticket page, feed consumers) turn a row back into its event with :func:`parse`, which
refuses a kind it does not know.

The row shape is the one the table always had: ``kind`` (stable: existing rows and readers depend on
it), ``field``, ``old``, ``new`` (JSON), the actor and the time. Changes of one property share the
kind ``field_changed`` and are told apart by ``field``; the properties that consumers care about
most have classes of their own (:class:`StatusChanged`, :class:`Assigned`, :class:`TagsChanged`,
:class:`FollowersChanged`, :class:`CCsChanged`), the others are :class:`FieldChanged`. Build a
property's event with :func:`field_changed`, which picks the class. Values may gain keys over time
(older rows lack them, so :func:`parse` gives ``None`` for a missing one); never rename or drop one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from helpline.db.base import utcnow
from helpline.domains.tickets import feed as ticket_feed
from helpline.domains.tickets.events._base import CUSTOMER, SYSTEM, Actor, Author, TicketEvent, UnknownEvent
from helpline.domains.tickets.events._kinds import (
    Assigned,
    CCsChanged,
    Created,
    Erased,
    FieldChanged,
    FollowersChanged,
    Linked,
    MergedFrom,
    MergedInto,
    MessageAdded,
    RuleApplied,
    SlaAlert,
    Snoozed,
    Split,
    StatusChanged,
    TagsChanged,
    Unlinked,
    Unsnoozed,
    field_changed,
)
from helpline.domains.tickets.models import Event
from helpline.platform.db import UnitOfWork

table = Event.__table__


KINDS: dict[str, type[TicketEvent]] = {
    c.kind: c
    for c in (
        Created,
        MessageAdded,
        FieldChanged,
        Linked,
        Unlinked,
        MergedInto,
        MergedFrom,
        Split,
        Erased,
        Snoozed,
        Unsnoozed,
        SlaAlert,
        RuleApplied,
    )
}


def parse(row: Mapping[str, Any]) -> TicketEvent:
    """The event an ``events`` row stores. Raises :class:`UnknownEvent` for a kind no class knows."""
    cls = KINDS.get(str(row.get("kind")))
    if cls is None:
        raise UnknownEvent(f"unknown event kind {row.get('kind')!r}")
    return cls.from_values(row.get("field"), row.get("old"), row.get("new"))


async def record(
    uow: UnitOfWork,
    ticket: Mapping[str, Any],
    actor: Actor | None,
    events: Sequence[TicketEvent],
    *,
    at: datetime | None = None,
) -> None:
    """Record ``events`` of one ticket (a mapping with id and workspace_id) by ``actor``, in ``uow``."""
    await record_many(uow, [(ticket, actor, e) for e in events], at=at)


async def record_many(
    uow: UnitOfWork,
    items: Iterable[tuple[Mapping[str, Any], Actor | None, TicketEvent]],
    *,
    at: datetime | None = None,
    times: Sequence[datetime] | None = None,
) -> None:
    """Record events of any number of tickets, each ``(ticket, actor, event)``, in one statement: the
    only writer of the ``events`` table, and so the one place for whatever must see every change
    inside its transaction (the durable feed's in-transaction consumers).

    ``times``: each event's own time, in the order of ``items`` (an import's history, whose events
    happened long ago); otherwise all happen ``at`` (now by default). Ids follow the order of
    ``items`` either way."""
    when = at or utcnow()
    listed = list(items)
    stamps = list(times) if times is not None else [when] * len(listed)
    if len(stamps) != len(listed):
        raise ValueError("record_many: one time per event")
    rows = [
        event.to_row(ticket, actor, stamp)
        for (ticket, actor, event), stamp in zip(listed, stamps, strict=True)
    ]
    if not rows:
        return
    wanted = ticket_feed.wants_rows()
    if len(rows) > 1 and uow.dialect == "sqlite" and not wanted:
        # SQLite's executemany is native and cheaper than one long multi-row statement.
        await uow.execute(_INSERT_MANY, rows)
        return
    # Otherwise one statement: a list of rows goes as one multi-row INSERT ... RETURNING
    # (insertmanyvalues, ids in row order) rather than asyncpg's executemany, a costlier protocol
    # exchange; a single row goes as a plain execute.
    inserted = await uow.execute(_INSERT, rows[0] if len(rows) == 1 else rows)
    if wanted:
        # The ids, for the consumers that run in this transaction.
        for row, (event_id,) in zip(rows, inserted.all(), strict=True):
            row["id"] = event_id
        await ticket_feed.in_transaction(uow, rows)


_INSERT_MANY = table.insert()
_INSERT = table.insert().returning(table.c.id, sort_by_parameter_order=True)


__all__ = [
    "CUSTOMER",
    "KINDS",
    "SYSTEM",
    "Actor",
    "Assigned",
    "Author",
    "CCsChanged",
    "Created",
    "Erased",
    "FieldChanged",
    "FollowersChanged",
    "Linked",
    "MergedFrom",
    "MergedInto",
    "MessageAdded",
    "RuleApplied",
    "SlaAlert",
    "Snoozed",
    "Split",
    "StatusChanged",
    "TagsChanged",
    "TicketEvent",
    "UnknownEvent",
    "Unlinked",
    "Unsnoozed",
    "field_changed",
    "parse",
    "record",
    "record_many",
    "table",
]
