"""WebSocket endpoints: ``/chat/ws?widget=KEY`` for visitors and ``/chat/agent/ws`` for the console.

A visitor's socket is accepted only from an origin on the widget's allow-list; its first frame is
``hello`` (a visitor token or a host-site identity, and the last sequence number it has). An
agent's socket is accepted only from this site's own origin with a console session cookie (no
cross-site WebSocket hijacking). Frames are JSON objects with a ``t`` (type); see docs/chat.md.

An agent's socket is a registered live connection (``accounts.live``): every frame it sends re-resolves
the session first (the cached path, exact right after an account change commits), and the socket is
closed (4401 signed out, 4409 role or groups changed) the moment an account change takes its rights,
in whichever process it is. Each frame then passes the same checks as the page or API route that
does the same thing (``routing`` and the tickets service hold them once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any
from urllib.parse import urlsplit

import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState

from helpline.domains.accounts import live
from helpline.domains.accounts.principal import Principal
from helpline.domains.channels.chat import availability, queries, routing, service
from helpline.domains.channels.chat.common import as_dict, as_int, as_list
from helpline.domains.channels.chat.models import AgentStatus
from helpline.domains.channels.chat.streams import Overflow, Stream
from helpline.errors import Problem
from helpline.web.deps import session_digest
from helpline.web.pages import session_of

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
MAX_FRAME = 16 * 1024
HEARTBEAT = 20.0
_AGENTS_ONLINE: dict[int, tuple[float, int]] = {}


class SocketStream(Stream):
    def __init__(self, sock: WebSocket, platform: Any, workspace_id: int, *, staff: bool) -> None:
        super().__init__(platform, workspace_id, staff=staff)
        self.sock = sock

    async def out(self, event: dict[str, Any]) -> None:
        await self.sock.send_text(orjson.dumps(event).decode())


def client_ip(conn: Any) -> str:
    return conn.client.host if conn.client else ""


def origin_allowed(widget: dict[str, Any], origin: str | None, host: str | None = None) -> bool:
    """A page of one of the widget's allowed origins, or of this install itself (``host``, the
    request's own Host: its help centre and the demo, on whatever address it is served)."""
    if not origin:
        return False
    return origin in (widget.get("allowed_origins") or []) or bool(host and urlsplit(origin).netloc == host)


async def agents_online(platform: Any, workspace_id: int) -> int:
    """Available agents, remembered for 2 s per process (10,000 visitors connecting ask once)."""
    hit = _AGENTS_ONLINE.get(workspace_id)
    if hit and hit[0] > time.monotonic():
        return hit[1]
    async with platform.db.read() as conn:
        n = len(await queries.online_agents(conn, platform.cache, workspace_id))
    _AGENTS_ONLINE[workspace_id] = (time.monotonic() + 2.0, n)
    return n


def public_config(widget: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": widget["name"],
        "greeting": widget["greeting"],
        "locale": widget["locale"],
        "texts": widget["texts"] or {},
        "theme": widget["theme"] or {},
        "fields": widget["prechat_fields"] or [],
        "answers": bool(widget["answer_bot"]),
    }


def chat_view(session: dict[str, Any] | None) -> dict[str, Any] | None:
    if session is None:
        return None
    return {
        "state": session["state"],
        "last": session["pseq"],
        "read": session["agent_read_pseq"],
        "agent": session.get("agent_name", ""),
    }


async def visitor_enter(s: Stream, v: service.Visitor, after: int, *, welcome: bool = True) -> None:
    """Queue the welcome frame (first), join the visitor's rooms and queue their backlog."""
    s.widget, s.session_id = v.widget, (int(v.session["id"]) if v.session else None)
    if welcome:
        online = availability.offers_chat(v.widget, await agents_online(s.platform, v.workspace_id))
        s.push(
            {
                "t": "welcome",
                "token": service.token_of(s.platform, v),
                "config": public_config(v.widget),
                "online": online,
                "chat": chat_view(v.session),
            }
        )
    await s.join("avail")
    if v.session is not None:
        s.session_state = v.session["state"]
        await s.follow(int(v.session["ticket_id"]), after)
        if v.session["state"] == "queued":
            await s.join("q")
            s.own_place()  # their place, to them alone: a reconnect or a poll publishes nothing
        # A state change between reading the chat and joining its room would be lost: look again.
        before = v.session["state"]
        await service.refresh(s.platform, v)
        now = v.session["state"] if v.session else "ended"
        if now != before:
            s.push({"t": "state", "state": now, "agent": (v.session or {}).get("agent_name", "")})


