"""The per-process fan-out of chat events.

Every process subscribes once per workspace that has a live socket in it, to the pub/sub channel
``chat:<workspace id>`` (in memory, or Redis shared by every ``helpline serve``), and hands each event
to the local sockets in the event's *room*: ``t:<ticket id>`` (a conversation), ``w:<widget id>``
(every visitor of a widget), ``q`` (waiting visitors and agents: the queue), ``agents`` (agents'
consoles). Events marked staff-only are never handed to a visitor's socket.

One subscription per workspace, not per socket: with Redis, a subscription is a connection, and
10,000 sockets must not mean 10,000 Redis connections.

The same subscription takes the account-change notice (``web.principal_cache.AUTH_CHANNEL``): on it, every
staff socket of the workspace gets an ``_auth`` marker in its queue, ahead of any event published
after the change committed, and checks its credential again before it sends anything more
(``accounts.live``). A revoked agent is sent nothing from the moment the revoking request returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any, Protocol

from helpline.domains.accounts.live import registry_of
from helpline.domains.accounts.principal_cache import AUTH_CHANNEL, is_auth_notice
from helpline.platform.pubsub import PubSub

log = logging.getLogger(__name__)
PROBE = "__probe"


class Listener(Protocol):
    staff: bool

    def deliver(self, event: dict[str, Any]) -> None:
        """Take one event without waiting (queue it; a socket that cannot keep up is closed)."""
        ...


def channel(workspace_id: int) -> str:
    return f"chat:{workspace_id}"


class Hub:
    def __init__(self, pubsub: PubSub, noticed: Callable[[], int] | None = None) -> None:
        self.pubsub = pubsub
        #: Counts an account-change notice; its epoch goes with the markers (see accounts.live).
        self.noticed = noticed or (lambda: 0)
        self._rooms: dict[tuple[int, str], set[Listener]] = defaultdict(set)
        self._joined: dict[int, dict[int, int]] = defaultdict(dict)  # id(listener) -> {workspace: rooms}
        self._refs: dict[int, int] = defaultdict(int)
        self._pumps: dict[int, asyncio.Task[None]] = {}
        self._ready: dict[int, asyncio.Event] = {}

    async def publish(
        self, workspace_id: int, room: str, event: dict[str, Any], *, staff: bool = False
    ) -> None:
        await self.pubsub.publish(channel(workspace_id), {"k": room, "s": staff, "e": event})

    async def join(self, listener: Listener, workspace_id: int, room: str) -> None:
        """Deliver ``room``'s events to ``listener`` from now on. Returns once this process's
        subscription is live, so an event published after the call is not missed."""
        members = self._rooms[(workspace_id, room)]
        if listener in members:
            return
        members.add(listener)
        mine = self._joined[id(listener)]
        mine[workspace_id] = mine.get(workspace_id, 0) + 1
        if mine[workspace_id] == 1:
            self._refs[workspace_id] += 1
        await self._ensure(workspace_id)

    def leave(self, listener: Listener, workspace_id: int, room: str) -> None:
        members = self._rooms.get((workspace_id, room))
        if not members or listener not in members:
            return
        members.discard(listener)
        if not members:
            del self._rooms[(workspace_id, room)]
        mine = self._joined.get(id(listener), {})
        mine[workspace_id] -= 1
        if mine[workspace_id] == 0:
            del mine[workspace_id]
            self._release(workspace_id)
        if not mine:
            self._joined.pop(id(listener), None)

    def leave_all(self, listener: Listener) -> None:
        for (ws, room), members in list(self._rooms.items()):
            if listener in members:
                self.leave(listener, ws, room)

    def local_count(self) -> int:
        return len(self._joined)

    def _release(self, workspace_id: int) -> None:
        self._refs[workspace_id] -= 1
        if self._refs[workspace_id] <= 0:
            del self._refs[workspace_id]
            task = self._pumps.pop(workspace_id, None)
            self._ready.pop(workspace_id, None)
            if task is not None:
                task.cancel()

    async def _ensure(self, workspace_id: int) -> None:
        ready = self._ready.get(workspace_id)
        if ready is None:
            ready = self._ready[workspace_id] = asyncio.Event()
            self._pumps[workspace_id] = asyncio.create_task(self._pump(workspace_id, ready))
            # Subscribing happens inside the pump; a probe that comes back proves it is live.
            for _ in range(100):
                await self.pubsub.publish(channel(workspace_id), {"k": PROBE})
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(ready.wait()), 0.1)
                    return
            log.warning("chat hub: subscription to workspace %s not confirmed", workspace_id)
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ready.wait(), 10)

    async def _pump(self, workspace_id: int, ready: asyncio.Event) -> None:
        delay = 0.2
        while True:
            try:
                async for m in self.pubsub.subscribe(channel(workspace_id), AUTH_CHANNEL):
                    if is_auth_notice(m):
                        self._auth(workspace_id)
                        continue
                    if m.get("k") == PROBE:
                        if not ready.is_set():
                            ready.set()
                        continue
                    self._dispatch(workspace_id, m)
                    delay = 0.2
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("chat hub: subscription to workspace %s failed; resubscribing", workspace_id)
            # Events may have been lost while unsubscribed: every socket re-reads what it missed.
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
            for (ws, _room), members in list(self._rooms.items()):
                if ws == workspace_id:
                    for listener in list(members):
                        listener.deliver({"t": "_resync"})
            self._auth(workspace_id)  # so may an account change have been

    def _auth(self, workspace_id: int) -> None:
        """Every staff listener of the workspace checks its credential before its next event."""
        marker = {"t": "_auth", "since": self.noticed()}
        told: set[int] = set()
        for (ws, _room), members in list(self._rooms.items()):
            if ws != workspace_id:
                continue
            for listener in list(members):
                if listener.staff and id(listener) not in told:
                    told.add(id(listener))
                    listener.deliver(marker)

    def _dispatch(self, workspace_id: int, m: dict[str, Any]) -> None:
        members = self._rooms.get((workspace_id, str(m.get("k"))))
        if not members:
            return
        event, staff = m.get("e") or {}, bool(m.get("s"))
        for listener in list(members):
            if staff and not listener.staff:
                continue
            listener.deliver(event)


def hub_of(platform: Any) -> Hub:
    """The process's hub for ``platform`` (made on first use)."""
    hub = platform.extras.get("chat_hub")
    if hub is None:
        hub = platform.extras["chat_hub"] = Hub(platform.pubsub, registry_of(platform).noticed)
    return hub  # type: ignore[no-any-return]
