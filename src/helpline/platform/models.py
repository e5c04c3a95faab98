"""Tables owned by the platform rather than a domain: the job queue and stored idempotent answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from helpline.db.base import Base, IdMixin, JSONType, utcnow


class Job(IdMixin, Base):
    """A unit of background work. Arguments are ids and JSON values; handlers reload state."""

    __tablename__ = "jobs"
    __table_args__ = (
        sa.Index("ix_jobs_ready", "state", "run_at", "id"),
        # At most one queued job per dedupe key: enqueueing the same work twice coalesces.
        sa.Index(
            "uq_jobs_dedupe_queued",
            "dedupe_key",
            unique=True,
            sqlite_where=sa.text("state = 'queued' AND dedupe_key IS NOT NULL"),
            postgresql_where=sa.text("state = 'queued' AND dedupe_key IS NOT NULL"),
        ),
    )
    kind: Mapped[str] = mapped_column(sa.String(64))
    args: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    state: Mapped[str] = mapped_column(sa.String(16), default="queued")
    dedupe_key: Mapped[str | None] = mapped_column(sa.String(200))
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=8)
    run_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_by: Mapped[str | None] = mapped_column(sa.String(64))
    locked_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class IdempotencyKey(Base):
    """A POST answered once; repeating it with the same key returns the stored answer."""

    __tablename__ = "idempotency_keys"
    workspace_id: Mapped[int] = mapped_column(
        sa.ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(sa.String(64))
    status_code: Mapped[int]
    body: Mapped[Any] = mapped_column(JSONType, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FeedSource(Base):
    """A table whose rows the durable feed delivers (ADR 0014), and how far it has been sequenced.

    The table's own description (name, partition key, time column) is kept here too, so that lag can
    be read by ``helpline check`` and ``/metrics`` without importing the domain that registered it.
    """

    __tablename__ = "feed_sources"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    table_name: Mapped[str] = mapped_column(sa.String(64))
    key_column: Mapped[str] = mapped_column(sa.String(64))
    time_column: Mapped[str | None] = mapped_column(sa.String(64))
    #: Partitions per consumer: a row goes to partition ``key % buckets``. Fixed once created.
    buckets: Mapped[int]
    #: Sequenced up to here: the last row id on SQLite; on PostgreSQL the transaction-id horizon
    #: (every row written by a transaction below it has an entry).
    low: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    #: The last position handed out; positions count 1, 2, 3 … per source.
    head: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    #: Entries up to this position were deleted once every cursor had passed them.
    pruned: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FeedEntry(Base):
    """One source row at its place in delivery order: what the consumers' cursors count in."""

    __tablename__ = "feed_entries"
    __table_args__ = (sa.Index("ix_feed_entries_bucket", "source_id", "bucket", "pos"),)
    source_id: Mapped[int] = mapped_column(
        sa.ForeignKey("feed_sources.id", ondelete="CASCADE"), primary_key=True
    )
    pos: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    bucket: Mapped[int] = mapped_column(sa.SmallInteger)
    row_id: Mapped[int] = mapped_column(sa.BigInteger)


class FeedCursor(Base):
    """How far one consumer got in one partition of its source, and who holds that partition now."""

    __tablename__ = "feed_cursors"
    consumer: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    bucket: Mapped[int] = mapped_column(sa.SmallInteger, primary_key=True, autoincrement=False)
    source_id: Mapped[int] = mapped_column(sa.ForeignKey("feed_sources.id", ondelete="CASCADE"), index=True)
    #: Every entry up to this position was delivered.
    pos: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    delivered: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    delivered_at: Mapped[datetime | None]
    #: The worker holding the partition until ``lease_until``; ``lease_token`` grows with each claim,
    #: so a worker whose lease was taken over cannot move the cursor.
    lease_owner: Mapped[str | None] = mapped_column(sa.String(100))
    lease_until: Mapped[datetime | None]
    lease_token: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    #: Failed deliveries in a row, the last error, when to try again, since when it fails.
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    retry_at: Mapped[datetime | None]
    failing_since: Mapped[datetime | None]
