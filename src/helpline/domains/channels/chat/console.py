"""What the agent console shows of chats besides the conversation: the count in the main navigation
(waiting chats and the agent's own open ones), the agent's presence while any console page is open,
and the customer panel beside a chat (who the visitor is, the page they chat from, their other
tickets, the canned responses the agent may insert). Reads are scoped like the pages that show them:
the workspace, and ``tickets.queries`` / ``customers.queries`` for the actor."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.domains.accounts.principal import Principal
from helpline.domains.automation import queries as canned_queries
from helpline.domains.channels.chat import queries, routing
from helpline.domains.channels.chat.models import AgentStatus, ChatSession, ChatState
from helpline.domains.customers import queries as customer_queries
from helpline.domains.tickets import queries as ticket_queries
from helpline.errors import Problem

sessions = ChatSession.__table__
#: Seconds a console page keeps its agent connected: the navigation's count asks every 20 s.
PAGE_ALIVE_TTL = 90


async def nav_counts(conn: AsyncConnection, actor: Principal) -> dict[str, int]:
    """``{"waiting": chats queued in the workspace, "mine": the actor's active chats}``."""
    mine = sa.and_(sessions.c.state == ChatState.active.value, sessions.c.agent_id == actor.user_id)
    row = (
        await conn.execute(
            sa.select(
                sa.func.count().filter(sessions.c.state == ChatState.queued.value),
                sa.func.count().filter(mine),
            ).where(
                sessions.c.workspace_id == actor.workspace_id,
                sessions.c.state.in_([ChatState.queued.value, ChatState.active.value]),
            )
        )
    ).one()
    return {"waiting": int(row[0] or 0), "mine": int(row[1] or 0)}


async def page_seen(platform: Any, actor: Principal) -> None:
    """An admin or agent has a console page open: they count as connected for chats (their status
    decides whether they take them; online unless they set away or offline). One who was not
    connected makes chats available to visitors and may be given waiting ones at once."""
    if not actor.can_edit_tickets:
        return
    key = queries.alive_key(actor.workspace_id, actor.user_id)
    (was,) = await platform.cache.get_many([key])
    await platform.cache.set(key, b"1", PAGE_ALIVE_TTL)
    if was is not None:
        return
    async with platform.db.read() as conn:
        status = await queries.agent_status(conn, actor.workspace_id, actor.user_id)
    if status == AgentStatus.online:
        await routing.publish_availability(platform, actor.workspace_id)
        await routing.dispatch(platform, actor.workspace_id, changed=True)


async def customer_panel(
    conn: AsyncConnection, actor: Principal, ticket: dict[str, Any], session: dict[str, Any], dialect: str
) -> dict[str, Any]:
    """The visitor beside their chat: ``contact`` (None when the actor may not see it), ``visitor``
    (name, email, verified by the host site or not), ``page``, ``origin``, ``tickets`` (their ten
    latest others) and ``canned`` (the responses the actor may insert)."""
    try:
        contact: dict[str, Any] | None = await customer_queries.contact_detail(
            conn, actor, ticket["requester_id"]
        )
    except Problem:
        contact = None
    visitor = await queries.visitor(conn, int(session["widget_id"]), int(session["visitor_id"])) or {}
    others, _ = await ticket_queries.list_tickets(
        conn,
        actor,
        dialect=dialect,
        filters={"requester_id": [ticket["requester_id"]]},
        q=None,
        sort="-created_at",
        cursor=None,
        limit=11,
    )
    return {
        "contact": contact,
        "visitor": {
            "name": visitor.get("name") or "",
            "email": visitor.get("email") or "",
            "verified": bool(visitor.get("external_id")),
        },
        "page": session.get("page_url") or "",
        "origin": session.get("origin") or "",
        "tickets": [t for t in others if t["id"] != ticket["id"]][:10],
        "canned": await canned_queries.canned_for(conn, actor),
    }


def visitor_name(panel: dict[str, Any]) -> str:
    """What the conversation calls the visitor: the name they gave, else their contact's, else
    their email, else "Visitor"."""
    contact = panel.get("contact") or {}
    v = panel["visitor"]
    return str(v["name"] or contact.get("name") or v["email"] or contact.get("email") or "Visitor")
