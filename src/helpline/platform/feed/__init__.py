"""The durable feed: rows a domain writes (ticket events) reach registered consumers after commit,
at least once, in order per partition key (per ticket), restart-safe, with lag visible (ADR 0014).

A domain registers a :class:`Source` (a table with an increasing ``id``, a partition key column and
a workspace column) and consumers of it in :data:`REGISTRY`::

    from helpline.platform import feed

    EVENTS = feed.REGISTRY.source(feed.Source("events", Event.__table__, key="ticket_id", time="created_at"))

    async def on_events(batch: feed.Batch) -> None:   # rows of one partition, in order
        ...                                          # write through batch.uow (committed with the cursor)

    feed.REGISTRY.consumer("events", "sla.clocks", on_events)
    feed.REGISTRY.consumer("events", "webhooks", send, idempotent=True)     # outside a transaction
    feed.REGISTRY.consumer("events", "counters", bump, in_transaction=True)  # in the writer's

The job runner (``platform/jobs.py``) runs a :class:`FeedWorker` each round: woken after a commit
that inserted into a source table, and every second. ``consumer_lag`` reports how far behind each
consumer is. This package imports no domain.
"""

from helpline.platform.feed._lag import ConsumerLag, consumer_lag
from helpline.platform.feed._registry import (
    REGISTRY,
    Batch,
    Consumer,
    Handler,
    Registry,
    Source,
    TxConsumer,
    TxHandler,
)
from helpline.platform.feed._sequence import FeedSetupError
from helpline.platform.feed._worker import FeedWorker, backoff

__all__ = [
    "REGISTRY",
    "Batch",
    "Consumer",
    "ConsumerLag",
    "FeedSetupError",
    "FeedWorker",
    "Handler",
    "Registry",
    "Source",
    "TxConsumer",
    "TxHandler",
    "backoff",
    "consumer_lag",
]
