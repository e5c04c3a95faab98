"""Reads of the chat channel: widgets, sessions, the backlog after a sequence number, the queue,
and which agents are available. Visitor reads are scoped by the visitor's own session; agent reads by
``tickets.queries.access_ticket``."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.domains.accounts.models import GroupMember, Membership, User, Workspace
from helpline.domains.channels.chat.models import (
    AgentStatus,
    ChatAgent,
    ChatMessage,
    ChatSession,
    ChatState,
    ChatVisitor,
    ChatWidget,
)
from helpline.domains.tickets.models import Attachment, Message
from helpline.errors import NotFound

widgets = ChatWidget.__table__
visitors = ChatVisitor.__table__
sessions = ChatSession.__table__
chat_messages = ChatMessage.__table__
agents = ChatAgent.__table__
messages = Message.__table__
attachments = Attachment.__table__
users = User.__table__
members = Membership.__table__
workspaces = Workspace.__table__
group_members = GroupMember.__table__

#: Seconds an agent stays "connected" after their last heartbeat (see service.heartbeat).
ALIVE_TTL = 60
_WIDGETS: dict[str, tuple[float, dict[str, Any] | None]] = {}
WIDGET_TTL = 10.0


def alive_key(workspace_id: int, user_id: int) -> str:
    return f"chat:alive:{workspace_id}:{user_id}"


async def widget_by_key(conn: AsyncConnection, key: str, *, fresh: bool = False) -> dict[str, Any]:
    """An enabled widget by its public key (kept for :data:`WIDGET_TTL` seconds per process); else 404."""
    hit = _WIDGETS.get(key)
    if hit and not fresh and hit[0] > time.monotonic():
        found = hit[1]
    else:
        live = sa.select(workspaces.c.id).where(workspaces.c.disabled_at.is_(None))  # not a disabled one
        row = (
            (
                await conn.execute(
                    sa.select(widgets).where(widgets.c.key == key, widgets.c.workspace_id.in_(live))
                )
            )
            .mappings()
            .first()
        )
        found = dict(row) if row else None
        if found is not None:  # misses are not kept: any string in ?widget= would grow the cache
            _WIDGETS[key] = (time.monotonic() + WIDGET_TTL, found)
    if found is None or not found["enabled"]:
        raise NotFound("no such chat widget")
    return found


def forget_widget(key: str) -> None:
    _WIDGETS.pop(key, None)


async def visitor(conn: AsyncConnection, widget_id: int, visitor_id: int) -> dict[str, Any] | None:
    row = (
        (
            await conn.execute(
                sa.select(visitors).where(visitors.c.id == visitor_id, visitors.c.widget_id == widget_id)
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


async def visitor_by_external(
    conn: AsyncConnection, widget_id: int, external_id: str
) -> dict[str, Any] | None:
    row = (
        (
            await conn.execute(
                sa.select(visitors).where(
                    visitors.c.widget_id == widget_id, visitors.c.external_id == external_id
                )
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


async def open_session(conn: AsyncConnection, visitor_id: int) -> dict[str, Any] | None:
    """The visitor's chat that has not ended, if any (the newest)."""
    row = (
        (
            await conn.execute(
                sa.select(sessions)
                .where(
                    sessions.c.visitor_id == visitor_id,
                    sessions.c.state != ChatState.ended.value,
                )
                .order_by(sessions.c.id.desc())
                .limit(1)
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


async def last_session(conn: AsyncConnection, visitor_id: int) -> dict[str, Any] | None:
    row = (
        (
            await conn.execute(
                sa.select(sessions)
                .where(sessions.c.visitor_id == visitor_id)
                .order_by(sessions.c.id.desc())
                .limit(1)
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


async def session_by_ticket(conn: AsyncConnection, ticket_id: int) -> dict[str, Any]:
    row = (
        (await conn.execute(sa.select(sessions).where(sessions.c.ticket_id == ticket_id))).mappings().first()
    )
    if row is None:
        raise NotFound(f"ticket {ticket_id} is not a chat")
    return dict(row)


def _author_name() -> sa.ColumnElement[Any]:
    return sa.func.coalesce(users.c.name, "")


async def backlog(
    conn: AsyncConnection,
    ticket_id: int,
    after: int,
    *,
    public_only: bool,
    upto: int | None = None,
    limit: int = 500,
) -> list[dict[str, Any]]:
    """Messages of a conversation after sequence number ``after`` (``pseq`` for a visitor, ``seq`` for
    staff), in order, as the events a socket sends."""
    col = chat_messages.c.pseq if public_only else chat_messages.c.seq
    q = (
        sa.select(
            chat_messages.c.seq,
            chat_messages.c.pseq,
            chat_messages.c.client_id,
            chat_messages.c.public,
            messages.c.id,
            messages.c.author_kind,
            messages.c.body_text,
            messages.c.created_at,
            _author_name().label("agent_name"),
        )
        .join(messages, messages.c.id == chat_messages.c.message_id)
        .outerjoin(users, users.c.id == messages.c.author_user_id)
        .where(chat_messages.c.ticket_id == ticket_id, col > after)
        .order_by(col)
        .limit(limit)
    )
    if upto is not None:
        q = q.where(col < upto)
    rows = (await conn.execute(q)).mappings().all()
    files = await files_of(conn, [r["id"] for r in rows])
    return [message_event(dict(r), ticket_id, files.get(r["id"], [])) for r in rows]


async def files_of(conn: AsyncConnection, message_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    if not message_ids:
        return {}
    out: dict[int, list[dict[str, Any]]] = {}
    for r in await conn.execute(
        sa.select(
            attachments.c.id,
            attachments.c.message_id,
            attachments.c.filename,
            attachments.c.size,
            attachments.c.content_type,
        )
        .where(attachments.c.message_id.in_(message_ids))
        .order_by(attachments.c.id)
    ):
        out.setdefault(int(r.message_id), []).append(
            {"id": int(r.id), "name": r.filename, "size": int(r.size), "type": r.content_type}
        )
    return out


def message_event(r: dict[str, Any], ticket_id: int, files: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``msg`` event of one stored message (staff form: a visitor's socket reshapes it)."""
    created: datetime = r["created_at"]
    return {
        "t": "msg",
        "ticket": ticket_id,
        "seq": r["seq"],
        "pseq": r["pseq"],
        "public": bool(r["public"]),
        "cid": r["client_id"],
        "from": {"customer": "visitor"}.get(r["author_kind"], r["author_kind"]),
        "name": r.get("agent_name") or "",
        "body": r["body_text"],
        "at": created.isoformat(),
        "files": files,
        "mid": r["id"],
    }


async def queue(conn: AsyncConnection, workspace_id: int) -> list[dict[str, Any]]:
    """Waiting chats of a workspace, oldest first."""
    rows = await conn.execute(
        sa.select(
            sessions.c.id,
            sessions.c.ticket_id,
            sessions.c.group_id,
            sessions.c.widget_id,
            sessions.c.queued_at,
        )
        .where(sessions.c.workspace_id == workspace_id, sessions.c.state == ChatState.queued.value)
        .order_by(sessions.c.queued_at, sessions.c.id)
        .limit(1000)
    )
    return [dict(r) for r in rows.mappings()]


async def queue_ahead(conn: AsyncConnection, workspace_id: int, session_id: int) -> int | None:
    """How many waiting chats of the workspace come before this one (None if it is not waiting), in
    the order of :func:`queue`."""
    waiting = (sessions.c.workspace_id == workspace_id, sessions.c.state == ChatState.queued.value)
    mine = (
        await conn.execute(sa.select(sessions.c.queued_at).where(sessions.c.id == session_id, *waiting))
    ).first()
    if mine is None:
        return None
    at = mine[0]
    before = sa.or_(
        sessions.c.queued_at < at, sa.and_(sessions.c.queued_at == at, sessions.c.id < session_id)
    )
    return int((await conn.execute(sa.select(sa.func.count()).where(*waiting, before))).scalar_one())


async def average_wait(conn: AsyncConnection, workspace_id: int) -> float:
    """Mean seconds from queued to accepted over the workspace's last 20 accepted chats (60 with none)."""
    rows = (
        await conn.execute(
            sa.select(sessions.c.queued_at, sessions.c.accepted_at)
            .where(
                sessions.c.workspace_id == workspace_id,
                sessions.c.accepted_at.is_not(None),
            )
            .order_by(sessions.c.accepted_at.desc())
            .limit(20)
        )
    ).all()
    waits = [max(0.0, (r[1] - r[0]).total_seconds()) for r in rows]
    return sum(waits) / len(waits) if waits else 60.0


#: Roles that take chats; their status is online until they set another (no ``chat_agents`` row).
CHAT_ROLES = ("admin", "agent")


async def online_agents(conn: AsyncConnection, cache: Any, workspace_id: int) -> list[int]:
    """Agents whose status is online (the default of admins and agents) and who are connected (a
    heartbeat in the cache: the chat socket, or a console page open)."""
    own = sa.and_(agents.c.workspace_id == members.c.workspace_id, agents.c.user_id == members.c.user_id)
    ids = [
        int(r[0])
        for r in await conn.execute(
            sa.select(members.c.user_id)
            .select_from(members.outerjoin(agents, own))
            .where(
                members.c.workspace_id == workspace_id,
                members.c.role.in_(CHAT_ROLES),
                members.c.is_active.is_(True),
                sa.or_(agents.c.status.is_(None), agents.c.status == AgentStatus.online.value),
            )
        )
    ]
    if not ids:
        return []
    alive = await cache.get_many([alive_key(workspace_id, u) for u in ids])
    return [u for u, a in zip(ids, alive, strict=True) if a is not None]


async def agent_status(conn: AsyncConnection, workspace_id: int, user_id: int) -> str:
    """The status the agent set; online for an admin or agent who never set one, else offline."""
    own = sa.and_(agents.c.workspace_id == members.c.workspace_id, agents.c.user_id == members.c.user_id)
    row = (
        await conn.execute(
            sa.select(agents.c.status, members.c.role)
            .select_from(members.outerjoin(agents, own))
            .where(members.c.workspace_id == workspace_id, members.c.user_id == user_id)
        )
    ).first()
    if row is not None and row[0]:
        return str(row[0])
    return AgentStatus.online.value if row is not None and row[1] in CHAT_ROLES else AgentStatus.offline.value


async def active_counts(conn: AsyncConnection, workspace_id: int) -> dict[int, int]:
    rows = await conn.execute(
        sa.select(sessions.c.agent_id, sa.func.count())
        .where(
            sessions.c.workspace_id == workspace_id,
            sessions.c.state == ChatState.active.value,
            sessions.c.agent_id.is_not(None),
        )
        .group_by(sessions.c.agent_id)
    )
    return {int(r[0]): int(r[1]) for r in rows}


async def agent_groups(conn: AsyncConnection, user_ids: list[int]) -> dict[int, set[int]]:
    out: dict[int, set[int]] = {u: set() for u in user_ids}
    if user_ids:
        for uid, gid in await conn.execute(
            sa.select(group_members.c.user_id, group_members.c.group_id).where(
                group_members.c.user_id.in_(user_ids)
            )
        ):
            out.setdefault(int(uid), set()).add(int(gid))  # type: ignore[call-overload]
    return out


async def chats_for_agent(conn: AsyncConnection, workspace_id: int, user_id: int) -> list[dict[str, Any]]:
    """The agent's active chats and the workspace's queue, for the console's chat list."""
    from helpline.domains.customers.models import Contact
    from helpline.domains.tickets.models import Ticket

    t, c = Ticket.__table__, Contact.__table__
    rows = await conn.execute(
        sa.select(
            sessions.c.ticket_id,
            sessions.c.state,
            sessions.c.agent_id,
            sessions.c.queued_at,
            sessions.c.pseq,
            sessions.c.agent_read_pseq,
            t.c.number,
            t.c.subject,
            c.c.name.label("visitor"),
        )
        .join(t, t.c.id == sessions.c.ticket_id)
        .join(c, c.c.id == t.c.requester_id)
        .where(
            sessions.c.workspace_id == workspace_id,
            sa.or_(
                sessions.c.state == ChatState.queued.value,
                sa.and_(sessions.c.state == ChatState.active.value, sessions.c.agent_id == user_id),
            ),
        )
        .order_by(sessions.c.queued_at, sessions.c.id)
        .limit(500)
    )
    return [dict(r) for r in rows.mappings()]


async def workspace_agents(conn: AsyncConnection, workspace_id: int) -> list[dict[str, Any]]:
    """Staff of the workspace who may take chats (admins and agents), for transfers."""
    rows = await conn.execute(
        sa.select(users.c.id, users.c.name, users.c.email)
        .join(members, members.c.user_id == users.c.id)
        .where(members.c.workspace_id == workspace_id, members.c.role.in_(["admin", "agent"]))
        .order_by(users.c.name)
    )
    return [dict(r) for r in rows.mappings()]


async def user_name(conn: AsyncConnection, user_id: int) -> str:
    return str((await conn.execute(sa.select(users.c.name).where(users.c.id == user_id))).scalar() or "")
