"""The durable feed (ADR 0014) on real SQLite and PostgreSQL: ticket events reach every consumer after
commit, in order per ticket, once per transactional consumer even when a worker dies mid-batch; two
workers split the partitions and never handle one event both; a failing consumer is retried without
holding up the others; PostgreSQL's out-of-order commits are not skipped; delivery is woken by the
commit; in-transaction consumers commit and fail with the writer."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from helpline.domains.tickets import feed as tickets_feed
from helpline.domains.tickets.models import Message
from helpline.platform import feed
from helpline.platform.jobs import JobRunner
from helpline.platform.runtime import Platform, build_platform
from tests.integration.platform.feedkit import (
    SEEN,
    all_seen,
    both,
    event,
    events,
    has_all,
    make_seen_table,
    make_tickets,
    name,
    per_ticket,
    registry,
    run_until,
    seen_rows,
    write_events,
)


@pytest.fixture
async def seen(platform: Platform) -> None:
    await make_seen_table(platform)


def recorder(consumer: str, log: list[int], *, worker: str = "w", pause: float = 0.0) -> feed.Handler:
    """A consumer that records each event in ``log`` (handling order) and, when it is not
    idempotent, in SEEN through the delivery's transaction (committed with the cursor)."""

    async def handle(batch: feed.Batch) -> None:
        ids = [int(r["id"]) for r in batch.rows]
        if batch.uow is not None:
            rows = [{"consumer": consumer, "event_id": i, "worker": worker} for i in ids]
            await batch.uow.execute(SEEN.insert(), rows)
        if pause:
            await asyncio.sleep(pause)
        log.extend(ids)

    return handle


def tickets_of(ids: list[int], tickets: list[int]) -> dict[int, int]:
    """Ticket of each id written by ``write_events`` (one per ticket per round)."""
    return {i: tickets[n % len(tickets)] for n, i in enumerate(ids)}


def assert_in_order(got: list[int], ticket_of: dict[int, int]) -> None:
    for t, order in per_ticket(got, ticket_of).items():
        assert order == sorted(order), f"ticket {t}: {order}"


async def test_every_consumer_gets_every_event_once_in_order_per_ticket(platform, ws, seen):
    tickets = await make_tickets(ws, 5)
    reg = registry()
    tx, idem = name("tx"), name("idem")
    got_tx: list[int] = []
    got_idem: list[int] = []
    reg.consumer("events", tx, recorder(tx, got_tx), batch=7)
    reg.consumer("events", idem, recorder(idem, got_idem), idempotent=True, batch=3)
    worker = feed.FeedWorker(platform, reg)
    await worker.setup()
    ids = await write_events(platform, ws.id, tickets, rounds=6)
    ticket_of = tickets_of(ids, tickets)
    await run_until([worker], both(has_all(got_tx, ids), has_all(got_idem, ids)))
    for got in (got_tx, got_idem):
        assert Counter(i for i in got if i in ticket_of) == Counter(ids)  # each exactly once
        assert_in_order(got, ticket_of)
    assert Counter(i for i, _ in await seen_rows(platform, tx) if i in ticket_of) == Counter(ids)
    async with platform.db.read() as conn:
        lags = {lag.consumer: lag for lag in await feed.consumer_lag(conn)}
    assert lags[tx].behind == 0 and lags[tx].failing == 0 and lags[tx].delivered >= len(ids)
    assert lags[idem].oldest_seconds is None and lags[idem].delivered >= len(ids)


async def test_a_worker_killed_mid_batch_loses_nothing_and_repeats_no_effect(platform, ws, seen):
    # On PostgreSQL the killed worker has a platform of its own, as another process would: the
    # connections it leaves behind are closed with it at the end, and what asyncpg says about them
    # then (a killed process says nothing) is not this test's failure.
    killed_platform = build_platform(platform.settings) if platform.db.dialect == "postgresql" else platform
    with _killed_connections_are_quiet():
        try:
            await _worker_killed_mid_batch(platform, killed_platform, ws)
        finally:
            if killed_platform is not platform:
                await killed_platform.close()
                await asyncio.sleep(0.1)  # the closed connections' callbacks run here


