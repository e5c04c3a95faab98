"""Reads of what agents compose on a ticket: their draft, signature, who may be @mentioned, the
snooze, and logged time (per ticket, and the per-agent / per-ticket report). Each takes the acting
principal; the ticket ones expect a ticket the caller has already checked (``access_ticket``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.domains.accounts.models import GroupMember, Membership, Role, User
from helpline.domains.accounts.principal import Principal
from helpline.domains.tickets.models import TicketDraft, TicketSnooze, TimeEntry
from helpline.domains.tickets.queries._tables import tickets
from helpline.domains.tickets.queries._visibility import visible
from helpline.errors import Forbidden, Invalid

drafts_t, snoozes_t, time_t = TicketDraft.__table__, TicketSnooze.__table__, TimeEntry.__table__
members_t, users_t, group_members_t = Membership.__table__, User.__table__, GroupMember.__table__
STAFF = (Role.admin.value, Role.agent.value, Role.light_agent.value)


async def draft_of(conn: AsyncConnection, actor: Principal, ticket_id: int) -> dict[str, Any] | None:
    """The actor's own draft on the ticket (nobody reads another's)."""
    row = (
        (
            await conn.execute(
                sa.select(drafts_t.c.body, drafts_t.c.public, drafts_t.c.updated_at).where(
                    drafts_t.c.ticket_id == ticket_id,
                    drafts_t.c.user_id == actor.user_id,
                    drafts_t.c.workspace_id == actor.workspace_id,
                )
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


async def signature_of(conn: AsyncConnection, actor: Principal) -> str:
    """The actor's signature in this workspace ('' when none)."""
    value = (
        await conn.execute(
            sa.select(members_t.c.signature).where(
                members_t.c.workspace_id == actor.workspace_id, members_t.c.user_id == actor.user_id
            )
        )
    ).scalar()
    return str(value or "")


async def mentionable(
    conn: AsyncConnection, actor: Principal, ticket: dict[str, Any]
) -> list[dict[str, Any]]:
    """Active staff of the ticket's workspace who may see ``ticket`` (admins; others when it has no
    group, is theirs, or is in one of their groups), by name: whom a note may @mention."""
    if not actor.is_staff:
        return []
    may_see: list[sa.ColumnElement[bool]] = [members_t.c.role == Role.admin.value]
    if ticket["group_id"] is None:
        may_see.append(sa.true())
    else:
        may_see.append(
            members_t.c.user_id.in_(
                sa.select(group_members_t.c.user_id).where(group_members_t.c.group_id == ticket["group_id"])
            )
        )
    if ticket["assignee_id"] is not None:
        may_see.append(members_t.c.user_id == ticket["assignee_id"])
    rows = await conn.execute(
        sa.select(users_t.c.id, users_t.c.name, users_t.c.email)
        .join(members_t, members_t.c.user_id == users_t.c.id)
        .where(
            members_t.c.workspace_id == actor.workspace_id,
            members_t.c.role.in_(STAFF),
            members_t.c.is_active.is_(True),
            users_t.c.is_active.is_(True),
            sa.or_(*may_see),
        )
        .order_by(users_t.c.name)
    )
    return [{"id": r.id, "name": r.name or r.email.split("@")[0], "email": r.email} for r in rows]


async def snooze_of(conn: AsyncConnection, ticket_id: int) -> dict[str, Any] | None:
    row = (
        (
            await conn.execute(
                sa.select(snoozes_t.c.until, snoozes_t.c.user_id, snoozes_t.c.created_at).where(
                    snoozes_t.c.ticket_id == ticket_id
                )
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


async def snoozes_of(conn: AsyncConnection, ticket_ids: list[int]) -> dict[int, datetime]:
    """Snooze times of those of ``ticket_ids`` that are snoozed (for a list of tickets)."""
    if not ticket_ids:
        return {}
    rows = await conn.execute(
        sa.select(snoozes_t.c.ticket_id, snoozes_t.c.until).where(snoozes_t.c.ticket_id.in_(ticket_ids))
    )
    return {int(r.ticket_id): r.until for r in rows}


def awake() -> sa.ColumnElement[bool]:
    """A WHERE clause on ``tickets``: not snoozed (the open views use it)."""
    return ~sa.exists().where(snoozes_t.c.ticket_id == tickets.c.id)


async def time_entries(conn: AsyncConnection, ticket_id: int) -> list[dict[str, Any]]:
    rows = await conn.execute(
        sa.select(time_t.c.id, time_t.c.user_id, time_t.c.minutes, time_t.c.note, time_t.c.created_at)
        .where(time_t.c.ticket_id == ticket_id)
        .order_by(time_t.c.id)
    )
    return [dict(r) for r in rows.mappings()]


async def time_report(
    conn: AsyncConnection,
    actor: Principal,
    *,
    by: str,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[dict[str, Any]]:
    """Logged minutes summed ``by`` agent (``user_id``) or ticket (``ticket_id``), over the tickets
    the actor may see in their workspace; agents and admins only."""
    if not actor.can_edit_tickets:
        raise Forbidden("only agents and admins read time reports")
    if by not in ("agent", "ticket"):
        raise Invalid("by", "agent or ticket")
    key = time_t.c.user_id if by == "agent" else time_t.c.ticket_id
    q = (
        sa.select(
            key.label("key"), sa.func.sum(time_t.c.minutes).label("minutes"), sa.func.count().label("entries")
        )
        .select_from(time_t.join(tickets, tickets.c.id == time_t.c.ticket_id))
        .where(time_t.c.workspace_id == actor.workspace_id, visible(actor))
        .group_by(key)
        .order_by(sa.func.sum(time_t.c.minutes).desc(), key)
    )
    if since is not None:
        q = q.where(time_t.c.created_at >= since)
    if until is not None:
        q = q.where(time_t.c.created_at < until)
    return [
        {
            "user_id" if by == "agent" else "ticket_id": r.key,
            "minutes": int(r.minutes),
            "entries": int(r.entries),
        }
        for r in await conn.execute(q)
    ]
