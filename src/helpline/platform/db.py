"""The database seam: engines, transactions with after-commit hooks, and dialect differences.

SQLite (embedded) gets one writer connection, so write transactions queue in-process instead of
failing with ``database is locked``; readers use their own pool and see the last commit (WAL).
PostgreSQL (distributed) uses one pool for both.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)

AfterCommit = Callable[[], Awaitable[None]]


@dataclass
class UnitOfWork:
    """One write transaction. Side effects registered with :meth:`on_commit` run only after it commits."""

    conn: AsyncConnection
    dialect: str
    _after: list[AfterCommit] = field(default_factory=list)

    def on_commit(self, fn: AfterCommit) -> None:
        self._after.append(fn)

    async def execute(self, stmt: Any, params: Any = None) -> sa.CursorResult[Any]:
        return await self.conn.execute(stmt, params)


def _sqlite_setup(engine: AsyncEngine, *, writer: bool) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _rec: Any) -> None:
        # Let us emit BEGIN ourselves (pysqlite's implicit transactions get in the way of IMMEDIATE).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        for pragma in (
            "journal_mode=WAL",
            "foreign_keys=ON",
            "busy_timeout=30000",
            "synchronous=NORMAL",
            "cache_size=-65536",
            "temp_store=MEMORY",
            "mmap_size=268435456",
        ):
            cur.execute(f"PRAGMA {pragma}")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")


class Database:
    """Engines for one database URL, built once at start-up."""

    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False) -> None:
        self.url = url
        self.dialect = "sqlite" if url.startswith("sqlite") else "postgresql"
        if self.dialect == "sqlite":
            self.writer = create_async_engine(url, echo=echo, pool_size=1, max_overflow=0, pool_timeout=300)
            _sqlite_setup(self.writer, writer=True)
            self.reader = create_async_engine(url, echo=echo, pool_size=pool_size, max_overflow=pool_size)
            _sqlite_setup(self.reader, writer=False)
        else:
            self.writer = create_async_engine(
                url, echo=echo, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
            )
            self.reader = self.writer
        self._write_lock = asyncio.Lock() if self.dialect == "sqlite" else None

    @classmethod
    def for_migrations(cls, url: str) -> AsyncEngine:
        engine = create_async_engine(url, poolclass=NullPool)
        if url.startswith("sqlite"):
            _sqlite_setup(engine, writer=True)
        return engine

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[UnitOfWork]:
        """A write transaction; commits on normal exit, then runs the after-commit hooks in order.

        A hook that fails is logged and does not undo the commit: hooks carry notifications, never state.
        """
        lock = self._write_lock
        if lock is not None:
            await lock.acquire()
        try:
            async with self.writer.begin() as conn:
                uow = UnitOfWork(conn, self.dialect)
                yield uow
        finally:
            if lock is not None:
                lock.release()
        for hook in uow._after:
            try:
                await hook()
            except Exception:
                log.exception("after-commit hook failed")

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only connection (its transaction is rolled back at the end)."""
        async with self.reader.connect() as conn:
            yield conn

    async def dispose(self) -> None:
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()
