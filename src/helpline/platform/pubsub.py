"""Publish/subscribe for live updates: in-memory (one process) or Redis (many processes)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any, Protocol

import orjson


class PubSub(Protocol):
    async def publish(self, channel: str, message: dict[str, Any]) -> None: ...

    def subscribe(self, channel: str, *more: str) -> AsyncIterator[dict[str, Any]]:
        """Messages of ``channel`` (and of ``more`` channels) from the first iteration on. One
        subscription's messages come in the order they were published, across its channels: a
        message published after another one returned comes after it."""
        ...

    async def close(self) -> None: ...


class MemoryPubSub:
    """Delivers to subscribers in this process only."""

    def __init__(self) -> None:
        self._subs: dict[str, set[asyncio.Queue[dict[str, Any]]]] = defaultdict(set)

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        for q in list(self._subs.get(channel, ())):
            q.put_nowait(message)

    async def subscribe(self, channel: str, *more: str) -> AsyncIterator[dict[str, Any]]:
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue()  # one queue: order across channels kept
        names = {channel, *more}
        for name in names:
            self._subs[name].add(q)
        try:
            while True:
                yield await q.get()
        finally:
            for name in names:
                subs = self._subs.get(name)
                if subs is not None:
                    subs.discard(q)
                    if not subs:
                        del self._subs[name]

    async def close(self) -> None:
        self._subs.clear()


class RedisPubSub:
    """Delivers through Redis channels, to every process subscribed with the same ``prefix``.

    Channel names carry workspace ids, which only mean something within one install's database: the
    prefix (``HELPLINE_REDIS_PREFIX``) keeps two installs sharing one Redis from hearing each other."""

    def __init__(self, url: str, *, prefix: str = "helpline:") -> None:
        import redis.asyncio as redis

        self._redis = redis.from_url(url)
        self._prefix = prefix

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        await self._redis.publish(self._prefix + channel, orjson.dumps(message))

    async def subscribe(self, channel: str, *more: str) -> AsyncIterator[dict[str, Any]]:
        # One connection for all the channels: Redis writes a connection's messages in the order
        # it ran the PUBLISHes.
        ps = self._redis.pubsub()
        await ps.subscribe(*(self._prefix + c for c in dict.fromkeys((channel, *more))))
        try:
            async for item in ps.listen():
                if item["type"] == "message":
                    yield orjson.loads(item["data"])
        finally:
            with contextlib.suppress(Exception):
                await ps.unsubscribe()
            # redis-py leaves PubSub.aclose() unannotated (its Redis.aclose() is typed).
            await ps.aclose()  # type: ignore[no-untyped-call]

    async def close(self) -> None:
        await self._redis.aclose()
