"""Durable background jobs kept in the database's ``jobs`` table.

Embedded, ``helpline serve`` runs a worker in-process; distributed, any number of ``helpline worker``
processes claim jobs with ``FOR UPDATE SKIP LOCKED``. Jobs are enqueued inside the transaction that
causes them, so they exist exactly when the change does (see ADR 0003).

Each round of a runner also runs the durable feed (``platform/feed``, ADR 0014): a commit that
inserts into a feed source's table wakes the runners of this process, like an enqueued job does.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from helpline.db.base import utcnow
from helpline.platform.db import Database, UnitOfWork
from helpline.platform.feed import REGISTRY as FEED
from helpline.platform.feed import FeedWorker, Registry
from helpline.platform.models import Job

if TYPE_CHECKING:
    from helpline.platform.runtime import Platform

log = logging.getLogger(__name__)

#: A handler receives the platform and the arguments of every claimed job of its kind, in id order.
Handler = Callable[["Platform", list[dict[str, Any]]], Awaitable[None]]

_HANDLERS: dict[str, Handler] = {}
#: Kinds whose jobs run one per handler call (each its own success or retry).
_ALONE: set[str] = set()


def job_handler(kind: str, *, alone: bool = False) -> Callable[[Handler], Handler]:
    """Register the handler of one job kind. Handlers must be idempotent: a job may run twice.
    Claimed jobs of a kind reach the handler together, and a failure retries them all; with
    ``alone`` each job is its own call, so one that fails (an outside call) retries alone."""

    def register(fn: Handler) -> Handler:
        if kind in _HANDLERS:
            raise ValueError(f"job kind {kind!r} registered twice")
        _HANDLERS[kind] = fn
        if alone:
            _ALONE.add(kind)
        return fn

    return register


async def enqueue(
    uow: UnitOfWork,
    kind: str,
    args: dict[str, Any],
    *,
    dedupe_key: str | None = None,
    delay: timedelta | None = None,
) -> None:
    """Add a job in the caller's transaction. With ``dedupe_key``, an identical queued job absorbs it."""
    await enqueue_many(uow, kind, [(args, dedupe_key)], delay=delay)


async def enqueue_many(
    uow: UnitOfWork,
    kind: str,
    items: list[tuple[dict[str, Any], str | None]],
    *,
    delay: timedelta | None = None,
) -> None:
    """Jobs of one kind, each ``(args, dedupe_key or None)``, in one statement of the caller's
    transaction; as :func:`enqueue` for each."""
    if not items:
        return
    now = utcnow()
    rows = [
        {
            "kind": kind,
            "args": args,
            "dedupe_key": dedupe_key,
            "run_at": now + delay if delay else now,
            "created_at": now,
            "state": "queued",
            "attempts": 0,
            "max_attempts": 8,
        }
        for args, dedupe_key in items
    ]
    deduped = any(dedupe_key is not None for _, dedupe_key in items)
    # One row goes as a plain execute: a list, even of one, takes the driver's executemany path,
    # which on asyncpg is a separate, costlier protocol exchange (and SQLAlchemy's batching).
    await uow.execute(_INSERT[(uow.dialect, deduped)], rows[0] if len(rows) == 1 else rows)
    uow.on_commit(_wake_all)


def _insert(dialect: Any, deduped: bool) -> Any:
    stmt = dialect.insert(Job.__table__)
    if deduped:
        stmt = stmt.on_conflict_do_nothing(
            index_elements=["dedupe_key"], index_where=sa.text("state = 'queued' AND dedupe_key IS NOT NULL")
        )
    return stmt


# Built once per dialect, with and without the dedupe clause: enqueueing is on every write path.
_INSERT = {
    (name, deduped): _insert(dialect, deduped)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
    for deduped in (False, True)
}

_WAITERS: set[asyncio.Event] = set()
_FEED_WAITERS: set[asyncio.Event] = set()


async def _wake_all() -> None:
    for ev in _WAITERS:
        ev.set()