@contextlib.contextmanager
def _killed_connections_are_quiet() -> Any:
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, ConnectionError) and "connection_lost" in str(exc):
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)
    try:
        yield
    finally:
        loop.set_exception_handler(previous)


async def _worker_killed_mid_batch(platform: Platform, killed_platform: Platform, ws: Any) -> None:
    """The first batch of each consumer hangs and the worker's task is cancelled there: its leases
    and its open transaction are left as a killed process leaves them. A new worker takes over once
    the leases run out. The transactional consumer's effects are there once each (the killed batch
    rolled back); the idempotent consumer gets every event, and again only some the killed worker had
    handled (the interrupted batch among them, and others whose cursor move the kill cut off)."""
    tickets = await make_tickets(ws, 6)
    reg = registry()
    tx, idem = name("tx"), name("idem")
    got_tx: list[int] = []
    got_idem: list[int] = []
    killed: dict[str, list[int]] = {}
    hanging = asyncio.Event()

    def hang_first(consumer: str, inner: feed.Handler) -> feed.Handler:
        async def handle(batch: feed.Batch) -> None:
            await inner(batch)
            if consumer not in killed:
                killed[consumer] = [int(r["id"]) for r in batch.rows]
                hanging.set() if len(killed) == 2 else None
                await asyncio.Event().wait()  # the kill comes here, mid-batch

        return handle

    reg.consumer("events", tx, hang_first(tx, recorder(tx, got_tx)), batch=4)
    reg.consumer("events", idem, hang_first(idem, recorder(idem, got_idem)), idempotent=True, batch=4)
    lease = timedelta(seconds=1)
    first = feed.FeedWorker(killed_platform, reg, name="first", lease=lease, partitions=8)
    await first.setup()
    ids = await write_events(platform, ws.id, tickets, rounds=5)
    ticket_of = tickets_of(ids, tickets)

    async def rounds() -> None:  # until the kill (a round may find the rows held back on PostgreSQL)
        while True:
            if await first.run_once() == 0:
                await asyncio.sleep(0.02)

    task = asyncio.create_task(rounds())
    await asyncio.wait_for(hanging.wait(), 30)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert len(killed[tx]) == 4 and len(killed[idem]) == 4
    before_kill = set(got_idem)  # handled by the killed worker (its cursor moves may not have committed)

    second = feed.FeedWorker(platform, reg, name="second", lease=lease)
    await run_until([second], both(all_seen(platform, tx, ids), has_all(got_idem, ids)))

    effects = Counter(i for i, _ in await seen_rows(platform, tx))
    assert max(effects.values()) == 1 and set(ids) <= set(effects)  # every effect, none twice
    twice = {i for i, n in Counter(got_idem).items() if n > 1}
    assert set(killed[idem]) <= twice  # the batch the kill interrupted came again
    assert twice <= before_kill  # and nothing the killed worker had not handled
    assert set(ids) <= set(got_idem)
    assert_in_order(got_idem, ticket_of)
    assert_in_order(got_tx, ticket_of)


