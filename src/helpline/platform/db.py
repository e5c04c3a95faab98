"""The database seam: engines, transactions with after-commit hooks, and dialect differences.

SQLite (embedded) gets one writer connection, so write transactions queue in-process instead of
failing with ``database is locked``; readers use their own pool and see the last commit (WAL). The
driver is aiosqlite with fewer trips to its thread (:class:`_Connection`): one per statement, its
rows included, where aiosqlite takes four.
PostgreSQL (distributed) has a pool for each: reads run in autocommit (no BEGIN/ROLLBACK round
trips: each statement sees the latest commit, as it would under READ COMMITTED anyway) with custom
plans always, writes with PostgreSQL's default plan caching (see :class:`Database`).

Two helpers keep the hot paths to one statement where they can:

- :func:`remember` / :func:`recall`: a value tied to a connection *until its next statement*. A
  query that already fetched more than it returns (a ticket with its tags) leaves the rest here for
  the next call on the same connection; any statement in between, or the connection going back to
  the pool, forgets it, so nothing stale is ever read from it.
- :meth:`Database.on_write`: hooks that run after a transaction that wrote to given tables commits
  (how cached principals and custom-field definitions learn that they are out of date).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVarTuple, overload

import aiosqlite
import sqlalchemy as sa
from aiosqlite.context import contextmanager as aiosqlite_contextmanager
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.selectable import TypedReturnsRows

log = logging.getLogger(__name__)

AfterCommit = Callable[[], Awaitable[None]]
_Ts = TypeVarTuple("_Ts")

_MEMO = "helpline.memo"
_WROTE = "helpline.wrote"
#: Execution option: this write changes nothing a cache depends on (e.g. a token's last-use time).
QUIET = "helpline_quiet"


@dataclass
class UnitOfWork:
    """One write transaction. Side effects registered with :meth:`on_commit` run only after it commits."""

    conn: AsyncConnection
    dialect: str
    _after: list[AfterCommit] = field(default_factory=list)
    #: The database's :attr:`Database.extras`: what start-up set up for code that runs inside a
    #: transaction (the tickets domain's channel registry), reachable without the platform.
    extras: dict[str, Any] = field(default_factory=dict)

    def on_commit(self, fn: AfterCommit) -> None:
        self._after.append(fn)

    # The same overloads as ``AsyncConnection.execute``: a typed SELECT / RETURNING gives rows of its
    # columns; any other statement (``text()``, a DML without RETURNING) gives rows of unknown width.
    @overload
    async def execute(self, stmt: TypedReturnsRows[*_Ts], params: Any = None) -> sa.CursorResult[*_Ts]: ...

    @overload
    async def execute(self, stmt: sa.Executable, params: Any = None) -> sa.CursorResult[*tuple[Any, ...]]: ...

    async def execute(self, stmt: sa.Executable, params: Any = None) -> sa.CursorResult[*tuple[Any, ...]]:
        return await self.conn.execute(stmt, params)


def remember(conn: AsyncConnection, key: object, value: object) -> None:
    """Keep ``value`` for the next :func:`recall` of ``key`` on ``conn``, until its next statement."""
    memo = conn.info.get(_MEMO)
    if memo is None:
        conn.info[_MEMO] = {key: value}
    else:
        memo[key] = value


def recall(conn: AsyncConnection, key: object) -> Any:
    """What :func:`remember` left under ``key`` if no statement ran on ``conn`` since; else None."""
    memo = conn.info.get(_MEMO)
    return None if memo is None else memo.get(key)


def _watch(engine: AsyncEngine) -> None:
    """Forget memos on every statement and on check-in; note which tables a transaction writes."""

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _forget(conn: Any, *_: Any) -> None:
        info = conn.info
        if _MEMO in info:
            del info[_MEMO]

    @event.listens_for(engine.sync_engine.pool, "checkin")
    def _checkin(_dbapi: Any, record: Any) -> None:
        if record is not None:
            record.info.pop(_MEMO, None)
            record.info.pop(_WROTE, None)

    @event.listens_for(engine.sync_engine, "before_execute")
    def _wrote(conn: Any, stmt: Any, *_: Any) -> None:
        if isinstance(stmt, UpdateBase) and not stmt.get_execution_options().get(QUIET):
            table = getattr(stmt, "table", None)
            name = getattr(table, "name", None)
            if name is not None:
                kind = (
                    "insert"
                    if isinstance(stmt, sa.Insert)
                    else "update"
                    if isinstance(stmt, sa.Update)
                    else "delete"
                )
                conn.info.setdefault(_WROTE, set()).add((name, kind))


def _run_and_fetch(cur: sqlite3.Cursor, begin: str | None, sql: str, params: Any) -> list[Any] | None:
    if begin:
        cur.execute(begin)
    cur.execute(sql, params)
    return cur.fetchall() if cur.description is not None else None


def _run_many(cur: sqlite3.Cursor, begin: str | None, sql: str, params: Any) -> None:
    if begin:
        cur.execute(begin)
    cur.executemany(sql, params)


class _Cursor(aiosqlite.Cursor):
    """A statement and its rows in one trip to the driver's thread (SQLAlchemy fetches every row of
    a result anyway: no server-side cursors here); closing a finished cursor costs no trip."""

    _rows: list[Any] | None = None

    def __init__(self, conn: _Connection, cursor: sqlite3.Cursor) -> None:
        super().__init__(conn, cursor)
        self._owner = conn

    async def execute(self, sql: str, parameters: Any = None) -> _Cursor:
        params = () if parameters is None else parameters
        begin = self._owner.take_begin()
        self._rows = await self._owner._execute(_run_and_fetch, self._cursor, begin, sql, params)
        return self

    async def executemany(self, sql: str, parameters: Any) -> _Cursor:
        self._rows = None
        await self._owner._execute(_run_many, self._cursor, self._owner.take_begin(), sql, parameters)
        return self

    async def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows, None
        return list(await super().fetchall()) if rows is None else rows

    async def fetchone(self) -> Any:
        if self._rows is None:
            return await super().fetchone()
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        if self._rows is None:
            return list(await super().fetchmany(size))
        n = self._cursor.arraysize if size is None else size
        out, self._rows = self._rows[:n], self._rows[n:]
        return out

    async def close(self) -> None:
        self._rows = None
        if self._owner.idle():
            self._cursor.close()  # nothing runs on this connection's thread: no trip needed
        else:
            await super().close()


class _Connection(aiosqlite.Connection):
    """aiosqlite with fewer trips to its thread. Every trip costs both threads a wake-up and the
    event loop a turn; a statement used to take four (cursor, execute, fetch, close), now one, and
    a write transaction's ``BEGIN IMMEDIATE`` rides with its first statement (:meth:`begin_with_next`).
    Only work that is instant and needs nothing else in flight runs inline: making a cursor,
    closing a finished one, and a rollback with no transaction open (the pool's reset on return)."""

    _sent = 0
    _ran = 0
    _begin: str | None = None

    def begin_with_next(self, sql: str) -> None:
        """Run ``sql`` (a BEGIN) just before the next statement, in the same trip to the thread."""
        self._begin = sql

    def take_begin(self) -> str | None:
        begin, self._begin = self._begin, None
        return begin

    def idle(self) -> bool:
        return self._sent == self._ran and self._connection is not None

    async def _execute(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        def run() -> Any:
            try:
                return fn(*args, **kwargs)
            finally:
                self._ran += 1  # only the driver's thread writes this, only ours writes _sent

        self._sent += 1
        return await super()._execute(run)  # type: ignore[no-untyped-call]

    @aiosqlite_contextmanager
    async def cursor(self) -> aiosqlite.Cursor:
        if self.idle():
            return _Cursor(self, self._conn.cursor())
        return _Cursor(self, await self._execute(self._conn.cursor))

    async def rollback(self) -> None:
        self._begin = None
        if self.idle() and not self._conn.in_transaction:
            return
        await super().rollback()

    async def commit(self) -> None:
        self._begin = None  # a transaction that ran no statement has nothing to commit
        if self.idle() and not self._conn.in_transaction:
            return
        await super().commit()


def _connect_sqlite(database: Any, **kwargs: Any) -> _Connection:
    """What ``aiosqlite.connect`` does, with :class:`_Connection` (SQLAlchemy awaits it)."""
    conn = _Connection(partial(sqlite3.connect, str(database), **kwargs), 64)
    thread: Any = getattr(conn, "_thread", conn)  # aiosqlite < 0.22: the connection is the thread
    thread.daemon = True
    return conn


def _sqlite_setup(engine: AsyncEngine, *, writer: bool) -> None:
    @event.listens_for(engine.sync_engine, "do_connect")
    def _connect(_dialect: Any, _rec: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
        cparams["async_creator_fn"] = _connect_sqlite  # the aiosqlite adapter calls it with the args

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

    if writer:

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: Any) -> None:
            driver = getattr(conn.connection.dbapi_connection, "_connection", None)
            if isinstance(driver, _Connection):
                driver.begin_with_next("BEGIN IMMEDIATE")  # saves the BEGIN its own trip
            else:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

    # Readers emit no BEGIN: each SELECT is its own snapshot of the last commit (WAL), which saves
    # a round trip to the driver's thread per request and the ROLLBACK at the end.


@dataclass
class _WriteHook:
    tables: dict[str, frozenset[str]]
    hook: AfterCommit


class Database:
    """Engines for one database URL, built once at start-up."""

    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False) -> None:
        self.url = url
        self.dialect = "sqlite" if url.startswith("sqlite") else "postgresql"
        self._write_hooks: list[_WriteHook] = []
        #: Set up once at start-up for the code that runs in this database's transactions (each
        #: :class:`UnitOfWork` carries it): e.g. ``tickets.channel_port``'s registry of channels.
        self.extras: dict[str, Any] = {}
        if self.dialect == "sqlite":
            self.writer = create_async_engine(url, echo=echo, pool_size=1, max_overflow=0, pool_timeout=300)
            _sqlite_setup(self.writer, writer=True)
            self.reader = create_async_engine(
                url, echo=echo, pool_size=pool_size, max_overflow=pool_size, pool_reset_on_return=None
            )
            _sqlite_setup(self.reader, writer=False)
            _watch(self.reader)
        else:
            # No pre-ping: it cost BEGIN, a ping and ROLLBACK (three round trips) on every checkout.
            # A connection the server dropped fails its first statement and is then replaced by the
            # pool; recycling connections after 30 minutes keeps idle ones from going stale.
            # JIT off: it compiles queries whose cost estimate is high even when the plan that runs
            # is cheap (a search's unused branch), which cost 30-40 ms a query; it never pays off
            # for the short statements of an API.
            def engine(plan_cache_mode: str, **options: Any) -> AsyncEngine:
                settings = {"jit": "off", "plan_cache_mode": plan_cache_mode}
                return create_async_engine(
                    url,
                    echo=echo,
                    pool_size=pool_size,
                    max_overflow=pool_size,
                    pool_recycle=1800,
                    connect_args={"server_settings": settings},
                    **options,
                )

            # Two pools, because reads and writes want opposite plan caching. Reads: custom plans
            # always; statements are prepared (asyncpg), and a generic plan, blind to the search
            # words, picked the GIN-first plan for a common word (2 s) once a statement had run
            # five times. They run in autocommit: a read request sends its statements and nothing
            # else. Writes: PostgreSQL's default (a generic plan once it is no worse), because
            # planning every statement, and every foreign-key check's query (the triggers' plans
            # follow the same setting), again on every execution was half of a ticket create's
            # database CPU; their plans do not depend on the values.
            self.writer = engine("auto")
            self.reader = engine("force_custom_plan", isolation_level="AUTOCOMMIT")
            _watch(self.reader)
        _watch(self.writer)
        self._write_lock = asyncio.Lock() if self.dialect == "sqlite" else None

    @classmethod
    def for_migrations(cls, url: str) -> AsyncEngine:
        engine = create_async_engine(url, poolclass=NullPool)
        if url.startswith("sqlite"):
            _sqlite_setup(engine, writer=True)
        return engine

    def on_write(self, tables: Mapping[str, Iterable[str]], hook: AfterCommit) -> None:
        """Run ``hook`` after each commit of a transaction that wrote to one of ``tables``.

        ``tables`` maps a table name to the kinds of write that count (``insert``, ``update``,
        ``delete``). Writes built as SQLAlchemy Core statements are seen (``text()`` is not), except
        those executed with the ``QUIET`` execution option. The hook runs before the transaction's
        own after-commit hooks, so a change is visible to caches before anyone is told about it.
        """
        self._write_hooks.append(_WriteHook({t: frozenset(k) for t, k in tables.items()}, hook))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[UnitOfWork]:
        """A write transaction; commits on normal exit, then runs the after-commit hooks in order.

        A hook that fails is logged and does not undo the commit: hooks carry notifications, never state.
        """
        lock = self._write_lock
        if lock is not None:
            await lock.acquire()
        wrote: set[tuple[str, str]] | None = None
        try:
            async with self.writer.begin() as conn:
                conn.info.pop(_WROTE, None)
                uow = UnitOfWork(conn, self.dialect, extras=self.extras)
                yield uow
                wrote = conn.info.pop(_WROTE, None)
        finally:
            if lock is not None:
                lock.release()
        hooks: list[AfterCommit] = []
        if wrote and self._write_hooks:
            hooks = [
                h.hook
                for h in self._write_hooks
                if any(kind in h.tables.get(name, ()) for name, kind in wrote)
            ]
        for hook in [*hooks, *uow._after]:
            try:
                await hook()
            except Exception:
                log.exception("after-commit hook failed")

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only connection (no transaction is kept open on it)."""
        async with self.reader.connect() as conn:
            yield conn

    async def dispose(self) -> None:
        await self.writer.dispose()
        if self.reader.sync_engine.pool is not self.writer.sync_engine.pool:
            await self.reader.dispose()
