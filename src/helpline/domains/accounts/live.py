"""Live staff connections, and what ends them: one registry per process.

A connection that outlives its request (the console's chat WebSocket, a server-sent event stream)
registers here with the credential it authenticated with (the digest of its session cookie or API
token, never the secret) and how it ends. After every commit that writes an account table
(``accounts.principal_cache.PRINCIPAL_TABLES``) the committing process publishes one notice on
``AUTH_CHANNEL``; every process's registry hears it and re-resolves each connection's credential
through the functions requests use (``principal_of_session`` / ``principal_of_token``: the commit
replaced the cache's generation first, so this reads the database). Then:

- a credential that no longer resolves (signed out, session or token revoked or expired, person or
  membership deactivated, workspace gone) ends its connection with :data:`SIGNED_OUT`;
- one whose rights changed (role, groups, workspace, customer scope) ends with
  :data:`RIGHTS_CHANGED`: the client connects again and gets its new rights (nothing is re-scoped
  in place, so a stream never carries events chosen under old rights);
- otherwise the connection goes on, with the principal's name and e-mail as they are now.

Every :data:`SWEEP` seconds the registry re-checks every connection without being told, which ends
those whose session or token merely expired.

The registry's own subscription ends connections promptly; it cannot order that against events that
arrive on other subscriptions. So a connection that forwards pub/sub events (the chat hub, a console
stream) also takes the notice channel on the *same* subscription: a notice published before an event
is then handled before it, and nothing is forwarded until :meth:`Live.check` has passed.
Inbound work (a frame from the agent's socket) calls :meth:`Live.check` first as well: the cached
path, exact right after a commit thanks to the generation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from helpline.domains.accounts import principal_cache
from helpline.domains.accounts.principal import Principal

log = logging.getLogger(__name__)

SESSION = "session"
TOKEN = "token"  # noqa: S105 (a kind of credential, not one)
#: WebSocket close codes (an event stream just ends).
SIGNED_OUT = 4401
RIGHTS_CHANGED = 4409
UNCHECKED = 1013  # "try again later": the credential could not be checked (database unreachable)
#: Seconds between re-checks of every connection without a notice: what ends a connection whose
#: session or token simply expired, or whose account was changed by hand in SQL (once the cached
#: principal is older than ``principal_cache.PRINCIPAL_TTL``).
SWEEP = 60.0
_PROBE: dict[str, str] = {"auth": "probe"}

Ender = Callable[[int, str], Awaitable[None]]


class Ended(Exception):
    """The connection's credential was revoked or its rights changed: deliver nothing more."""


def rights(p: Principal) -> tuple[object, ...]:
    """What a live connection's events and actions were chosen by: a change ends the connection."""
    return (
        p.user_id,
        p.workspace_id,
        p.role,
        p.group_ids,
        p.contact_id,
        p.shared_organization_id,
        p.session_id,
        p.token_id,
    )


class Live:
    """One registered connection. ``principal`` is the latest that :meth:`check` accepted."""

    def __init__(self, registry: Registry, kind: str, digest: str, principal: Principal, end: Ender) -> None:
        self.registry, self.kind, self.digest = registry, kind, digest
        self.principal = principal
        self.ended = False
        self.code: int | None = None
        self._end = end

    async def check(self, since: int | None = None) -> Principal | None:
        """The connection's principal as it is now, or None once the connection has ended (this
        call may end it). ``since``: an epoch from :meth:`Registry.noticed`; a look-up for the same
        credential that began at or after it is shared instead of repeated."""
        if self.ended:
            return None
        try:
            now = await self.registry.resolve(self.kind, self.digest, since)
        except Exception:
            log.exception("live connection: its credential could not be checked; ending it")
            await self.end(UNCHECKED, "could not check your sign-in; connect again")
            return None
        if self.ended:
            return None
        if now is None:
            await self.end(
                SIGNED_OUT, "signed out: the session or token ended, or the account was deactivated"
            )
            return None
        if rights(now) != rights(self.principal):
            await self.end(RIGHTS_CHANGED, "your role or groups changed: connect again")
            return None
        self.principal = now
        return now

    async def end(self, code: int, reason: str) -> None:
        """Mark the connection ended (at once: nothing more is delivered or accepted), then close it."""
        if self.ended:
            return
        self.ended, self.code = True, code
        try:
            await self._end(code, reason)
        except Exception:
            log.debug("live connection: closing it failed (it was closing already)", exc_info=True)

    def unregister(self) -> None:
        self.registry.unregister(self)


