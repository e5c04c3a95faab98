"""One contract, every implementation: jobs on SQLite and PostgreSQL, pub/sub and cache in memory
and on Redis. A Redis run is skipped, with the reason printed, when no server answers."""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta

import pytest
import sqlalchemy as sa

from helpline.platform import jobs
from helpline.platform.cache import MemoryCache, RedisCache
from helpline.platform.models import Job
from helpline.platform.pubsub import MemoryPubSub, RedisPubSub
from helpline.platform.runtime import build_platform
from helpline.settings import Settings
from tests.conftest import REDIS_PREFIX, REDIS_URL, redis_or_skip

_seen: list[dict] = []
_fail_times: dict[str, int] = {}


@jobs.job_handler("test.record")
async def _record(platform, batch):
    _seen.extend(batch)


@jobs.job_handler("test.flaky")
async def _flaky(platform, batch):
    for args in batch:
        left = _fail_times.get(args["key"], 0)
        if left:
            _fail_times[args["key"]] = left - 1
            raise RuntimeError("temporary failure")
        _seen.append(args)


@jobs.job_handler("test.alone", alone=True)
async def _alone(platform, batch):
    assert len(batch) == 1  # each job is its own call
    for args in batch:
        _seen.append(args)
        if args["key"] == "bad":
            raise RuntimeError("this one fails")


async def _job_rows(platform):
    async with platform.db.read() as conn:
        return [dict(r) for r in (await conn.execute(sa.select(Job.__table__))).mappings()]


async def test_job_enqueued_in_a_rolled_back_transaction_never_runs(platform):
    _seen.clear()
    with pytest.raises(RuntimeError):
        async with platform.db.transaction() as uow:
            await jobs.enqueue(uow, "test.record", {"n": "rolled-back"})
            raise RuntimeError("abort")
    async with platform.db.transaction() as uow:
        await jobs.enqueue(uow, "test.record", {"n": "kept"})
    await jobs.JobRunner(platform).drain()
    assert [a["n"] for a in _seen] == ["kept"]


async def test_dedupe_key_coalesces_queued_jobs(platform):
    _seen.clear()
    async with platform.db.transaction() as uow:
        for _ in range(5):
            await jobs.enqueue(uow, "test.record", {"n": "once"}, dedupe_key="same-thing")
    assert await jobs.JobRunner(platform).drain() == 1
    assert _seen == [{"n": "once"}]


async def test_failed_job_retries_with_backoff_then_dies(platform):
    _seen.clear()
    _fail_times["k1"] = 1
    async with platform.db.transaction() as uow:
        await jobs.enqueue(uow, "test.flaky", {"key": "k1"}, dedupe_key="flaky-k1")
        # a newer twin queued while the first is pending must not break the retry
    runner = jobs.JobRunner(platform)
    assert await runner.run_once() == 1
    row = next(r for r in await _job_rows(platform) if r["kind"] == "test.flaky")
    assert row["state"] == "queued" and row["attempts"] == 1 and "temporary failure" in row["last_error"]
    assert row["run_at"] > row["created_at"] + timedelta(seconds=1)
    async with platform.db.transaction() as uow:  # make it due now
        await uow.execute(
            sa.update(Job.__table__).where(Job.__table__.c.id == row["id"]).values(run_at=row["created_at"])
        )
    await runner.drain()
    assert _seen == [{"key": "k1"}]

    _fail_times["k2"] = 100
    async with platform.db.transaction() as uow:
        await jobs.enqueue(uow, "test.flaky", {"key": "k2"})
    for _ in range(8):
        async with platform.db.transaction() as uow:
            await uow.execute(
                sa.update(Job.__table__)
                .where(Job.__table__.c.state == "queued")
                .values(run_at=sa.func.coalesce(Job.__table__.c.created_at, Job.__table__.c.created_at))
            )
        await runner.run_once()
    dead = [r for r in await _job_rows(platform) if r["args"] == {"key": "k2"}]
    assert dead[0]["state"] == "dead" and dead[0]["attempts"] == 8


