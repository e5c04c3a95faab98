"""What the feed delivers and to whom: sources, consumers, and the registry that holds them.

Domains register at import time (as job handlers do) in :data:`REGISTRY`; a worker is built over a
registry, so tests can run a registry of their own against the same tables.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, overload

import sqlalchemy as sa

from helpline.platform.db import UnitOfWork

if TYPE_CHECKING:
    from helpline.platform.runtime import Platform


@dataclass(frozen=True)
class Source:
    """A table the feed delivers: rows with an increasing integer ``id``, partitioned by ``key``.

    Rows of one key value (one ticket) reach each consumer in order and one batch at a time; rows of
    different keys may be handled in parallel. ``time`` (optional) names the column that says when a
    row was written, for the "oldest undelivered" lag figure.

    The table must tell the feed in which order rows became visible. On PostgreSQL that is a column
    ``txid xid8 DEFAULT pg_current_xact_id()`` with an index (a lower id may commit after a higher
    one; see ADR 0014); on SQLite the table must be ``AUTOINCREMENT`` (ids are never reused after
    the newest rows are deleted). A migration adds both; :meth:`FeedWorker.setup` refuses a table
    without them.
    """

    name: str
    table: sa.Table
    key: str
    workspace: str = "workspace_id"
    time: str | None = None
    #: Partitions per consumer (``key % buckets``): how many workers can share one consumer's work.
    #: Fixed once the source is first used; changing it needs a migration of the cursors.
    buckets: int = 8

    def __post_init__(self) -> None:
        for col in (self.key, self.workspace, self.time, "id"):
            if col is not None and col not in self.table.c:
                raise ValueError(f"feed source {self.name!r}: table {self.table.name} has no column {col!r}")
        if not 1 <= self.buckets <= 1024:
            raise ValueError("buckets must be between 1 and 1024")


@dataclass
class Batch:
    """Rows of one partition of a source, in order, handed to an after-commit consumer.

    ``rows`` are the source rows as dicts (every column). ``uow`` is the transaction that will move
    the consumer's cursor past these rows: a consumer that is not idempotent writes through it, so
    its writes and the cursor commit together (and roll back together when it raises or the worker
    dies). It is ``None`` for an idempotent consumer, which runs with no transaction open and may see
    a batch again after a crash.
    """

    consumer: str
    source: str
    bucket: int
    rows: list[dict[str, Any]]
    platform: Platform
    uow: UnitOfWork | None
    #: The name of the worker delivering it (host:pid:…), for logs.
    worker: str = ""


#: An after-commit consumer: handles one batch; raising retries the batch later with backoff.
Handler = Callable[[Batch], Awaitable[None]]
#: An in-transaction consumer: called by the writer with the rows it is inserting, in its transaction.
TxHandler = Callable[[UnitOfWork, list[dict[str, Any]]], Awaitable[None]]


@dataclass(frozen=True)
class Consumer:
    name: str
    source: str
    handler: Handler
    #: True: may see a batch twice (runs outside any transaction: HTTP calls, pushes, AI).
    #: False: its database writes commit with its cursor (``Batch.uow``): effects happen once.
    idempotent: bool = False
    batch: int = 200


@dataclass(frozen=True)
class TxConsumer:
    name: str
    source: str
    handler: TxHandler


@dataclass
class Registry:
    sources: dict[str, Source] = field(default_factory=dict)
    consumers: dict[str, Consumer] = field(default_factory=dict)
    in_transaction: dict[str, TxConsumer] = field(default_factory=dict)

    def source(self, src: Source) -> Source:
        if src.name in self.sources and self.sources[src.name] != src:
            raise ValueError(f"feed source {src.name!r} registered twice")
        self.sources[src.name] = src
        return src

    @overload
    def consumer(
        self, source: str, name: str, handler: TxHandler, *, in_transaction: Literal[True]
    ) -> None: ...

    @overload
    def consumer(
        self,
        source: str,
        name: str,
        handler: Handler,
        *,
        idempotent: bool = False,
        batch: int = 200,
        in_transaction: Literal[False] = False,
    ) -> None: ...

    def consumer(
        self,
        source: str,
        name: str,
        handler: Any,
        *,
        idempotent: bool = False,
        batch: int = 200,
        in_transaction: bool = False,
    ) -> None:
        """Register a consumer of ``source``. After commit (the default) it gets batches through
        the durable feed; with ``in_transaction=True`` the writer calls it inside the transaction
        that writes the rows (:meth:`run_in_transaction`), so it commits or fails with the change."""
        if source not in self.sources:
            raise ValueError(f"no feed source {source!r}; register the source first")
        if name in self.consumers or name in self.in_transaction:
            raise ValueError(f"feed consumer {name!r} registered twice")
        if len(name) > 100:
            raise ValueError("a consumer name has at most 100 characters")
        if in_transaction:
            self.in_transaction[name] = TxConsumer(name, source, handler)
        else:
            if batch < 1:
                raise ValueError("batch must be at least 1")
            self.consumers[name] = Consumer(name, source, handler, idempotent, batch)

    def has_in_transaction(self, source: str) -> bool:
        """Whether any in-transaction consumer takes ``source`` (the writer then returns the ids)."""
        return any(c.source == source for c in self.in_transaction.values())

    async def run_in_transaction(self, uow: UnitOfWork, source: str, rows: list[dict[str, Any]]) -> None:
        """Call the in-transaction consumers of ``source`` with ``rows``, in registration order.

        The writer calls this in its unit of work after inserting the rows; a consumer that raises
        fails the writer's transaction, which is the point of declaring it in-transaction.
        """
        if not rows:
            return
        for c in self.in_transaction.values():
            if c.source == source:
                await c.handler(uow, rows)


#: The process-wide registry the job runner delivers from.
REGISTRY = Registry()
