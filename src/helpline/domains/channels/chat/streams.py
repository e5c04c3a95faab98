"""One client's stream of chat events, whatever carries it (a WebSocket, or the long-poll fallback).

Everything a client receives passes through :meth:`Stream._emit` in one task, in order: live events
from the hub, the backlog read from the database, acks and errors. Messages are numbered per
conversation (``seq`` for staff, ``pseq`` for a visitor), so a stream sends each number once, in
order: a number at or below the last one sent is dropped (a duplicate), and a jump ahead first
reads the gap from the database. After a reconnect a client gives its last number and gets
exactly what it missed.

A visitor's stream is shaped by :func:`visitor_view`, an allow-list: internal notes never reach it
(the hub does not even hand them over), nor ticket ids, message ids, other chats' ids in the queue,
or agents' client ids.

A staff stream has a registered live connection (``live``, see ``accounts.live``): it sends nothing once
that has ended, and the hub's ``_auth`` marker makes it check the credential again before the
events queued behind the marker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from helpline.domains.accounts.live import Ended, Live
from helpline.domains.channels.chat import availability, queries, routing
from helpline.domains.channels.chat.hub import hub_of

log = logging.getLogger(__name__)
QUEUE_MAX = 1000


class Overflow(Exception):
    """The client fell too far behind; it is disconnected and resumes from its last number."""


def visitor_view(e: dict[str, Any], s: Stream) -> dict[str, Any] | None:
    t = e.get("t")
    if t == "msg":
        if not e.get("public") or e.get("pseq") is None:
            return None
        mine = e.get("from") == "visitor"
        files = [{k: f[k] for k in ("id", "name", "size", "type") if k in f} for f in e.get("files") or []]
        return {
            "t": "msg",
            "seq": e["pseq"],
            "cid": e.get("cid") if mine else None,
            "from": e.get("from"),
            "name": e.get("name") if not mine else "",
            "body": e.get("body", ""),
            "at": e.get("at"),
            "files": files,
        }
    if t == "typing":
        return (
            None
            if e.get("by") == "visitor"
            else {"t": "typing", "on": bool(e.get("on")), "name": e.get("name", "")}
        )
    if t == "read":
        return None if e.get("by") == "visitor" else {"t": "read", "seq": e.get("seq")}
    if t == "state":
        if e.get("state") != "queued":
            s.session_state = str(e.get("state"))
        s.place = None  # the widget shows the state now, not the place
        return {"t": "state", "state": e.get("state"), "agent": e.get("agent", "")}
    if t == "queue":
        sid = s.session_id
        ids = e.get("ids") or []
        if sid is None or sid not in ids:
            return None
        i = ids.index(sid)
        return queue_frame(s, i + 1, int((e.get("waits") or [0] * (i + 1))[i]))
    if t == "avail":
        return {"t": "avail", "online": availability.offers_chat(s.widget or {}, int(e.get("agents", 0)))}
    if t in ("error", "ended"):
        s.place = None  # (the widget's status line shows this instead of the place)
    if t in ("ack", "error", "welcome", "started", "pong", "upload", "ended"):
        return e
    return None


def queue_frame(s: Stream, position: int, wait: int) -> dict[str, Any] | None:
    """A waiting visitor's place, unless it is what they were last told (a queue that changed
    behind them, or the same place again on a long poll, sends them nothing)."""
    if s.place == (position, wait):
        return None
    s.place = (position, wait)
    return {"t": "queue", "position": position, "wait": wait}


class Stream:
    """The events of one client. Subclasses say how an event leaves (:meth:`out`)."""

    def __init__(self, platform: Any, workspace_id: int, *, staff: bool) -> None:
        self.platform, self.workspace_id, self.staff = platform, workspace_id, staff
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=QUEUE_MAX)
        self.last: dict[int, int] = {}
        self.overflowed = False
        self.widget: dict[str, Any] | None = None
        self.session_id: int | None = None
        self.session_state: str | None = None
        self.rooms: set[str] = set()
        #: (position, wait) a waiting visitor was last told, so the same place is not sent twice.
        self.place: tuple[int, int] | None = None
        self._later: list[dict[str, Any]] = []
        #: A staff client's registered connection; None for visitors.
        self.live: Live | None = None

    # --- the hub hands events here ---------------------------------------------------------------
    def deliver(self, event: dict[str, Any]) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True

    def push(self, event: dict[str, Any]) -> None:
        """Queue an event of our own (an ack, an error, a backlog request) behind the live ones."""
        self.deliver(event)

    async def join(self, room: str) -> None:
        self.rooms.add(room)
        await hub_of(self.platform).join(self, self.workspace_id, room)

    def leave(self, room: str) -> None:
        self.rooms.discard(room)
        hub_of(self.platform).leave(self, self.workspace_id, room)

    def close(self) -> None:
        hub_of(self.platform).leave_all(self)

    def own_place(self, *, after_answer: bool = False) -> None:
        """Queue this client's own view of the queue, read when its turn comes to be sent: a visitor's
        place, or the whole queue for an agent. Nothing is published: a client that (re)connects or
        polls needs it, nobody else does. ``after_answer``: behind the answer to the frame being
        handled (``started`` comes before the place it started in)."""
        if after_answer:
            self._later.append({"t": "_place"})
        else:
            self.push({"t": "_place"})

    def answered(self, answer: dict[str, Any] | None) -> None:
        """Queue the answer to a frame, then what was to follow it."""
        if answer is not None:
            self.push(answer)
        for e in self._later:
            self.push(e)
        self._later.clear()

    async def follow(self, ticket_id: int, after: int) -> None:
        """Receive a conversation from number ``after`` on: join its room, then read what is stored."""
        await self.join(f"t:{ticket_id}")
        self.push({"t": "_fill", "ticket": ticket_id, "after": max(0, int(after))})

    # --- one task sends, in order ----------------------------------------------------------------
    async def out(self, event: dict[str, Any]) -> None:
        raise NotImplementedError

    def view(self, e: dict[str, Any]) -> dict[str, Any] | None:
        return e if self.staff else visitor_view(e, self)

    async def run_one(self) -> None:
        if self.overflowed:
            raise Overflow()
        await self._emit(await self.queue.get())

    async def _send(self, event: dict[str, Any]) -> None:
        if self.live is not None and self.live.ended:
            raise Ended()
        await self.out(event)

    async def _emit(self, e: dict[str, Any]) -> None:
        t = e.get("t")
        if self.live is not None:
            if self.live.ended:
                raise Ended()
            if t == "_auth":
                # An account changed: nothing queued behind this goes out until the credential passes.
                if await self.live.check(int(e.get("since") or 0) or None) is None:
                    raise Ended()
                return
        if t == "_auth":
            return
        if t == "_fill":
            ticket = int(e["ticket"])
            if ticket not in self.last or int(e["after"]) < self.last[ticket]:
                self.last[ticket] = int(e["after"])
            await self._fill(ticket, None)
        elif t == "_place":
            await self._place()
        elif t == "_resync":
            for ticket in list(self.last):
                await self._fill(ticket, None)
        elif t == "msg":
            ticket = int(e["ticket"])
            n = e.get("seq") if self.staff else e.get("pseq")
            last = self.last.get(ticket)
            if n is None or last is None or n <= last:
                return
            if n > last + 1:
                await self._fill(ticket, int(n))
                if n <= self.last[ticket]:
                    return
            shaped = self.view(e)
            if shaped is not None:
                await self._send(shaped)
            self.last[ticket] = int(n)
        else:
            if t == "state" and not self.staff:
                # A waiting visitor follows the queue; once an agent has the chat, no longer.
                if e.get("state") == "queued" and "q" not in self.rooms:
                    await self.join("q")
                elif e.get("state") != "queued" and "q" in self.rooms:
                    self.leave("q")
            shaped = self.view(e)
            if shaped is not None:
                await self._send(shaped)

    async def _place(self) -> None:
        if self.staff:
            await self._send(await routing.queue_event(self.platform, self.workspace_id))
            return
        if self.session_id is None or "q" not in self.rooms:
            return  # no longer waiting (a state frame said so)
        found = await routing.place(self.platform, self.workspace_id, self.session_id)
        shaped = queue_frame(self, *found) if found is not None else None
        if shaped is not None:
            await self._send(shaped)

    async def _fill(self, ticket_id: int, upto: int | None) -> None:
        after = self.last.get(ticket_id, 0)
        async with self.platform.db.read() as conn:
            rows = await queries.backlog(conn, ticket_id, after, public_only=not self.staff, upto=upto)
        for r in rows:
            n = r["seq"] if self.staff else r["pseq"]
            if n <= self.last.get(ticket_id, 0):
                continue
            shaped = self.view(r)
            if shaped is not None:
                await self._send(shaped)
            self.last[ticket_id] = int(n)


class Collector(Stream):
    """The long-poll fallback's stream: events are gathered for one HTTP answer."""

    def __init__(self, platform: Any, workspace_id: int, *, staff: bool) -> None:
        super().__init__(platform, workspace_id, staff=staff)
        self.items: list[dict[str, Any]] = []

    async def out(self, event: dict[str, Any]) -> None:
        self.items.append(event)

    async def gather(self, wait: float) -> list[dict[str, Any]]:
        """Everything queued now; if nothing, wait up to ``wait`` seconds for something."""
        end = asyncio.get_running_loop().time() + wait
        while True:
            while not self.queue.empty():
                await self.run_one()
            left = end - asyncio.get_running_loop().time()
            if self.items or left <= 0:
                return self.items
            with contextlib.suppress(TimeoutError):
                await self._emit(await asyncio.wait_for(self.queue.get(), left))
