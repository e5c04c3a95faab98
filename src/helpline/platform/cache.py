"""Counters and short-lived values (rate limits, login throttling, cached principals): in-memory or Redis."""

from __future__ import annotations

import time
from typing import Any, Protocol


class Cache(Protocol):
    async def incr(self, key: str, ttl_seconds: int) -> int:
        """Add one to ``key``, starting a window of ``ttl_seconds`` on first use; the new value."""
        ...

    async def get_int(self, key: str) -> int: ...

    async def ttl(self, key: str) -> int:
        """Seconds until ``key`` expires; 0 if absent."""
        ...

    async def get_many(self, keys: list[str]) -> list[bytes | None]:
        """Values under ``keys`` (from :meth:`set`), in one round trip; None where absent or expired."""
        ...

    async def set(self, key: str, value: bytes, ttl_seconds: int) -> None:
        """Store ``value`` under ``key`` for ``ttl_seconds``, replacing what was there."""
        ...

    async def delete(self, key: str) -> None: ...

    async def close(self) -> None: ...


class MemoryCache:
    #: Past this many keys, expired ones are swept out on the next write.
    MAX_KEYS = 100_000

    def __init__(self) -> None:
        self._data: dict[str, tuple[Any, float]] = {}

    def _live(self, key: str) -> tuple[Any, float] | None:
        item = self._data.get(key)
        if item is None:
            return None
        if item[1] <= time.monotonic():
            del self._data[key]
            return None
        return item

    def _sweep(self) -> None:
        if len(self._data) > self.MAX_KEYS:  # bounded: drop expired entries when it grows
            now = time.monotonic()
            for k in [k for k, (_, e) in self._data.items() if e <= now]:
                del self._data[k]

    async def incr(self, key: str, ttl_seconds: int) -> int:
        item = self._live(key)
        value, expires = item if item else (0, time.monotonic() + ttl_seconds)
        if not isinstance(value, int):
            value = 0
        self._data[key] = (value + 1, expires)
        self._sweep()
        return int(value + 1)

    async def get_int(self, key: str) -> int:
        item = self._live(key)
        return item[0] if item and isinstance(item[0], int) else 0

    async def ttl(self, key: str) -> int:
        item = self._live(key)
        return max(1, int(item[1] - time.monotonic())) if item else 0

    async def get_many(self, keys: list[str]) -> list[bytes | None]:
        out: list[bytes | None] = []
        for key in keys:
            item = self._live(key)
            out.append(item[0] if item and isinstance(item[0], bytes) else None)
        return out

    async def set(self, key: str, value: bytes, ttl_seconds: int) -> None:
        self._data[key] = (bytes(value), time.monotonic() + ttl_seconds)
        self._sweep()

    async def delete(self, key: str) -> None:
        self._data.pop(key, None)

    async def close(self) -> None:
        self._data.clear()


class RedisCache:
    """Keys live under ``prefix`` (``HELPLINE_REDIS_PREFIX``): they carry workspace and user ids, which
    only mean something within one install's database."""

    def __init__(self, url: str, *, prefix: str = "helpline:") -> None:
        import redis.asyncio as redis

        self._redis = redis.from_url(url)
        self._prefix = prefix

    async def incr(self, key: str, ttl_seconds: int) -> int:
        k = self._prefix + key
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(k)
            pipe.expire(k, ttl_seconds, nx=True)
            value, _ = await pipe.execute()
        return int(value)

    async def get_int(self, key: str) -> int:
        value = await self._redis.get(self._prefix + key)
        return int(value) if value is not None else 0

    async def ttl(self, key: str) -> int:
        value = int(await self._redis.ttl(self._prefix + key))
        return max(value, 0)

    async def get_many(self, keys: list[str]) -> list[bytes | None]:
        values = await self._redis.mget([self._prefix + k for k in keys])
        return [v if v is None else bytes(v) for v in values]

    async def set(self, key: str, value: bytes, ttl_seconds: int) -> None:
        await self._redis.set(self._prefix + key, value, ex=ttl_seconds)

    async def delete(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)

    async def close(self) -> None:
        await self._redis.aclose()
