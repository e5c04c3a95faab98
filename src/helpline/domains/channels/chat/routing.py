"""Who takes which chat: agent status, auto-assignment within each agent's limit of concurrent chats,
accept, transfer (to an agent or a group), end, the live queue (positions and estimated wait), and
the offline form. On PostgreSQL a transaction-scoped advisory lock per workspace serializes
assignment across processes, so no agent passes their limit."""

from __future__ import annotations

import math
from typing import Any

import sqlalchemy as sa

from helpline.db.base import utcnow
from helpline.domains.accounts.models import User
from helpline.domains.accounts.principal import Principal
from helpline.domains.channels.chat import queries
from helpline.domains.channels.chat import tickets_bridge as bridge
from helpline.domains.channels.chat.common import limit, publish_after
from helpline.domains.channels.chat.hub import hub_of
from helpline.domains.channels.chat.models import AgentStatus, ChatAgent, ChatSession, ChatState, ChatWidget
from helpline.domains.tickets import content, lifecycle
from helpline.domains.tickets import queries as ticket_queries
from helpline.domains.tickets import service as tickets_service
from helpline.errors import Conflict, Forbidden, Invalid
from helpline.platform import jobs
from helpline.platform.db import UnitOfWork

sessions = ChatSession.__table__
agents = ChatAgent.__table__
widgets = ChatWidget.__table__
users = User.__table__
#: Seconds a waiting visitor is told to expect per place ahead, at the least.
MIN_WAIT = 30.0
_LOCK_BASE = 0x43_4841_5400_0000  # "CHAT": advisory lock keys per workspace


async def _serialize(uow: UnitOfWork, workspace_id: int) -> None:
    if uow.dialect == "postgresql":
        await uow.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_BASE + workspace_id})


async def _limit_of(uow: UnitOfWork, widget_ids: set[int]) -> dict[int, int]:
    if not widget_ids:
        return {}
    return {
        int(i): int(n)  # type: ignore[call-overload]
        for i, n in await uow.execute(
            sa.select(widgets.c.id, widgets.c.max_chats_per_agent).where(widgets.c.id.in_(widget_ids))
        )
    }


async def _assign(
    uow: UnitOfWork,
    platform: Any,
    s: dict[str, Any],
    agent_id: int,
    actor: Principal | None,
    *,
    kind: str = "assigned",
) -> None:
    await uow.execute(
        sessions.update()
        .where(sessions.c.id == s["id"])
        .values(state=ChatState.active.value, agent_id=agent_id, accepted_at=s.get("accepted_at") or utcnow())
    )
    ticket = await bridge.ticket_row(uow, s["ticket_id"])
    changes: dict[str, Any] = {"assignee_id": agent_id}
    opened = lifecycle.after_live_assignment(ticket["status"])
    if opened is not None:
        changes["status"] = opened.new
    await bridge.set_fields(uow, platform.pubsub, ticket, actor, **changes)
    name = await queries.user_name(uow.conn, agent_id)
    ws = s["workspace_id"]
    publish_after(uow, platform, ws, f"t:{s['ticket_id']}", {"t": "state", "state": "active", "agent": name})
    publish_after(
        uow, platform, ws, "agents", {"t": kind, "ticket": s["ticket_id"], "agent": agent_id}, staff=True
    )


async def dispatch(platform: Any, workspace_id: int, *, changed: bool = False) -> int:
    """Give waiting chats, oldest first, to available agents with room under their widget's limit
    (the least busy first; a chat for a group only to its members). The number assigned. The queue
    is published once if a chat was assigned, or if the caller ``changed`` it (a chat queued, a
    chat left it, an agent came online): callers never publish it again themselves."""
    assigned = await _dispatch(platform, workspace_id)
    if assigned or changed:
        await publish_queue(platform, workspace_id)
    return assigned


async def _dispatch(platform: Any, workspace_id: int) -> int:
    async with platform.db.read() as conn:
        online = await queries.online_agents(conn, platform.cache, workspace_id)
    if not online:
        return 0
    assigned = 0
    async with platform.db.transaction() as uow:
        await _serialize(uow, workspace_id)
        waiting = await queries.queue(uow.conn, workspace_id)
        if not waiting:
            return 0
        counts = await queries.active_counts(uow.conn, workspace_id)
        groups = await queries.agent_groups(uow.conn, online)
        limits = await _limit_of(uow, {int(s["widget_id"]) for s in waiting})
        for s in waiting:
            room = [
                u
                for u in online
                if counts.get(u, 0) < limits.get(int(s["widget_id"]), 3)
                and (s["group_id"] is None or s["group_id"] in groups.get(u, set()))
            ]
            if not room:
                continue
            agent = min(room, key=lambda u: (counts.get(u, 0), u))
            row = dict(
                (await uow.execute(sa.select(sessions).where(sessions.c.id == s["id"]))).mappings().one()
            )
            await _assign(uow, platform, row, agent, None)
            counts[agent] = counts.get(agent, 0) + 1
            assigned += 1
    return assigned