async def visitor_frame(s: Stream, v: service.Visitor, f: dict[str, Any]) -> dict[str, Any] | None:
    """Handle one frame from a visitor; the direct answer, if any (errors become ``error`` frames)."""
    p, t = s.platform, f.get("t")
    try:
        if t == "ping":
            return {"t": "pong"}
        if t == "start":
            had = v.session is not None
            fields = as_dict(f.get("fields"))
            bot = as_dict(f.get("bot")) or None
            v.page = str(f.get("page") or "")[:500]
            await service.start(p, v, fields, str(f.get("body") or ""), f.get("cid"), bot)
            assert v.session is not None
            if not had:
                s.session_id, s.session_state = int(v.session["id"]), v.session["state"]
                await s.follow(int(v.session["ticket_id"]), 0)
                if v.session["state"] == "queued":
                    await s.join("q")
                    s.own_place(after_answer=True)  # start published the queue before this joined it
            return {
                "t": "started",
                "token": service.token_of(p, v),
                "chat": chat_view(v.session),
                "cid": f.get("cid"),
            }
        if v.session is None:
            return {
                "t": "error",
                "code": 409,
                "detail": "no chat is open: start one first",
                "cid": f.get("cid"),
            }
        ticket = int(v.session["ticket_id"])
        if t == "msg":
            files = as_list(f.get("files"))
            return await service.visitor_send(
                p, v, f.get("cid"), str(f.get("body") or ""), [str(x) for x in files]
            )
        if t == "typing":
            await service.typing(p, v.workspace_id, ticket, "visitor", bool(f.get("on")))
            return None
        if t == "read":
            await service.read(p, v.workspace_id, ticket, "visitor", f.get("seq"))
            return None
        if t == "end":
            await routing.end(p, v.workspace_id, ticket)
            v.session = None
            return {"t": "ended"}
        return {"t": "error", "code": 400, "detail": f"unknown frame type {t!r}"}
    except Problem as exc:
        return {"t": "error", "code": exc.status, "detail": exc.detail, "cid": f.get("cid")}


async def _frames(sock: WebSocket) -> Any:
    while sock.application_state == WebSocketState.CONNECTED:  # (not once this side has closed it)
        text = await sock.receive_text()
        if len(text) > MAX_FRAME:
            yield {"t": "_too_big"}
            continue
        try:
            frame = orjson.loads(text)
        except orjson.JSONDecodeError:
            frame = {"t": "_bad"}
        yield frame if isinstance(frame, dict) else {"t": "_bad"}


async def _pump(s: Stream) -> None:
    while True:
        await s.run_one()


async def _serve(sock: WebSocket, s: Stream, handle: Any) -> None:
    """Read frames and hand them to ``handle`` while one task writes ``s``'s events, until either ends
    (or the stream's live connection has ended)."""
    writer = asyncio.create_task(_pump(s))
    try:
        async for frame in _frames(sock):
            if writer.done() or (s.live is not None and s.live.ended):
                break
            if frame.get("t") == "_too_big":
                s.push({"t": "error", "code": 413, "detail": f"frames are limited to {MAX_FRAME} bytes"})
                continue
            if frame.get("t") == "_bad":
                s.push({"t": "error", "code": 400, "detail": "frames are JSON objects"})
                continue
            s.answered(await handle(frame))
            if s.live is not None and s.live.ended:
                break
    except WebSocketDisconnect:
        pass
    finally:
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Overflow, Exception):
            await writer
        s.close()


@router.websocket("/chat/ws")
async def visitor_socket(sock: WebSocket, widget: str = "") -> None:
    platform = sock.app.state.platform
    try:
        async with platform.db.read() as conn:
            w = await queries.widget_by_key(conn, widget)
    except Problem:
        await sock.close(code=4404)
        return
    origin = sock.headers.get("origin")
    if not origin_allowed(w, origin, sock.headers.get("host")):
        await sock.close(code=4403)  # before accept: the handshake is refused (HTTP 403)
        return
    await sock.accept()
    try:
        hello = orjson.loads(await asyncio.wait_for(sock.receive_text(), 15))
        if not isinstance(hello, dict) or hello.get("t") != "hello":
            raise ValueError("the first frame is hello")
        user = as_dict(hello.get("user"))
        v = await service.resolve(
            platform, w, hello.get("token"), user, origin=str(origin), ip=client_ip(sock)
        )
    except Problem as exc:
        await sock.send_text(orjson.dumps({"t": "error", "code": exc.status, "detail": exc.detail}).decode())
        await sock.close(code=4403)
        return
    except (TimeoutError, ValueError, WebSocketDisconnect):
        with contextlib.suppress(Exception):
            await sock.close(code=4400)
        return
    s = SocketStream(sock, platform, v.workspace_id, staff=False)
    after = as_int(hello.get("after"))
    await visitor_enter(s, v, after)

    async def handle(frame: dict[str, Any]) -> dict[str, Any] | None:
        return await visitor_frame(s, v, frame)

    await _serve(sock, s, handle)


# --- agents ----------------------------------------------------------------------------------------

_LOCAL_AGENTS: dict[tuple[int, int], int] = {}


def same_origin(sock: WebSocket) -> bool:
    origin, host = sock.headers.get("origin"), sock.headers.get("host")
    return bool(origin and host) and urlsplit(origin).netloc == host