async def _wake_feeds() -> None:
    for ev in _FEED_WAITERS:
        ev.set()


async def _first_of(a: asyncio.Event, b: asyncio.Event, seconds: float) -> None:
    """Return when ``a`` or ``b`` is set, or after ``seconds``."""
    waits = [asyncio.ensure_future(a.wait()), asyncio.ensure_future(b.wait())]
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


def backoff(attempts: int) -> timedelta:
    """Delay before retry number ``attempts``: 2, 4, 8 … seconds, at most an hour."""
    return timedelta(seconds=min(2**attempts, 3600))


@dataclass
class Claimed:
    id: int
    kind: str
    args: dict[str, Any]
    attempts: int
    max_attempts: int


class JobRunner:
    """Claims ready jobs, runs their handlers, and records success, retry or death."""

    def __init__(
        self,
        platform: Platform,
        *,
        batch: int = 100,
        lease: timedelta = timedelta(minutes=5),
        feed: Registry | FeedWorker | None = None,
    ):
        self.platform = platform
        self.db: Database = platform.db
        self.batch = batch
        self.lease = lease
        self.name = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._wake = asyncio.Event()
        self._feed_wake = asyncio.Event()
        self._stop = asyncio.Event()
        #: The feed this runner delivers: the process-wide registry unless a test brings its own.
        self.feed = (
            feed if isinstance(feed, FeedWorker) else FeedWorker(platform, feed or FEED, name=self.name)
        )

    async def claim(self) -> list[Claimed]:
        now = utcnow()
        jobs = Job.__table__
        ready = (
            sa.select(jobs.c.id)
            .where(jobs.c.state == "queued", jobs.c.run_at <= now)
            .order_by(jobs.c.run_at, jobs.c.id)
            .limit(self.batch)
        )
        if self.db.dialect == "postgresql":
            ready = ready.with_for_update(skip_locked=True)
        async with self.db.transaction() as uow:
            # Jobs whose worker died mid-run go back to the queue once their lease is over (dead
            # after their last attempt). They give up their dedupe key: a newer queued twin may hold it.
            expired = sa.and_(jobs.c.state == "running", jobs.c.locked_until < now)
            await uow.execute(
                jobs.update()
                .where(expired, jobs.c.attempts >= jobs.c.max_attempts)
                .values(
                    state="dead", locked_by=None, finished_at=now, last_error="worker died while running it"
                )
            )
            await uow.execute(
                jobs.update().where(expired).values(state="queued", locked_by=None, dedupe_key=None)
            )
            rows = await uow.execute(
                jobs.update()
                .where(jobs.c.id.in_(ready.scalar_subquery()))
                .values(
                    state="running",
                    locked_by=self.name,
                    locked_until=now + self.lease,
                    attempts=jobs.c.attempts + 1,
                )
                .returning(jobs.c.id, jobs.c.kind, jobs.c.args, jobs.c.attempts, jobs.c.max_attempts)
            )
            claimed = [Claimed(r.id, r.kind, r.args, r.attempts, r.max_attempts) for r in rows]
        claimed.sort(key=lambda c: c.id)
        return claimed

    async def run_once(self) -> int:
        """Claim and run one batch of jobs, then one round of the feed; the work done (jobs run plus
        feed rows numbered and delivered; 0 when there was nothing to do)."""
        return await self._run_jobs() + await self._run_feed()

    async def _run_feed(self) -> int:
        try:
            return await self.feed.run_once()
        except Exception:
            # A feed problem (say, a source table without its txid column) must not stop the jobs.
            log.exception("feed round failed; retrying")
            return 0

    async def _run_jobs(self) -> int:
        claimed = await self.claim()
        by_kind: dict[str, list[Claimed]] = defaultdict(list)
        for c in claimed:
            by_kind[c.kind].append(c)
        groups = [
            (kind, part)
            for kind, group in by_kind.items()
            for part in ([[c] for c in group] if kind in _ALONE else [group])
        ]
        for kind, group in groups:
            handler = _HANDLERS.get(kind)
            error: str | None = None
            if handler is None:
                error = f"no handler registered for job kind {kind!r}"
            else:
                try:
                    await handler(self.platform, [c.args for c in group])
                except Exception as exc:
                    log.exception("job %s failed", kind)
                    error = f"{type(exc).__name__}: {exc}"[:2000]
            await self._finish(group, error)
        return len(claimed)

    async def _finish(self, group: list[Claimed], error: str | None) -> None:
        jobs = Job.__table__
        ids = [c.id for c in group]
        async with self.db.transaction() as uow:
            if error is None:
                await uow.execute(jobs.delete().where(jobs.c.id.in_(ids)))
                return
            now = utcnow()
            for c in group:
                dead = c.attempts >= c.max_attempts
                await uow.execute(
                    jobs.update()
                    .where(jobs.c.id == c.id)
                    .values(
                        state="dead" if dead else "queued",
                        run_at=now if dead else now + backoff(c.attempts),
                        last_error=error,
                        locked_by=None,
                        locked_until=None,
                        finished_at=now if dead else None,
                        # A newer queued job with the same key may exist; the unique index allows one.
                        dedupe_key=None,
                    )
                )

    async def drain(self, *, max_rounds: int = 1000) -> int:
        """Run every ready job, including those the handlers enqueue; for tests and the CLI."""
        total = 0
        for _ in range(max_rounds):
            n = await self.run_once()
            total += n
            if n == 0 and not self.feed.held_back:
                break
            if n == 0:  # committed feed rows wait behind an older transaction: look again soon
                await asyncio.sleep(0.01)
        return total

    async def run_forever(self, *, poll_seconds: float = 1.0) -> None:
        """Run rounds until :meth:`stop`: at once while there is work, else on a wake-up or after
        ``poll_seconds``. A wake-up by a feed source's commit runs the feed alone (no jobs claim)."""
        _WAITERS.add(self._wake)
        _FEED_WAITERS.add(self._feed_wake)
        _wake_on_feed_writes(self.db, self.feed.registry)
        jobs_due = True
        jobs_ran = 0.0
        try:
            while not self._stop.is_set():
                try:
                    n = 0
                    if jobs_due:
                        jobs_ran = time.monotonic()
                        n = await self._run_jobs()
                    n += await self._run_feed()
                except Exception:
                    log.exception("job runner round failed; retrying")
                    n = 0
                jobs_due = True
                if n == 0:
                    self._wake.clear()
                    self._feed_wake.clear()
                    # Rows held back by an older transaction still running: look again soon.
                    wait = min(poll_seconds, 0.05) if self.feed.held_back else poll_seconds
                    await _first_of(self._wake, self._feed_wake, wait)
                    # Jobs when one was enqueued or a poll is due, not on every feed wake-up.
                    jobs_due = self._wake.is_set() or time.monotonic() - jobs_ran >= poll_seconds
        finally:
            _WAITERS.discard(self._wake)
            _FEED_WAITERS.discard(self._feed_wake)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()


def _wake_on_feed_writes(db: Database, registry: Registry) -> None:
    """Wake this process's runners' feed after each commit that inserted into the table of a source
    that has consumers (a source nobody consumes costs ticket writes nothing)."""
    done: set[str] = db.extras.setdefault("feed.wake_tables", set())
    tables = {registry.sources[c.source].table.name for c in registry.consumers.values()} - done
    if tables:
        db.on_write({t: ("insert",) for t in tables}, _wake_feeds)
        done.update(tables)


async def pending_counts(db: Database) -> dict[str, int]:
    """Jobs per state, for ``helpline check`` and the status page."""
    jobs = Job.__table__
    async with db.read() as conn:
        rows = await conn.execute(sa.select(jobs.c.state, sa.func.count()).group_by(jobs.c.state))
        return {row[0]: row[1] for row in rows}


_ = datetime