def _wait(avg: float, agents: int, index: int) -> int:
    """A rough estimate for place ``index`` (0 first): the recent mean wait (at least MIN_WAIT) for
    each round of available agents."""
    return int(max(avg, MIN_WAIT) * math.ceil((index + 1) / max(1, agents)))


async def queue_event(platform: Any, workspace_id: int) -> dict[str, Any]:
    """The queue, in order, with an estimated wait per place: what agents' consoles get, and what a
    waiting visitor's stream finds its own place in (the list of session ids never reaches a
    visitor's socket; see streams.visitor_view)."""
    async with platform.db.read() as conn:
        waiting = await queries.queue(conn, workspace_id)
        avg = await queries.average_wait(conn, workspace_id)
        online = await queries.online_agents(conn, platform.cache, workspace_id)
    return {
        "t": "queue",
        "ids": [int(s["id"]) for s in waiting],
        "tickets": [int(s["ticket_id"]) for s in waiting],
        "waits": [_wait(avg, len(online), i) for i in range(len(waiting))],
    }


async def publish_queue(platform: Any, workspace_id: int) -> None:
    """Tell every waiting visitor and agent of the workspace the queue (after it changed)."""
    await hub_of(platform).publish(workspace_id, "q", await queue_event(platform, workspace_id))


async def place(platform: Any, workspace_id: int, session_id: int) -> tuple[int, int] | None:
    """One waiting chat's place in the queue (1 first) and its estimated wait in seconds; None when
    it is not waiting. For a visitor who (re)connects: only they need it, so it is not published."""
    async with platform.db.read() as conn:
        ahead = await queries.queue_ahead(conn, workspace_id, session_id)
        if ahead is None:
            return None
        avg = await queries.average_wait(conn, workspace_id)
        online = await queries.online_agents(conn, platform.cache, workspace_id)
    return ahead + 1, _wait(avg, len(online), ahead)


async def publish_availability(platform: Any, workspace_id: int) -> int:
    async with platform.db.read() as conn:
        n = len(await queries.online_agents(conn, platform.cache, workspace_id))
    await hub_of(platform).publish(workspace_id, "avail", {"t": "avail", "agents": n})
    return n


async def heartbeat(platform: Any, workspace_id: int, user_id: int) -> None:
    """The agent has a live console connection (renewed every 20 s by the socket)."""
    await platform.cache.set(queries.alive_key(workspace_id, user_id), b"1", queries.ALIVE_TTL)


async def gone(platform: Any, workspace_id: int, user_id: int) -> None:
    await platform.cache.delete(queries.alive_key(workspace_id, user_id))
    await publish_availability(platform, workspace_id)


def _staff(actor: Principal) -> None:
    if not actor.is_staff:
        raise Forbidden("only agents take chats")


async def set_status(platform: Any, actor: Principal, status: str) -> None:
    """Online, away or offline. Going online takes waiting chats at once (auto-assignment)."""
    _staff(actor)
    if status not in {s.value for s in AgentStatus}:
        raise Invalid("status", "online, away or offline")
    if status == AgentStatus.online:
        tickets_service.check_editor(actor, "take chats")
    async with platform.db.transaction() as uow:
        res = await uow.execute(
            agents.update()
            .where(agents.c.workspace_id == actor.workspace_id, agents.c.user_id == actor.user_id)
            .values(status=status, updated_at=utcnow())
        )
        if not res.rowcount:
            await uow.execute(
                agents.insert().values(
                    workspace_id=actor.workspace_id, user_id=actor.user_id, status=status, updated_at=utcnow()
                )
            )
        publish_after(
            uow,
            platform,
            actor.workspace_id,
            "agents",
            {"t": "agent", "user": actor.user_id, "status": status},
            staff=True,
        )
    await publish_availability(platform, actor.workspace_id)
    if status == AgentStatus.online:
        # One more agent: chats may be assigned, and every estimated wait changes.
        await dispatch(platform, actor.workspace_id, changed=True)


async def check_access(platform: Any, actor: Principal, ticket_id: int) -> None:
    """A staff actor who may see the chat's ticket (404 otherwise, like its page and the API)."""
    _staff(actor)
    async with platform.db.read() as conn:
        await ticket_queries.access_ticket(conn, actor, ticket_id)


async def accept(platform: Any, actor: Principal, ticket_id: int) -> None:
    """Take a waiting chat, within the widget's limit of concurrent chats."""
    await check_access(platform, actor, ticket_id)
    tickets_service.check_editor(actor, "take chats")
    async with platform.db.transaction() as uow:
        await _serialize(uow, actor.workspace_id)
        s = await bridge.lock_session(uow, ticket_id)
        if s is None:
            raise Conflict(f"ticket {ticket_id} is not a chat")
        if s["state"] != ChatState.queued:
            raise Conflict(
                "this chat is not waiting" if s["state"] == ChatState.ended else "another agent has this chat"
            )
        await _check_room(uow, s, actor.user_id)
        await _assign(uow, platform, s, actor.user_id, actor, kind="accepted")
    await publish_queue(platform, actor.workspace_id)


