"""Sequencing: giving each committed source row its place (``pos``) in delivery order.

Why a separate step: on PostgreSQL ids are taken when a row is inserted but become visible when its
transaction commits, so a cursor over ids would skip a lower id that commits after a higher one was
read. The sequencer only takes rows whose transaction is older than the oldest one still running
(``pg_snapshot_xmin(pg_current_snapshot())``): that set can no longer grow. Each pass takes every row
with ``low <= txid < xmin`` and numbers it in id order after the source's ``head``; ``low`` becomes
``xmin``. Every row falls in exactly one pass, so none is skipped or numbered twice, and a ticket's
rows keep their id order: the tickets service inserts a ticket's events after updating its row, so
two transactions that write one ticket's events hold its row lock in turn, and the later one's ids
are higher (ADR 0014). On SQLite there is one writer, so commit order is id order and ``low`` is the
last id taken; the table is AUTOINCREMENT so an id is never reused after the newest rows are deleted.

Everything here runs in the caller's write transaction (the worker's round).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from helpline.platform.db import UnitOfWork
from helpline.platform.feed._registry import Source
from helpline.platform.models import FeedCursor, FeedEntry, FeedSource

sources_t = FeedSource.__table__
entries_t = FeedEntry.__table__
cursors_t = FeedCursor.__table__

#: First key of the PostgreSQL advisory lock that makes one sequencer per source at a time ("FEED").
LOCK_CLASS = 0x46454544
#: Rows numbered per pass on SQLite (PostgreSQL takes a whole pass: see :func:`sequence`).
SQLITE_PASS = 5000
#: Entries deleted per pass once every cursor has passed them.
PRUNE_PASS = 10_000


class FeedSetupError(RuntimeError):
    """The database cannot serve a source as registered (missing column, changed partition count)."""


@dataclass
class SourceState:
    id: int
    low: int
    head: int
    pruned: int
    buckets: int


def _big(name: str, value: int) -> sa.BindParameter[int]:
    """A 64-bit parameter: transaction ids pass 2**31 (the epoch is in the high bits)."""
    return sa.bindparam(name, value, type_=sa.BigInteger())


async def check_table(uow: UnitOfWork, src: Source) -> None:
    """Refuse a table that cannot tell the feed its commit order (see :class:`Source`)."""
    name = src.table.name
    if uow.dialect == "postgresql":
        found = (
            await uow.execute(
                sa.text(
                    "SELECT data_type FROM information_schema.columns "
                    "WHERE table_schema = current_schema() AND table_name = :t AND column_name = 'txid'"
                ),
                {"t": name},
            )
        ).scalar()
        if found != "xid8":
            raise FeedSetupError(
                f"feed source {src.name!r}: {name}.txid (xid8 DEFAULT pg_current_xact_id()) is missing; "
                "run `helpline migrate`"
            )
    else:
        ddl = (
            await uow.execute(
                sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :t"), {"t": name}
            )
        ).scalar()
        if ddl is None or "AUTOINCREMENT" not in ddl.upper():
            raise FeedSetupError(
                f"feed source {src.name!r}: table {name} must be AUTOINCREMENT on SQLite; "
                "run `helpline migrate`"
            )


async def ensure_source(uow: UnitOfWork, src: Source) -> SourceState:
    """The source's row, created on first use; refuses a changed partition count."""
    ins = (postgresql if uow.dialect == "postgresql" else sqlite).insert(sources_t)
    await uow.execute(
        ins.values(
            name=src.name,
            table_name=src.table.name,
            key_column=src.key,
            time_column=src.time,
            buckets=src.buckets,
            low=0,
            head=0,
            pruned=0,
        ).on_conflict_do_nothing(index_elements=["name"])
    )
    state = await load(uow, src)
    if state.buckets != src.buckets:
        raise FeedSetupError(
            f"feed source {src.name!r} has {state.buckets} partitions in the database, the code asks "
            f"for {src.buckets}; changing it needs a migration of the cursors"
        )
    return state


async def load(uow: UnitOfWork, src: Source) -> SourceState:
    s = sources_t.c
    row = (
        await uow.execute(sa.select(s.id, s.low, s.head, s.pruned, s.buckets).where(s.name == src.name))
    ).one()
    return SourceState(int(row.id), int(row.low), int(row.head), int(row.pruned), int(row.buckets))


async def lock(uow: UnitOfWork, source_id: int, *, wait: bool) -> bool:
    """Take the source's sequencing lock for this transaction (PostgreSQL; SQLite's single writer
    already is one). Without ``wait``, False when another worker holds it."""
    if uow.dialect != "postgresql":
        return True
    fn = "pg_advisory_xact_lock" if wait else "pg_try_advisory_xact_lock"
    got = (await uow.execute(sa.text(f"SELECT {fn}(:c, :s)"), {"c": LOCK_CLASS, "s": source_id})).scalar()
    return wait or bool(got)