class Registry:
    """This process's live connections, and the subscription that re-checks them."""

    def __init__(self, platform: Any) -> None:
        self.platform = platform
        self._live: set[Live] = set()
        self._epoch = 0
        self._inflight: dict[tuple[str, str], tuple[int, asyncio.Task[Principal | None]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._ready: asyncio.Event | None = None
        self._checks: set[asyncio.Task[Any]] = set()
        #: Seconds between sweeps (:data:`SWEEP`); read at each sweep.
        self.sweep = SWEEP

    def __len__(self) -> int:
        return len(self._live)

    async def register(self, kind: str, digest: str, principal: Principal, end: Ender) -> Live:
        """Track a connection authenticated by ``kind`` (``SESSION``/``TOKEN``) ``digest`` as
        ``principal``; ``end(code, reason)`` closes it. Returns once this process hears notices.
        A change committed between authenticating and this call is not heard: callers
        :meth:`Live.check` once after registering."""
        live = Live(self, kind, digest, principal, end)
        self._live.add(live)
        try:
            await self._ensure()
        except BaseException:  # (cancelled: the client left while this waited)
            self.unregister(live)
            raise
        return live

    def unregister(self, live: Live) -> None:
        self._live.discard(live)
        if not self._live and self._task is not None:
            self._task.cancel()
            if self._sweeper is not None:
                self._sweeper.cancel()
            self._task, self._sweeper, self._ready = None, None, None

    def noticed(self) -> int:
        """Count a notice heard (by this registry, the chat hub or a stream); the epoch to check
        against, so checks that began before it are not trusted for it."""
        self._epoch += 1
        return self._epoch

    async def resolve(self, kind: str, digest: str, since: int | None) -> Principal | None:
        """The credential's principal now (None: it no longer signs anyone in). Without ``since``
        a look-up of its own; with it, one shared by every check of the credential for that notice."""
        if since is None:
            return await self._fresh(kind, digest)
        key = (kind, digest)
        running = self._inflight.get(key)
        if running is None or running[0] < since:
            task = asyncio.create_task(self._fresh(kind, digest))
            running = self._inflight[key] = (self._epoch, task)
            task.add_done_callback(lambda t: self._settled(key, t))
        return await asyncio.shield(running[1])

    def _settled(self, key: tuple[str, str], task: asyncio.Task[Principal | None]) -> None:
        if self._inflight.get(key, (0, None))[1] is task:
            del self._inflight[key]
        if not task.cancelled():
            task.exception()  # retrieved: every waiter has it raised (or was cancelled)

    async def _fresh(self, kind: str, digest: str) -> Principal | None:
        if kind == TOKEN:
            return await principal_cache.principal_of_token(self.platform, digest)
        found = await principal_cache.principal_of_session(self.platform, digest)
        return None if found is None else found[0]

    async def check_all(self, since: int) -> None:
        """Re-check every connection (for a notice counted as ``since``)."""
        await asyncio.gather(*(live.check(since) for live in list(self._live)), return_exceptions=True)

    def _check_all_soon(self) -> None:
        task = asyncio.create_task(self.check_all(self.noticed()))
        self._checks.add(task)
        task.add_done_callback(self._checks.discard)

    async def _ensure(self) -> None:
        ready = self._ready
        if ready is None:
            ready = self._ready = asyncio.Event()
            self._task = asyncio.create_task(self._listen(ready))
            self._sweeper = asyncio.create_task(self._sweep())
            # Subscribing happens inside the task; a probe that comes back proves it is live.
            for _ in range(100):
                await self.platform.pubsub.publish(principal_cache.AUTH_CHANNEL, _PROBE)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(ready.wait()), 0.1)
                    return
            log.warning("live connections: the subscription to account changes was not confirmed")
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ready.wait(), 10)

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self.sweep)
            await self.check_all(self.noticed())

    async def _listen(self, ready: asyncio.Event) -> None:
        delay = 0.2
        while True:
            try:
                async for m in self.platform.pubsub.subscribe(principal_cache.AUTH_CHANNEL):
                    if m == _PROBE:
                        ready.set()
                    elif principal_cache.is_auth_notice(m):
                        self._check_all_soon()
                    delay = 0.2
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("live connections: the subscription to account changes failed; resubscribing")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
            self._check_all_soon()  # a notice may have been missed while unsubscribed


def registry_of(platform: Any) -> Registry:
    """The process's registry for ``platform`` (made on first use)."""
    found = platform.extras.get("live_registry")
    if found is None:
        found = platform.extras["live_registry"] = Registry(platform)
    return found  # type: ignore[no-any-return]


def is_probe(message: dict[str, Any]) -> bool:
    return message == _PROBE