async def agent_frame(s: Stream, actor: Principal, f: dict[str, Any]) -> dict[str, Any] | None:
    p, t = s.platform, f.get("t")
    ticket = f.get("ticket") if isinstance(f.get("ticket"), int) else None
    try:
        if t == "ping":
            return {"t": "pong"}
        if t == "status":
            await routing.set_status(p, actor, str(f.get("status")))
            return {"t": "status", "status": f.get("status")}
        if ticket is None:
            return {"t": "error", "code": 400, "detail": "ticket: required"}
        if t == "sub":
            await routing.check_access(p, actor, ticket)
            async with p.db.read() as conn:
                await queries.session_by_ticket(conn, ticket)
            after = as_int(f.get("after"))
            await s.follow(ticket, after)
            return None
        if t == "unsub":
            s.leave(f"t:{ticket}")
            s.last.pop(ticket, None)
            return None
        if t == "msg":
            return await service.agent_send(
                p, actor, ticket, f.get("cid"), str(f.get("body") or ""), public=not f.get("note")
            )
        if t in ("typing", "read"):
            if f"t:{ticket}" not in s.rooms:
                return {"t": "error", "code": 409, "detail": "subscribe to the chat first"}
            await routing.check_access(p, actor, ticket)  # as the ticket page's presence does
            if t == "typing":
                await service.typing(p, actor.workspace_id, ticket, "agent", bool(f.get("on")), actor.name)
            else:
                await service.read(p, actor.workspace_id, ticket, "agent", f.get("seq"))
            return None
        if t == "accept":
            await routing.accept(p, actor, ticket)
            return {"t": "accepted", "ticket": ticket}
        if t == "end":
            await routing.end(p, actor.workspace_id, ticket, actor)
            return {"t": "closed", "ticket": ticket}
        return {"t": "error", "code": 400, "detail": f"unknown frame type {t!r}"}
    except Problem as exc:
        return {"t": "error", "code": exc.status, "detail": exc.detail, "cid": f.get("cid"), "ticket": ticket}


@router.websocket("/chat/agent/ws")
async def agent_socket(sock: WebSocket) -> None:
    platform = sock.app.state.platform
    found = await session_of(sock, platform)  # type: ignore[arg-type]
    digest = session_digest(sock)
    if not same_origin(sock) or found is None or digest is None or not found[0].is_staff:
        await sock.close(code=4403)
        return
    await sock.accept()

    async def close(code: int, reason: str) -> None:
        await sock.close(code=code, reason=reason)

    conn = await live.registry_of(platform).register(live.SESSION, digest, found[0], close)
    try:
        # A change committed between the handshake and registering was not heard: look once now.
        if await conn.check() is not None:
            await _agent_session(sock, platform, conn)
    finally:
        conn.unregister()


async def _agent_session(sock: WebSocket, platform: Any, conn: live.Live) -> None:
    actor = conn.principal
    s = SocketStream(sock, platform, actor.workspace_id, staff=True)
    s.live = conn
    key = (actor.workspace_id, actor.user_id)
    _LOCAL_AGENTS[key] = _LOCAL_AGENTS.get(key, 0) + 1
    alive = await platform.cache.get_many([queries.alive_key(actor.workspace_id, actor.user_id)])
    await routing.heartbeat(platform, actor.workspace_id, actor.user_id)
    await s.join("agents")
    await s.join("q")
    async with platform.db.read() as db:
        status = await queries.agent_status(db, actor.workspace_id, actor.user_id)
    s.push({"t": "welcome", "user": actor.user_id, "status": status})
    # Only an online agent who was not connected changes what visitors see (availability, waits): a
    # console that reconnects, or a second tab, publishes nothing to them.
    came = status == AgentStatus.online and alive[0] is None
    if came:
        await routing.publish_availability(platform, actor.workspace_id)
    await routing.dispatch(platform, actor.workspace_id, changed=came)
    if not came:  # (when it came, the publish above reached this console too: it joined "q")
        s.own_place()  # the queue as it stands, to this console alone

    async def beat() -> None:
        while True:
            await asyncio.sleep(HEARTBEAT)
            await routing.heartbeat(platform, actor.workspace_id, actor.user_id)

    beating = asyncio.create_task(beat())

    async def handle(frame: dict[str, Any]) -> dict[str, Any] | None:
        # Who sends this, now: a frame sent after the agent's rights were taken is not acted on
        # (the check ends the connection; the socket is closing).
        now = await conn.check()
        if now is None:
            return None
        return await agent_frame(s, now, frame)

    try:
        await _serve(sock, s, handle)
    finally:
        beating.cancel()
        _LOCAL_AGENTS[key] -= 1
        if _LOCAL_AGENTS[key] <= 0:
            del _LOCAL_AGENTS[key]
            with contextlib.suppress(Exception):
                await routing.gone(platform, actor.workspace_id, actor.user_id)