async def _check_room(uow: UnitOfWork, s: dict[str, Any], agent_id: int) -> None:
    most = (await _limit_of(uow, {int(s["widget_id"])})).get(int(s["widget_id"]), 3)
    have = (await queries.active_counts(uow.conn, int(s["workspace_id"]))).get(agent_id, 0)
    if have >= most:
        raise Conflict(f"at the limit of {most} concurrent chats")


async def transfer(
    platform: Any,
    actor: Principal,
    ticket_id: int,
    *,
    agent_id: int | None = None,
    group_id: int | None = None,
) -> None:
    """Hand a chat to another agent (within their limit) or back to a group's queue."""
    await check_access(platform, actor, ticket_id)
    tickets_service.check_editor(actor, "transfer chats")
    if (agent_id is None) == (group_id is None):
        raise Invalid("to", "transfer to one agent or one group")
    async with platform.db.transaction() as uow:
        await _serialize(uow, actor.workspace_id)
        s = await bridge.lock_session(uow, ticket_id)
        if s is None or s["state"] == ChatState.ended:
            raise Conflict("this chat has ended")
        if agent_id is not None:
            await tickets_service.check_assignee(uow, actor.workspace_id, agent_id)
            await _check_room(uow, s, agent_id)
            await _assign(uow, platform, s, agent_id, actor, kind="transferred")
        else:
            assert group_id is not None
            await tickets_service.check_group(uow, actor.workspace_id, group_id)
            await uow.execute(
                sessions.update()
                .where(sessions.c.id == s["id"])
                .values(state=ChatState.queued.value, agent_id=None, group_id=group_id)
            )
            ticket = await bridge.ticket_row(uow, ticket_id)
            await bridge.set_fields(uow, platform.pubsub, ticket, actor, group_id=group_id, assignee_id=None)
            publish_after(
                uow,
                platform,
                actor.workspace_id,
                f"t:{ticket_id}",
                {"t": "state", "state": "queued", "agent": ""},
            )
            publish_after(
                uow,
                platform,
                actor.workspace_id,
                "agents",
                {"t": "transferred", "ticket": ticket_id},
                staff=True,
            )
    await dispatch(platform, actor.workspace_id, changed=True)


async def end(platform: Any, workspace_id: int, ticket_id: int, actor: Principal | None = None) -> None:
    """End a chat (the visitor left, or an agent closed it). The transcript is emailed to the
    customer once, and with a mailbox the conversation continues by email. An agent's close also
    solves the ticket. An agent must see the ticket and may change it (light agents may not: 403,
    the tickets service's rule, on the page and the socket alike)."""
    if actor is not None:
        await check_access(platform, actor, ticket_id)
        tickets_service.check_editor(actor, "end chats")
    was_queued = False
    async with platform.db.transaction() as uow:
        s = await bridge.lock_session(uow, ticket_id)
        if s is None:
            raise Conflict(f"ticket {ticket_id} is not a chat")
        if s["state"] != ChatState.ended:
            was_queued = s["state"] == ChatState.queued
            await uow.execute(
                sessions.update()
                .where(sessions.c.id == s["id"])
                .values(state=ChatState.ended.value, ended_at=utcnow())
            )
            await jobs.enqueue(uow, "chat.transcript", {"session_id": int(s["id"])})
            await tickets_service.reindex(uow, ticket_id)
            await bridge.continue_by_email(uow, workspace_id, ticket_id)
            publish_after(
                uow,
                platform,
                workspace_id,
                f"t:{ticket_id}",
                {"t": "state", "state": "ended", "by": "agent" if actor else "visitor"},
            )
            publish_after(
                uow, platform, workspace_id, "agents", {"t": "ended", "ticket": ticket_id}, staff=True
            )
        if actor is not None:
            ticket = await bridge.ticket_row(uow, ticket_id)
            solved = lifecycle.after_agent_ends_conversation(ticket["status"])
            if solved is not None:
                await bridge.set_fields(uow, platform.pubsub, ticket, actor, status=solved.new)
    await dispatch(platform, workspace_id, changed=was_queued)


async def offline(platform: Any, widget: dict[str, Any], fields: dict[str, str], body: str, ip: str) -> None:
    """The offline form: an email ticket from the given address (replies go out by email)."""
    body = (body or "").strip()
    if not body:
        raise Invalid("body", "empty message")
    if len(body) > platform.settings.chat_max_message_chars:
        raise Invalid("body", f"longer than {platform.settings.chat_max_message_chars} characters")
    await limit(
        platform,
        f"chat:start:{widget['id']}:{ip}",
        platform.settings.chat_starts_per_hour,
        3600,
        "messages from this address",
    )
    ws = int(widget["workspace_id"])
    text, html = content.render_body(body, is_html=False)
    async with platform.db.transaction() as uow:
        contact = await tickets_service.find_or_create_contact(
            uow, ws, email=fields["email"], name=fields.get("name", "")
        )
        ticket_id, _mid, _n = await bridge.create_ticket(
            uow,
            platform.pubsub,
            workspace_id=ws,
            contact_id=contact,
            subject="Offline message: " + " ".join(body.split())[:70],
            body_text=text,
            body_html=html,
            channel="email",
            group_id=widget["group_id"],
        )
        await bridge.continue_by_email(uow, ws, ticket_id)