async def test_two_workers_split_the_work_and_never_handle_one_event_both(platform, ws, seen):
    """On PostgreSQL the second worker has a platform of its own (another process: its own pool).
    SQLite serves one process, so there both run in this one, sharing its single writer."""
    other = build_platform(platform.settings) if platform.db.dialect == "postgresql" else platform
    try:
        tickets = await make_tickets(ws, 8)  # consecutive ids: every partition has a ticket
        reg = registry()
        tx, idem = name("tx"), name("idem")
        logs: dict[str, list[int]] = {"tx": [], "idem": []}
        by_worker: dict[tuple[str, str], list[int]] = {}

        def per_worker(consumer: str, kind: str, idempotent: bool) -> feed.Handler:
            async def handle(batch: feed.Batch) -> None:
                who = batch.worker
                inner = recorder(consumer, by_worker.setdefault((kind, who), []), worker=who, pause=0.02)
                await inner(batch)
                logs[kind].extend(int(r["id"]) for r in batch.rows)

            return handle

        reg.consumer("events", tx, per_worker(tx, "tx", False), batch=5)
        reg.consumer("events", idem, per_worker(idem, "idem", True), idempotent=True, batch=5)
        a = feed.FeedWorker(platform, reg, name="a", partitions=2)
        b = feed.FeedWorker(other, reg, name="b", partitions=2)
        await asyncio.gather(a.setup(), b.setup())
        ids = await write_events(platform, ws.id, tickets, rounds=5)
        ticket_of = tickets_of(ids, tickets)
        await run_until([a, b], both(has_all(logs["tx"], ids), has_all(logs["idem"], ids)))

        for kind in ("tx", "idem"):
            assert max(Counter(logs[kind]).values()) == 1  # never two handlings of one event
            assert set(ids) <= set(logs[kind])
            mine_a, mine_b = by_worker.get((kind, "a"), []), by_worker.get((kind, "b"), [])
            assert mine_a and mine_b, f"{kind}: one worker did everything"
            assert not set(mine_a) & set(mine_b)
            assert_in_order(logs[kind], ticket_of)
        workers = Counter(w for _, w in await seen_rows(platform, tx))
        assert workers["a"] > 0 and workers["b"] > 0 and sum(workers.values()) == len(logs["tx"])
    finally:
        if other is not platform:
            await other.close()


async def test_a_failing_consumer_is_retried_with_its_error_recorded_and_blocks_no_one(platform, ws, seen):
    """A consumer fails on one ticket's events until it is fixed: the other consumer, and its own
    other partitions, get everything meanwhile; the failing partition is retried after a growing
    wait, its error and attempts shown; once fixed, it catches up in order with no effect twice."""
    tickets = await make_tickets(ws, 8)
    poison = tickets[3]
    reg = registry()
    bad, good = name("bad"), name("good")
    got_bad: list[int] = []
    got_good: list[int] = []
    broken = {"now": True}
    tries: list[float] = []

    async def flaky(batch: feed.Batch) -> None:
        if broken["now"] and any(r["ticket_id"] == poison for r in batch.rows):
            tries.append(time.monotonic())
            raise RuntimeError("boom: the mail server said no")
        await recorder(bad, got_bad)(batch)

    reg.consumer("events", bad, flaky)
    reg.consumer("events", good, recorder(good, got_good))
    worker = feed.FeedWorker(platform, reg, partitions=16, retry=lambda n: timedelta(milliseconds=300 * n))
    await worker.setup()
    ids = await write_events(platform, ws.id, tickets, rounds=3)
    ticket_of = tickets_of(ids, tickets)
    poisoned = [i for i in ids if ticket_of[i] == poison]

    async def others_done_and_retried_twice() -> bool:
        return set(ids) <= set(got_good) and set(ids) - set(poisoned) <= set(got_bad) and len(tries) >= 3

    await run_until([worker], others_done_and_retried_twice)
    assert not set(poisoned) & set(got_bad)
    assert (
        tries[1] - tries[0] >= 0.3 and tries[2] - tries[1] >= 0.6
    )  # 300 ms times the attempts between tries
    async with platform.db.read() as conn:
        lags = {lag.consumer: lag for lag in await feed.consumer_lag(conn)}
    assert lags[bad].failing == 1 and lags[bad].attempts == len(tries) and lags[bad].behind >= len(poisoned)
    assert "RuntimeError: boom" in (lags[bad].last_error or "") and lags[bad].failing_since is not None
    assert lags[good].failing == 0 and lags[good].behind == 0

    broken["now"] = False  # the consumer is fixed
    await run_until([worker], has_all(got_bad, ids))
    assert max(Counter(got_bad).values()) == 1
    assert Counter(i for i, _ in await seen_rows(platform, bad) if i in ticket_of) == Counter(ids)
    assert_in_order(got_bad, ticket_of)
    async with platform.db.read() as conn:
        lag = next(x for x in await feed.consumer_lag(conn) if x.consumer == bad)
    assert lag.failing == 0 and lag.attempts == 0 and lag.last_error is None and lag.behind == 0


