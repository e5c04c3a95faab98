"""How far behind each consumer is, read from the database alone (``helpline check``, ``/metrics``).

Nothing here needs the registry: each source's table, key and time column are kept in
``feed_sources``, so a process that imports no domain can report on every consumer that ever ran.
A consumer nobody runs any more keeps its cursors and shows as falling behind, on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.db.base import UTCDateTime, utcnow
from helpline.platform.feed._sequence import cursors_t, entries_t, sources_t


@dataclass
class ConsumerLag:
    consumer: str
    source: str
    #: Rows committed that this consumer has not handled yet (numbered or not).
    behind: int
    #: Seconds since the oldest of those rows was written (None when the source has no time column,
    #: or nothing is behind).
    oldest_seconds: float | None
    #: Partitions whose last delivery raised, the most attempts of any, the newest error.
    failing: int
    attempts: int
    last_error: str | None
    failing_since: datetime | None
    delivered: int


@dataclass
class _Source:
    id: int
    name: str
    table: sa.TableClause
    time: sa.ColumnClause[Any] | None
    unsequenced: int
    oldest: datetime | None


async def _sources(conn: AsyncConnection) -> dict[int, _Source]:
    s = sources_t.c
    found: dict[int, _Source] = {}
    pg = conn.dialect.name == "postgresql"
    for r in (await conn.execute(sa.select(s.id, s.name, s.table_name, s.time_column, s.low))).all():
        time = sa.column(r.time_column, UTCDateTime()) if r.time_column else None
        table = sa.table(
            r.table_name, sa.column("id", sa.BigInteger()), *([time] if time is not None else [])
        )
        newer: sa.ColumnElement[bool] | sa.TextClause
        if pg:
            newer = sa.text("txid >= CAST(CAST(:low AS text) AS xid8)").bindparams(
                sa.bindparam("low", int(r.low), type_=sa.BigInteger())
            )
        else:
            newer = table.c.id > int(r.low)
        cols: list[Any] = [sa.func.count()]
        if time is not None:
            cols.append(sa.func.min(time))
        row = (await conn.execute(sa.select(*cols).select_from(table).where(newer))).one()
        oldest = row[1] if time is not None else None
        found[int(r.id)] = _Source(int(r.id), r.name, table, time, int(row[0]), oldest)
    return found


async def consumer_lag(conn: AsyncConnection) -> list[ConsumerLag]:
    """One line per consumer that has cursors, by name."""
    sources = await _sources(conn)
    c = cursors_t.c
    e = entries_t.c
    after = sa.and_(e.source_id == c.source_id, e.bucket == c.bucket, e.pos > c.pos)
    behind = sa.select(sa.func.count()).where(after).scalar_subquery()
    first = sa.select(e.row_id).where(after).order_by(e.pos).limit(1).scalar_subquery()
    rows = (
        await conn.execute(
            sa.select(
                c.consumer,
                c.source_id,
                c.delivered,
                c.attempts,
                c.last_error,
                c.failing_since,
                behind.label("behind"),
                first.label("first_row"),
            ).order_by(c.consumer, c.bucket)
        )
    ).all()
    firsts: dict[int, list[int]] = {}
    for r in rows:
        if r.first_row is not None:
            firsts.setdefault(int(r.source_id), []).append(int(r.first_row))
    first_time: dict[tuple[int, int], datetime] = {}
    for sid, ids in firsts.items():
        src = sources[sid]
        if src.time is None:
            continue
        found = await conn.execute(sa.select(src.table.c.id, src.time).where(src.table.c.id.in_(ids)))
        pairs: list[Any] = list(found)
        for rid, at in pairs:
            if isinstance(at, datetime):
                first_time[(sid, int(rid))] = at
    now = utcnow()
    out: dict[str, ConsumerLag] = {}
    for r in rows:
        src = sources[int(r.source_id)]
        lag = out.get(r.consumer)
        if lag is None:
            oldest = src.oldest
            lag = out[r.consumer] = ConsumerLag(
                r.consumer, src.name, src.unsequenced, _age(now, oldest), 0, 0, None, None, 0
            )
        lag.behind += int(r.behind)
        lag.delivered += int(r.delivered)
        at = first_time.get((src.id, int(r.first_row))) if r.first_row is not None else None
        age = _age(now, at)
        if age is not None and (lag.oldest_seconds is None or age > lag.oldest_seconds):
            lag.oldest_seconds = age
        if r.attempts:
            lag.failing += 1
            if r.attempts > lag.attempts:
                lag.attempts = int(r.attempts)
                lag.last_error = r.last_error
            if r.failing_since is not None and (
                lag.failing_since is None or r.failing_since < lag.failing_since
            ):
                lag.failing_since = r.failing_since
    for lag in out.values():
        if lag.behind == 0:
            lag.oldest_seconds = None
    return list(out.values())


def _age(now: datetime, at: datetime | None) -> float | None:
    return None if at is None else max((now - at).total_seconds(), 0.0)