async def test_two_runners_never_run_the_same_job(platform):
    _seen.clear()
    async with platform.db.transaction() as uow:
        for i in range(60):
            await jobs.enqueue(uow, "test.record", {"n": i})
    a, b = jobs.JobRunner(platform, batch=7), jobs.JobRunner(platform, batch=7)
    await asyncio.gather(a.drain(), b.drain())
    assert sorted(x["n"] for x in _seen) == list(range(60))


async def test_a_job_whose_worker_died_is_run_again_after_its_lease(platform):
    _seen.clear()
    async with platform.db.transaction() as uow:
        await jobs.enqueue(uow, "test.record", {"n": "orphan"})
    crashed = jobs.JobRunner(platform, lease=timedelta(seconds=-1))  # its lease is over at once
    claimed = await crashed.claim()  # claims, then "dies" without finishing
    assert [c.args for c in claimed] == [{"n": "orphan"}]
    await jobs.JobRunner(platform).drain()
    assert _seen == [{"n": "orphan"}]


@pytest.fixture(params=["memory", "redis"])
async def pubsub(request):
    if request.param == "redis":
        redis_or_skip()
        ps = RedisPubSub(REDIS_URL, prefix=REDIS_PREFIX)
    else:
        ps = MemoryPubSub()
    yield ps
    await ps.close()


@pytest.fixture(params=["memory", "redis"])
async def cache(request):
    if request.param == "redis":
        redis_or_skip()
        c = RedisCache(REDIS_URL, prefix=REDIS_PREFIX)
    else:
        c = MemoryCache()
    yield c
    await c.close()


async def test_pubsub_delivers_in_order_to_every_subscriber_of_the_channel(pubsub):
    channel = f"t-{os.getpid()}-{id(pubsub)}"
    got: dict[str, list[int]] = {"a": [], "b": [], "other": []}
    ready = asyncio.Event()
    subscribed = 0

    async def listen(name: str, ch: str, n: int) -> None:
        nonlocal subscribed
        agen = pubsub.subscribe(ch)
        first = asyncio.ensure_future(agen.__anext__())
        await asyncio.sleep(0.2)  # let the subscription register (Redis needs a round trip)
        subscribed += 1
        if subscribed == 3:
            ready.set()
        got[name].append((await first)["i"])
        while len(got[name]) < n:
            got[name].append((await agen.__anext__())["i"])
        await agen.aclose()

    tasks = [
        asyncio.create_task(listen("a", channel, 5)),
        asyncio.create_task(listen("b", channel, 5)),
        asyncio.create_task(listen("other", channel + "-x", 1)),
    ]
    await asyncio.wait_for(ready.wait(), 5)
    for i in range(5):
        await pubsub.publish(channel, {"i": i})
    await pubsub.publish(channel + "-x", {"i": 99})
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert got == {"a": [0, 1, 2, 3, 4], "b": [0, 1, 2, 3, 4], "other": [99]}


async def test_cache_counts_within_a_window_and_expires(cache):
    key = f"k-{os.getpid()}-{id(cache)}"
    assert await cache.get_int(key) == 0
    assert [await cache.incr(key, 1) for _ in range(3)] == [1, 2, 3]
    assert 0 < await cache.ttl(key) <= 1
    await asyncio.sleep(1.2)
    assert await cache.get_int(key) == 0 and await cache.ttl(key) == 0
    await cache.incr(key, 60)
    await cache.delete(key)
    assert await cache.get_int(key) == 0


async def test_cache_values_expire_and_come_back_in_one_call(cache):
    a, b = f"v-{os.getpid()}-{id(cache)}-a", f"v-{os.getpid()}-{id(cache)}-b"
    assert await cache.get_many([a, b]) == [None, None]
    await cache.set(a, b"\x00one", 1)
    await cache.set(b, b"two", 60)
    assert await cache.get_many([a, b, a]) == [b"\x00one", b"two", b"\x00one"]
    await cache.set(b, b"three", 60)  # replaces
    assert await cache.get_many([b]) == [b"three"]
    await asyncio.sleep(1.2)
    assert await cache.get_many([a, b]) == [None, b"three"]
    await cache.delete(b)
    assert await cache.get_many([b]) == [None]