async def sequence(uow: UnitOfWork, src: Source, state: SourceState) -> tuple[int, bool]:
    """Number the rows that became safe to deliver; ``(rows numbered, held back)``. Held back: some
    committed rows wait for an older transaction still running (PostgreSQL), so look again soon.

    With no cursor on the source yet, nothing is numbered: ``low`` skips to now, and consumers
    created next start from here (a new consumer receives what is written after it first runs).
    """
    has_cursors = (
        await uow.execute(sa.select(sa.exists().where(cursors_t.c.source_id == state.id)))
    ).scalar()
    t = src.table
    if uow.dialect == "postgresql":
        xmin = int(
            (
                await uow.execute(sa.text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint"))
            ).scalar_one()
        )
        n = 0
        if has_cursors and xmin > state.low:
            window = sa.text(
                "txid >= CAST(CAST(:low AS text) AS xid8) AND txid < CAST(CAST(:xmin AS text) AS xid8)"
            ).bindparams(_big("low", state.low), _big("xmin", xmin))
            n = await _insert_entries(uow, src, state, sa.select(t.c.id, t.c[src.key]).where(window))
        held = (
            await uow.execute(
                sa.select(
                    sa.exists()
                    .where(
                        sa.text("txid >= CAST(CAST(:xmin AS text) AS xid8)").bindparams(_big("xmin", xmin))
                    )
                    .select_from(t)
                )
            )
        ).scalar()
        new_low = max(xmin, state.low)
    else:
        if not has_cursors:
            n = 0
            new_low = int((await uow.execute(sa.select(sa.func.max(t.c.id)))).scalar() or 0)
            new_low = max(new_low, state.low)
        else:
            page = (
                sa.select(t.c.id, t.c[src.key]).where(t.c.id > state.low).order_by(t.c.id).limit(SQLITE_PASS)
            )
            n = await _insert_entries(uow, src, state, page)
            last = (
                await uow.execute(
                    sa.select(entries_t.c.row_id).where(
                        entries_t.c.source_id == state.id, entries_t.c.pos == state.head + n
                    )
                )
            ).scalar()
            new_low = int(last) if n and last is not None else state.low
        held = n == SQLITE_PASS  # more to number: go again at once
    if n or new_low != state.low:
        await uow.execute(
            sources_t.update().where(sources_t.c.id == state.id).values(low=new_low, head=state.head + n)
        )
        state.low, state.head = new_low, state.head + n
    return n, bool(held)


async def _insert_entries(
    uow: UnitOfWork, src: Source, state: SourceState, rows: sa.Select[tuple[int, int]]
) -> int:
    """Entries for ``rows`` (id, key), numbered in id order after ``state.head``; how many."""
    sub = rows.subquery()
    numbered = sa.select(
        sa.literal(state.id),
        sa.literal(state.head, sa.BigInteger()) + sa.func.row_number().over(order_by=sub.c.id),
        sa.func.coalesce(sub.c[src.key], 0) % state.buckets,
        sub.c.id,
    )
    result = await uow.execute(
        entries_t.insert().from_select(["source_id", "pos", "bucket", "row_id"], numbered)
    )
    return int(result.rowcount or 0)


async def ensure_cursors(uow: UnitOfWork, state: SourceState, consumers: list[str]) -> None:
    """Cursors for consumers that have none, at the source's head (they start from now)."""
    if not consumers:
        return
    have = {
        (r[0], int(r[1]))
        for r in await uow.execute(
            sa.select(cursors_t.c.consumer, cursors_t.c.bucket).where(cursors_t.c.consumer.in_(consumers))
        )
    }
    missing = [
        {
            "consumer": name,
            "bucket": b,
            "source_id": state.id,
            "pos": state.head,
            "delivered": 0,
            "lease_token": 0,
            "attempts": 0,
        }
        for name in consumers
        for b in range(state.buckets)
        if (name, b) not in have
    ]
    if missing:
        ins = (postgresql if uow.dialect == "postgresql" else sqlite).insert(cursors_t)
        await uow.execute(ins.on_conflict_do_nothing(index_elements=["consumer", "bucket"]), missing)


async def prune(uow: UnitOfWork, state: SourceState) -> int:
    """Delete entries every cursor of the source has passed (a bounded slice per call)."""
    low_pos = (
        await uow.execute(sa.select(sa.func.min(cursors_t.c.pos)).where(cursors_t.c.source_id == state.id))
    ).scalar()
    upto = min(state.head if low_pos is None else int(low_pos), state.pruned + PRUNE_PASS)
    if upto <= state.pruned:
        return 0
    e = entries_t.c
    result = await uow.execute(
        entries_t.delete().where(e.source_id == state.id, e.pos > state.pruned, e.pos <= upto)
    )
    await uow.execute(sources_t.update().where(sources_t.c.id == state.id).values(pruned=upto))
    state.pruned = upto
    return int(result.rowcount or 0)
