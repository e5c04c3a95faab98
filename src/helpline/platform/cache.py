"""Counters and short-lived values (rate limits, login throttling): in-memory or Redis."""

from __future__ import annotations

import time
from typing import Protocol


class Cache(Protocol):
    async def incr(self, key: str, ttl_seconds: int) -> int:
        """Add one to ``key``, starting a window of ``ttl_seconds`` on first use; the new value."""
        ...

    async def get_int(self, key: str) -> int: ...

    async def ttl(self, key: str) -> int:
        """Seconds until ``key`` expires; 0 if absent."""
        ...

    async def delete(self, key: str) -> None: ...

    async def close(self) -> None: ...


class MemoryCache:
    def __init__(self) -> None:
        self._data: dict[str, tuple[int, float]] = {}

    def _live(self, key: str) -> tuple[int, float] | None:
        item = self._data.get(key)
        if item is None:
            return None
        if item[1] <= time.monotonic():
            del self._data[key]
            return None
        return item

    async def incr(self, key: str, ttl_seconds: int) -> int:
        item = self._live(key)
        value, expires = item if item else (0, time.monotonic() + ttl_seconds)
        self._data[key] = (value + 1, expires)
        if len(self._data) > 100_000:  # bounded: drop expired entries when it grows
            for k in [k for k, (_, e) in self._data.items() if e <= time.monotonic()]:
                del self._data[k]
        return value + 1

    async def get_int(self, key: str) -> int:
        item = self._live(key)
        return item[0] if item else 0

    async def ttl(self, key: str) -> int:
        item = self._live(key)
        return max(1, int(item[1] - time.monotonic())) if item else 0

    async def delete(self, key: str) -> None:
        self._data.pop(key, None)

    async def close(self) -> None:
        self._data.clear()


class RedisCache:
    def __init__(self, url: str) -> None:
        import redis.asyncio as redis

        self._redis = redis.from_url(url)

    async def incr(self, key: str, ttl_seconds: int) -> int:
        k = f"helpline:{key}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(k)
            pipe.expire(k, ttl_seconds, nx=True)
            value, _ = await pipe.execute()
        return int(value)

    async def get_int(self, key: str) -> int:
        value = await self._redis.get(f"helpline:{key}")
        return int(value) if value is not None else 0

    async def ttl(self, key: str) -> int:
        value = int(await self._redis.ttl(f"helpline:{key}"))
        return max(value, 0)

    async def delete(self, key: str) -> None:
        await self._redis.delete(f"helpline:{key}")

    async def close(self) -> None:
        await self._redis.aclose()
