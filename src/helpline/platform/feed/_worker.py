"""The feed worker: one round sequences new rows and claims partitions, then delivers each claimed
partition's next batch to its consumer and moves the cursor.

Who handles what:

- A cursor is one consumer's place in one partition (``key % buckets``). A round claims up to
  ``partitions`` ready cursors (entries after their position, not leased, not waiting for a retry)
  with a lease and a fresh ``lease_token`` (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's single
  writer makes the claim exclusive), so two workers split the partitions and never claim the same one.
- A consumer that is not idempotent is delivered inside one transaction that first re-checks the
  token (and, on PostgreSQL, keeps the cursor row locked until commit), then runs the handler with
  that transaction and moves the cursor: its writes and its progress commit together.
- An idempotent consumer runs with no transaction open while a heartbeat extends its lease; the
  cursor moves afterwards only if the token is still its own.
- A handler that raises leaves the cursor where it was; the cursor records the error and the attempt
  and waits ``backoff(attempts)``. Other consumers have their own cursors and go on.
- A worker that dies mid-batch leaves its lease to run out; its open transaction rolled back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from helpline.db.base import utcnow
from helpline.platform.db import Database, UnitOfWork
from helpline.platform.feed import _sequence as seq
from helpline.platform.feed._registry import REGISTRY, Batch, Consumer, Registry, Source

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from helpline.platform.runtime import Platform

log = logging.getLogger(__name__)

cursors_t = seq.cursors_t
entries_t = seq.entries_t


def backoff(attempts: int) -> timedelta:
    """Wait before the next try of a failing partition: 1, 2, 4 … seconds, at most 5 minutes."""
    return timedelta(seconds=min(2 ** max(attempts - 1, 0), 300))


@dataclass
class Claim:
    consumer: Consumer
    source: Source
    bucket: int
    pos: int
    token: int
    attempts: int


class FeedWorker:
    """Delivers a registry's sources to its consumers; one per job runner."""

    def __init__(
        self,
        platform: Platform,
        registry: Registry = REGISTRY,
        *,
        name: str | None = None,
        lease: timedelta = timedelta(seconds=30),
        partitions: int = 4,
        retry: Callable[[int], timedelta] = backoff,
    ) -> None:
        self.platform = platform
        self.db: Database = platform.db
        self.registry = registry
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.lease = lease
        self.partitions = partitions
        self.retry = retry
        #: True when committed rows wait for an older transaction still running: poll again soon.
        self.held_back = False
        self._states: dict[str, seq.SourceState] = {}
        #: The consumers the last setup made cursors for: a consumer registered later sets up again.
        self._ready: frozenset[str] = frozenset()

    def _active(self) -> dict[str, list[Consumer]]:
        by_source: dict[str, list[Consumer]] = {}
        for c in self.registry.consumers.values():
            by_source.setdefault(c.source, []).append(c)
        return by_source

    async def setup(self) -> None:
        """Create the sources' rows and the consumers' cursors (at the head: they start from now)."""
        for name, consumers in self._active().items():
            src = self.registry.sources[name]
            async with self.db.transaction() as uow:
                await seq.check_table(uow, src)
                state = await seq.ensure_source(uow, src)
                await seq.lock(uow, state.id, wait=True)
                state = await seq.load(uow, src)
                await seq.sequence(uow, src, state)
                await seq.ensure_cursors(uow, state, [c.name for c in consumers])
            self._states[name] = state
        self._ready = frozenset(self.registry.consumers)

    async def run_once(self) -> int:
        """One round; the rows numbered plus the rows delivered (0: nothing to do now)."""
        if not self.registry.consumers:
            return 0
        if self._ready != frozenset(self.registry.consumers):
            await self.setup()
        sequenced, claims = await self._round()
        if not claims:
            return sequenced
        done = await asyncio.gather(*(self._deliver(c) for c in claims))
        return sequenced + sum(done)

    async def _round(self) -> tuple[int, list[Claim]]:
        active = self._active()
        now = utcnow()
        total = 0
        held = False
        async with self.db.transaction() as uow:
            for name in active:
                src = self.registry.sources[name]
                state = self._states[name]
                if not await seq.lock(uow, state.id, wait=False):
                    continue  # another worker is numbering this source right now
                fresh = await seq.load(uow, src)
                n, more = await seq.sequence(uow, src, fresh)
                total += n
                held = held or more
                await seq.prune(uow, fresh)
                self._states[name] = fresh
            claims = await self._claim(uow, active, now)
        self.held_back = held
        return total, claims

    async def _claim(self, uow: UnitOfWork, active: dict[str, list[Consumer]], now: Any) -> list[Claim]:
        c = cursors_t.c
        e = entries_t.c
        names = [con.name for cons in active.values() for con in cons]
        waiting = sa.exists().where(e.source_id == c.source_id, e.bucket == c.bucket, e.pos > c.pos)
        ready = (
            sa.select(c.consumer, c.bucket)
            .where(
                c.consumer.in_(names),
                # Released (no owner) or its lease ran out.
                sa.or_(c.lease_owner.is_(None), c.lease_until.is_(None), c.lease_until < now),
                sa.or_(c.retry_at.is_(None), c.retry_at <= now),
                waiting,
            )
            .order_by(c.lease_until.nulls_first(), c.consumer, c.bucket)
            .limit(self.partitions)
        )
        if uow.dialect == "postgresql":
            ready = ready.with_for_update(skip_locked=True)
        rows = await uow.execute(
            cursors_t.update()
            .where(sa.tuple_(c.consumer, c.bucket).in_(ready))
            .values(lease_owner=self.name, lease_until=now + self.lease, lease_token=c.lease_token + 1)
            .returning(c.consumer, c.bucket, c.pos, c.lease_token, c.attempts)
        )
        claims = []
        for r in rows:
            con = self.registry.consumers[r.consumer]
            claims.append(
                Claim(
                    con,
                    self.registry.sources[con.source],
                    int(r.bucket),
                    int(r.pos),
                    int(r.lease_token),
                    int(r.attempts),
                )
            )
        return claims

    def _mine(self, claim: Claim) -> Any:
        c = cursors_t.c
        return sa.and_(
            c.consumer == claim.consumer.name,
            c.bucket == claim.bucket,
            c.lease_token == claim.token,
            c.lease_owner == self.name,
        )

    async def _read(
        self, conn: AsyncConnection | UnitOfWork, claim: Claim
    ) -> tuple[list[dict[str, Any]], int]:
        """The claim's next batch: its source rows in order, and the position after it."""
        t = claim.source.table
        e = entries_t.c
        state = self._states[claim.source.name]
        stmt = (
            sa.select(e.pos.label("_feed_pos"), *t.c)
            .select_from(entries_t.outerjoin(t, t.c.id == e.row_id))
            .where(e.source_id == state.id, e.bucket == claim.bucket, e.pos > claim.pos)
            .order_by(e.pos)
            .limit(claim.consumer.batch)
        )
        found = (await conn.execute(stmt)).mappings().all()
        if not found:
            return [], claim.pos
        # A row deleted since it was numbered (its ticket was deleted) is passed over.
        rows = [{k: v for k, v in r.items() if k != "_feed_pos"} for r in found if r["id"] is not None]
        return rows, int(found[-1]["_feed_pos"])

    async def _deliver(self, claim: Claim) -> int:
        try:
            if claim.consumer.idempotent:
                return await self._deliver_outside(claim)
            return await self._deliver_inside(claim)
        except Exception as exc:
            log.exception("feed consumer %s failed (partition %d)", claim.consumer.name, claim.bucket)
            await self._failed(claim, exc)
            return 0

    async def _deliver_inside(self, claim: Claim) -> int:
        async with self.db.transaction() as uow:
            # Re-check the lease and hold the cursor row (PostgreSQL: until commit, so no other
            # worker can claim it even if the lease ran out meanwhile).
            held = (
                await uow.execute(
                    cursors_t.update()
                    .where(self._mine(claim))
                    .values(lease_until=utcnow() + self.lease)
                    .returning(cursors_t.c.pos)
                )
            ).first()
            if held is None:
                return 0
            rows, upto = await self._read(uow, claim)
            if rows:
                await claim.consumer.handler(self._batch(claim, rows, uow))
            await self._advance(uow, claim, upto, len(rows))
        return len(rows)

    async def _deliver_outside(self, claim: Claim) -> int:
        async with self.db.read() as conn:
            rows, upto = await self._read(conn, claim)
        if rows:
            beat = asyncio.create_task(self._heartbeat(claim))
            try:
                await claim.consumer.handler(self._batch(claim, rows, None))
            finally:
                beat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await beat
        async with self.db.transaction() as uow:
            if not await self._advance(uow, claim, upto, len(rows)):
                log.warning(
                    "feed consumer %s partition %d: lease lost during delivery; it may be delivered again",
                    claim.consumer.name,
                    claim.bucket,
                )
                return 0
        return len(rows)

    def _batch(self, claim: Claim, rows: list[dict[str, Any]], uow: UnitOfWork | None) -> Batch:
        return Batch(
            claim.consumer.name, claim.source.name, claim.bucket, rows, self.platform, uow, self.name
        )

    async def _heartbeat(self, claim: Claim) -> None:
        """Extend the lease while an idempotent handler runs, so nobody takes the partition over."""
        every = max(self.lease.total_seconds() / 3, 0.05)
        while True:
            await asyncio.sleep(every)
            try:
                async with self.db.transaction() as uow:
                    await uow.execute(
                        cursors_t.update().where(self._mine(claim)).values(lease_until=utcnow() + self.lease)
                    )
            except Exception:
                log.exception("feed lease heartbeat failed")

    async def _advance(self, uow: UnitOfWork, claim: Claim, upto: int, n: int) -> bool:
        c = cursors_t.c
        now = utcnow()
        result = await uow.execute(
            cursors_t.update()
            .where(self._mine(claim))
            .values(
                pos=upto,
                delivered=c.delivered + n,
                delivered_at=now,
                lease_owner=None,
                lease_until=now,
                attempts=0,
                last_error=None,
                retry_at=None,
                failing_since=None,
            )
        )
        return bool(result.rowcount)

    async def _failed(self, claim: Claim, exc: BaseException) -> None:
        c = cursors_t.c
        now = utcnow()
        attempts = claim.attempts + 1
        try:
            async with self.db.transaction() as uow:
                await uow.execute(
                    cursors_t.update()
                    .where(self._mine(claim))
                    .values(
                        attempts=attempts,
                        last_error=f"{type(exc).__name__}: {exc}"[:2000],
                        retry_at=now + self.retry(attempts),
                        failing_since=sa.func.coalesce(
                            c.failing_since, sa.literal(now, c.failing_since.type)
                        ),
                        lease_owner=None,
                        lease_until=now,
                    )
                )
        except Exception:
            log.exception("could not record the failure of feed consumer %s", claim.consumer.name)