async def test_one_subscription_to_several_channels_keeps_the_publish_order(pubsub):
    """What the account-change notice relies on: a subscription that takes it beside other channels
    sees it before any message published after it, whatever the channel."""
    a, b = f"t-{os.getpid()}-{id(pubsub)}-a", f"t-{os.getpid()}-{id(pubsub)}-b"
    agen = pubsub.subscribe(a, b)
    first = asyncio.ensure_future(agen.__anext__())
    await asyncio.sleep(0.2)  # let the subscription register (Redis needs a round trip)
    for i in range(6):
        await pubsub.publish(a if i % 2 else b, {"i": i})
    got = [(await asyncio.wait_for(first, 5))["i"]]
    while len(got) < 6:
        got.append((await asyncio.wait_for(agen.__anext__(), 5))["i"])
    await agen.aclose()
    assert got == [0, 1, 2, 3, 4, 5]


async def _subscribed(raw, channel: str) -> None:
    """Wait until Redis counts a subscriber of ``channel`` (the full name, prefix included)."""
    for _ in range(500):
        if dict(await raw.pubsub_numsub(channel)).get(channel.encode(), 0):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"nobody subscribed to {channel}")


async def test_redis_prefixes_keep_installs_on_one_redis_apart(tmp_path):
    """``HELPLINE_REDIS_PREFIX``: two installs sharing one Redis use the same channel and key names
    (``ws:1:…``: workspace ids repeat across their databases) and never hear or count each other's;
    processes of one install (one prefix) do. The prefix is what Redis sees, and the setting reaches it."""
    redis_or_skip()
    import redis.asyncio as aioredis

    raw = aioredis.from_url(REDIS_URL)
    a, b = f"{REDIS_PREFIX}install-a:", f"{REDIS_PREFIX}install-b:"
    installs = {
        name: build_platform(
            Settings(
                database_url=f"sqlite+aiosqlite:///{tmp_path / name}.db",
                var_dir=tmp_path,
                secret_key="prefix-test",
                redis_url=REDIS_URL,
                redis_prefix=prefix,
            )
        )
        for name, prefix in (("a1", a), ("a2", a), ("b", b))
    }
    try:
        channel = "ws:1:tickets"
        listeners = {name: installs[name].pubsub.subscribe(channel) for name in ("a2", "b")}
        first = {name: asyncio.ensure_future(agen.__anext__()) for name, agen in listeners.items()}
        await _subscribed(raw, a + channel)
        await _subscribed(raw, b + channel)
        await installs["a1"].pubsub.publish(channel, {"from": "a"})
        await installs["b"].pubsub.publish(channel, {"from": "b"})
        # Redis delivers in the order it ran the PUBLISHes: a subscriber hearing both would get a's first.
        assert await asyncio.wait_for(first["a2"], 5) == {"from": "a"}
        assert await asyncio.wait_for(first["b"], 5) == {"from": "b"}
        for agen in listeners.values():
            await agen.aclose()

        key = "ws:1:login:someone"
        assert await installs["a1"].cache.incr(key, 60) == 1
        assert await installs["a2"].cache.incr(key, 60) == 2  # the same install: one counter
        assert await installs["b"].cache.get_int(key) == 0
        assert await raw.get(a + key) == b"2" and await raw.exists(b + key) == 0
    finally:
        for p in installs.values():
            await p.close()
        await raw.delete(a + "ws:1:login:someone")
        await raw.aclose()


async def test_jobs_run_alone_retry_alone_so_the_ones_that_succeeded_never_run_again(platform):
    _seen.clear()
    async with platform.db.transaction() as uow:
        for key in ("good", "bad", "also-good"):
            await jobs.enqueue(uow, "test.alone", {"key": key})
    runner = jobs.JobRunner(platform)
    await runner.run_once()
    assert sorted(a["key"] for a in _seen) == ["also-good", "bad", "good"]
    left = [r for r in await _job_rows(platform) if r["kind"] == "test.alone"]
    assert [(r["args"]["key"], r["state"], r["attempts"]) for r in left] == [("bad", "queued", 1)]
    async with platform.db.transaction() as uow:  # its retry is due now: only it runs again
        await uow.execute(
            sa.update(Job.__table__)
            .where(Job.__table__.c.id == left[0]["id"])
            .values(run_at=left[0]["created_at"])
        )
    _seen.clear()
    await runner.run_once()
    assert [a["key"] for a in _seen] == ["bad"]
