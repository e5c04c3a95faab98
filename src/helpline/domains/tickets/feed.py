"""The tickets domain's events on the durable feed (``platform/feed``, ADR 0014).

``events`` is registered as the source ``"events"``, partitioned by ticket: consumers (SLA clocks,
triggers, routing, webhooks, …) register with ``feed.REGISTRY.consumer("events", name, handler)``
and receive each ticket's events in order, after commit.

In-transaction consumers (``in_transaction=True``) are for work that must commit or fail with the
change itself. The events writer (``events.record_many``) is the one place that calls
:func:`in_transaction`, with the rows it inserted (ids included), in its own unit of work. Keep such
consumers few and fast: they run on every ticket write.
"""

from __future__ import annotations

from typing import Any

from helpline.domains.tickets.models import Event
from helpline.platform import feed
from helpline.platform.db import UnitOfWork

SOURCE = "events"

EVENTS = feed.REGISTRY.source(
    feed.Source(SOURCE, Event.__table__, key="ticket_id", workspace="workspace_id", time="created_at")
)


def wants_rows() -> bool:
    """Whether an in-transaction consumer takes ticket events (the writer then returns their ids)."""
    return feed.REGISTRY.has_in_transaction(SOURCE)


async def in_transaction(uow: UnitOfWork, rows: list[dict[str, Any]]) -> None:
    """Run the in-transaction consumers of ticket events over ``rows`` (as inserted, with their ids
    when the writer returned them) inside the writer's transaction."""
    await feed.REGISTRY.run_in_transaction(uow, SOURCE, rows)