async def _insert(conn: Any, ws_id: int, ticket_id: int) -> int:
    row = await conn.execute(events.insert().values(**event(ws_id, ticket_id, 0)).returning(events.c.id))
    return int(row.scalar_one())


async def test_postgresql_a_lower_id_committed_after_a_higher_one_is_not_skipped(platform, ws):
    """B takes its transaction id first, A then inserts (lower id), B inserts (higher id) and
    commits while A is still open. A cursor over ids would deliver B's event and pass A's for good."""
    if platform.db.dialect != "postgresql":
        pytest.skip("SQLite has one writer: ids commit in order")
    [ticket] = await make_tickets(ws, 1)
    reg = registry()
    c = name("c")
    got: list[int] = []
    reg.consumer("events", c, recorder(c, got), idempotent=True)
    worker = feed.FeedWorker(platform, reg)
    await worker.setup()
    async with platform.db.writer.connect() as a, platform.db.writer.connect() as b:
        await b.begin()
        await b.execute(sa.text("SELECT pg_current_xact_id()"))  # B is the older transaction
        await a.begin()
        low = await _insert(a, ws.id, ticket)
        high = await _insert(b, ws.id, ticket)
        assert low < high
        await b.commit()
        await run_until([worker], has_all(got, [high]), within=20)
        assert low not in got
        await a.commit()
    await run_until([worker], has_all(got, [low]), within=20)
    # Commit order: B's transaction ended first. (``got`` may also hold the ticket's own events,
    # committed just before the consumer started.)
    assert [i for i in got if i in (low, high)] == [high, low]


async def test_postgresql_rows_behind_an_open_transaction_wait_for_it(platform, ws):
    """A inserts first and stays open; B inserts after and commits. B's row is held back (it might
    otherwise pass A's) and the worker says so; once A commits both come, in id order."""
    if platform.db.dialect != "postgresql":
        pytest.skip("SQLite has one writer: ids commit in order")
    [ticket] = await make_tickets(ws, 1)
    reg = registry()
    c = name("c")
    got: list[int] = []
    reg.consumer("events", c, recorder(c, got), idempotent=True)
    worker = feed.FeedWorker(platform, reg)
    await worker.setup()
    async with platform.db.writer.connect() as a:
        await a.begin()
        first = await _insert(a, ws.id, ticket)
        [second] = await write_events(platform, ws.id, [ticket], rounds=1)
        await worker.run_once()
        assert worker.held_back and second not in got
        await a.commit()
    await run_until([worker], has_all(got, [first, second]), within=20)
    assert [i for i in got if i in (first, second)] == [first, second]


async def test_the_job_runner_delivers_as_soon_as_a_ticket_change_commits(platform, ws):
    """The runner polls every 30 s here: delivery within seconds is the commit's wake-up."""
    reg = registry()
    c = name("c")
    got: list[dict[str, Any]] = []

    async def handle(batch: feed.Batch) -> None:
        got.extend(batch.rows)

    reg.consumer("events", c, handle)
    runner = JobRunner(platform, feed=reg)
    await runner.feed.setup()
    task = asyncio.create_task(runner.run_forever(poll_seconds=30))
    try:
        await asyncio.sleep(0.2)  # the runner is waiting
        agent = await ws.person("agent")
        async with ws.client(agent) as client:
            r = await client.post(
                "/tickets", json={"subject": "s", "body": "b", "requester": {"email": "w@f.test"}}
            )
            tid = r.json()["id"]
        for _ in range(100):
            if any(row["ticket_id"] == tid for row in got):
                break
            await asyncio.sleep(0.05)
        kinds = [row["kind"] for row in got if row["ticket_id"] == tid]
        assert kinds, "not delivered within 5 s of the commit"
        assert all(row["workspace_id"] == ws.id for row in got if row["ticket_id"] == tid)
    finally:
        runner.stop()
        await task


async def test_in_transaction_consumers_commit_and_fail_with_the_writer(platform, ws, seen):
    [ticket] = await make_tickets(ws, 1)
    reg = registry()
    c = name("c")
    fail = {"now": False}

    async def count(uow: Any, rows: list[dict[str, Any]]) -> None:
        await uow.execute(SEEN.insert(), [{"consumer": c, "event_id": r["id"], "worker": "tx"} for r in rows])
        if fail["now"]:
            raise RuntimeError("refused")

    reg.consumer("events", c, count, in_transaction=True)
    assert feed.FeedWorker(platform, reg).registry.consumers == {}  # nothing for the worker to deliver

    async def write() -> int:
        async with platform.db.transaction() as uow:
            row = dict(event(ws.id, ticket, 0))
            row["id"] = await _insert(uow, ws.id, ticket)
            await reg.run_in_transaction(uow, "events", [row])
            return int(row["id"])

    async def ticket_events() -> set[int]:
        async with platform.db.read() as conn:
            return {
                int(r[0])
                for r in await conn.execute(sa.select(events.c.id).where(events.c.ticket_id == ticket))
            }

    before = await ticket_events()
    kept = await write()
    fail["now"] = True
    with pytest.raises(RuntimeError, match="refused"):
        await write()
    assert await ticket_events() == before | {kept}  # the refused write left no event
    assert [i for i, _ in await seen_rows(platform, c)] == [kept]  # nor a consumer's row


async def test_the_tickets_hook_calls_the_process_registry(platform, ws, seen):
    """``tickets.feed.in_transaction`` is what the events writer calls: it reaches consumers
    registered on the process-wide registry for ``events``."""
    [ticket] = await make_tickets(ws, 1)
    c = name("c")
    calls: list[list[int]] = []

    async def note(uow: Any, rows: list[dict[str, Any]]) -> None:
        calls.append([int(r["id"]) for r in rows])

    feed.REGISTRY.consumer("events", c, note, in_transaction=True)
    try:
        async with platform.db.transaction() as uow:
            i = await _insert(uow, ws.id, ticket)
            await tickets_feed.in_transaction(uow, [{**event(ws.id, ticket, 0), "id": i}])
    finally:
        del feed.REGISTRY.in_transaction[c]
    assert calls == [[i]]


async def test_ticket_writes_reach_in_transaction_consumers_with_their_ids(platform, ws):
    """The events writer (``tickets.events.record_many``) hands every row it inserts, with its id, to
    the in-transaction consumers of ``events``, inside the writer's own transaction: a reply made
    through the API is seen, and a consumer that refuses undoes the reply."""
    [ticket] = await make_tickets(ws, 1)
    c = name("c")
    calls: list[list[tuple[int, str]]] = []
    refuse = {"now": False}

    async def note(uow: Any, rows: list[dict[str, Any]]) -> None:
        calls.append([(int(r["id"]), r["kind"]) for r in rows])
        if refuse["now"]:
            raise RuntimeError("refused")

    feed.REGISTRY.consumer("events", c, note, in_transaction=True)
    agent = await ws.person("agent", name="Second agent")
    try:
        async with ws.client(agent) as client:
            r = await client.post(f"/tickets/{ticket}/messages", json={"body": "hello", "public": True})
            assert r.status_code == 201, r.text
            refuse["now"] = True
            with pytest.raises(RuntimeError, match="refused"):  # the test client re-raises what a 500 hid
                await client.post(f"/tickets/{ticket}/messages", json={"body": "refused", "public": True})
    finally:
        del feed.REGISTRY.in_transaction[c]
    async with platform.db.read() as conn:
        stored = {
            int(i): k
            for i, k in await conn.execute(
                sa.select(events.c.id, events.c.kind).where(events.c.ticket_id == ticket)
            )
        }
        bodies = [
            b
            for (b,) in await conn.execute(
                sa.select(Message.__table__.c.body_text).where(Message.__table__.c.ticket_id == ticket)
            )
        ]
    first, second = calls
    assert "message_added" in {k for _, k in first}
    assert all(stored.get(i) == k for i, k in first)  # the ids are the stored rows'
    assert not any(i in stored for i, _ in second)  # the refused reply left no event…
    assert "refused" not in " ".join(str(b) for b in bodies)  # …and no message
