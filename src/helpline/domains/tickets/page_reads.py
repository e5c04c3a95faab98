"""Reads the console's ticket pages share: built-in and saved views, the inbox's filters and counts,
display names of people, contacts and agents."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.db.base import utcnow
from helpline.domains.accounts.models import Group, Membership, User
from helpline.domains.accounts.principal import Principal
from helpline.domains.automation.models import TicketSlaSummary
from helpline.domains.tickets import queries
from helpline.domains.tickets.models import Priority, SavedView, Status, Ticket

tickets, views_t = Ticket.__table__, SavedView.__table__
users, members, groups = User.__table__, Membership.__table__, Group.__table__
UNRESOLVED = [Status.new.value, Status.open.value, Status.pending.value, Status.on_hold.value]
COUNT_CAP = 1000
#: Seconds after which an agent's view counts are recounted in the background (see view_counts).
COUNTS_TTL = 10
#: Filters a saved view may hold, and the query parameters of the inbox that set them.
FILTER_KEYS = ("status", "priority", "assignee_id", "group_id", "tag", "unassigned", "q", "sort", "sla")


def builtin_views(actor: Principal, group_names: dict[int, str]) -> list[dict[str, Any]]:
    out = [
        {
            "key": "mine",
            "name": "My open tickets",
            "filters": {"assignee_id": [actor.user_id], "status": UNRESOLVED, "awake": True},
        },
        {
            "key": "unassigned",
            "name": "Unassigned",
            "filters": {"unassigned": True, "status": UNRESOLVED, "awake": True},
        },
    ]
    for gid, name in sorted(group_names.items(), key=lambda g: g[1].lower()):
        out.append(
            {
                "key": f"group:{gid}",
                "name": f"{name} queue",
                "filters": {"group_id": [gid], "status": UNRESOLVED, "awake": True},
            }
        )
    out += [
        {"key": "snoozed", "name": "Snoozed", "filters": {"snoozed": True, "status": UNRESOLVED}},
        {"key": "all", "name": "All tickets", "filters": {}},
        {"key": "recent", "name": "Recently updated", "filters": {}, "sort": "-updated_at"},
    ]
    return out


async def groups_for(conn: AsyncConnection, actor: Principal, *, all_groups: bool = False) -> dict[int, str]:
    """The workspace's groups by id: the actor's own (every one for admins), or all with ``all_groups``
    (for choosing a ticket's group)."""
    q = sa.select(groups.c.id, groups.c.name).where(groups.c.workspace_id == actor.workspace_id)
    if not actor.is_admin and not all_groups:
        q = q.where(groups.c.id.in_(list(actor.group_ids) or [0]))
    return {r.id: r.name for r in await conn.execute(q)}


async def _saved_views(conn: AsyncConnection, actor: Principal) -> list[dict[str, Any]]:
    shared = views_t.c.group_id.in_(list(actor.group_ids) or [0])
    rows = await conn.execute(
        sa.select(views_t)
        .where(
            views_t.c.workspace_id == actor.workspace_id, sa.or_(views_t.c.owner_id == actor.user_id, shared)
        )
        .order_by(views_t.c.name)
    )
    return [
        {
            "key": f"saved:{r.id}",
            "id": r.id,
            "name": r.name,
            "filters": dict(r.filters or {}),
            "sort": (r.filters or {}).get("sort"),
            "mine": r.owner_id == actor.user_id,
            "group_id": r.group_id,
        }
        for r in rows.mappings()
    ]


def _where(actor: Principal, f: dict[str, Any]) -> list[sa.ColumnElement[bool]]:
    where = [queries.visible(actor)]
    for key in ("status", "priority", "assignee_id", "group_id"):
        if f.get(key):
            where.append(tickets.c[key].in_(f[key]))
    if f.get("unassigned"):
        where.append(tickets.c.assignee_id.is_(None))
    if f.get("awake") or f.get("snoozed"):
        where.append(queries.awake() if f.get("awake") else ~queries.awake())
    if f.get("sla") in queries.SLA_FILTERS:
        where.append(queries.sla_condition(actor.workspace_id, f["sla"], utcnow()))
    return where


async def count(conn: AsyncConnection, actor: Principal, f: dict[str, Any]) -> int:
    """How many tickets a view holds, counted up to :data:`COUNT_CAP` (shown as "1000+")."""
    if f.get("q") or f.get("tags"):
        return -1
    inner = (
        sa.select(sa.literal(1)).select_from(tickets).where(*_where(actor, f)).limit(COUNT_CAP + 1).subquery()
    )
    return int((await conn.execute(sa.select(sa.func.count()).select_from(inner))).scalar_one())


async def view_counts(
    platform: Any, conn: AsyncConnection, actor: Principal, views: list[dict[str, Any]]
) -> dict[str, int]:
    """Counts of every view of an agent, served stale-while-revalidate: counts older than
    :data:`COUNTS_TTL` seconds are shown once more while a background task recounts them, so a page
    never waits on a dozen counts unless it has none at all. The ticket list itself is always fresh."""
    key = _counts_key(actor)
    keys = [v["key"] for v in views if v["key"] != "recent"]
    (raw,) = await platform.cache.get_many([key])
    cached = json.loads(raw) if raw is not None else None
    if cached is not None and set(cached["counts"]) == set(keys):
        if time.time() - cached["at"] > COUNTS_TTL and key not in _RECOUNTING:
            _RECOUNTING.add(key)
            task = asyncio.create_task(_recount(platform, actor, views, keys, key))
            task.add_done_callback(lambda _t: _RECOUNTING.discard(key))
        return {k: int(v) for k, v in cached["counts"].items()}
    return await _count_all(platform, conn, actor, views, keys, key)


_RECOUNTING: set[str] = set()


async def _count_all(
    platform: Any,
    conn: AsyncConnection,
    actor: Principal,
    views: list[dict[str, Any]],
    keys: list[str],
    key: str,
) -> dict[str, int]:
    counts = {v["key"]: await count(conn, actor, v["filters"]) for v in views if v["key"] in keys}
    await platform.cache.set(key, json.dumps({"at": time.time(), "counts": counts}).encode(), 3600)
    return counts


async def forget_counts(platform: Any, actor: Principal) -> None:
    """Drop the agent's cached view counts, after a write of their own (a bulk action, a ticket's
    properties, a merge): the next page counts afresh instead of showing counts from before it."""
    await platform.cache.delete(_counts_key(actor))


def _counts_key(actor: Principal) -> str:
    return f"inbox:counts:{actor.workspace_id}:{actor.user_id}"


async def _recount(
    platform: Any, actor: Principal, views: list[dict[str, Any]], keys: list[str], key: str
) -> None:
    async with platform.db.read() as conn:
        await _count_all(platform, conn, actor, views, keys, key)


def _ints(values: list[str]) -> list[int]:
    return [int(v) for v in values if v.isdigit() and 0 < int(v) < 2**63]


def filters_from(qp: Any) -> dict[str, Any]:
    """The list filters among query parameters ``qp`` (anything with ``get`` and ``getlist``)."""
    return {
        "status": [s for s in qp.getlist("status") if s in {x.value for x in Status}],
        "priority": [p for p in qp.getlist("priority") if p in {x.value for x in Priority}],
        "assignee_id": _ints(qp.getlist("assignee_id")),
        "group_id": _ints(qp.getlist("group_id")),
        "tags": [t[:80] for t in qp.getlist("tag") if t.strip()][:5],
        "unassigned": qp.get("unassigned") in ("1", "true", "on"),
        "q": (qp.get("q") or "").strip()[:500] or None,
        "sla": qp.get("sla") if qp.get("sla") in queries.SLA_FILTERS else None,
    }


async def people_names(conn: AsyncConnection, actor: Principal, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await conn.execute(
        sa.select(users.c.id, users.c.name, users.c.email).where(users.c.id.in_(list(ids)))
    )
    return {r.id: r.name or r.email for r in rows}


async def requester_names(conn: AsyncConnection, ids: set[int]) -> dict[int, str]:
    """Display names of contacts: their name, else their first email address."""
    from helpline.domains.customers.models import Contact, ContactIdentity

    contacts, idents = Contact.__table__, ContactIdentity.__table__
    if not ids:
        return {}
    rows = await conn.execute(sa.select(contacts.c.id, contacts.c.name).where(contacts.c.id.in_(list(ids))))
    names = {r.id: r.name for r in rows}
    missing = [i for i, n in names.items() if not n]
    if missing:
        for r in await conn.execute(
            sa.select(idents.c.contact_id, idents.c.value)
            .where(idents.c.contact_id.in_(missing))
            .order_by(idents.c.id)
        ):
            names[r.contact_id] = names[r.contact_id] or r.value
    return {i: n or f"Contact #{i}" for i, n in names.items()}


async def agents_of(conn: AsyncConnection, actor: Principal) -> list[tuple[int, str]]:
    rows = await conn.execute(
        sa.select(users.c.id, users.c.name, users.c.email)
        .join(members, members.c.user_id == users.c.id)
        .where(
            members.c.workspace_id == actor.workspace_id,
            members.c.role.in_(["admin", "agent"]),
            users.c.is_active.is_(True),
        )
        .order_by(users.c.name)
    )
    return [(r.id, r.name or r.email) for r in rows]


async def next_breaches(conn: AsyncConnection, actor: Principal, ids: list[int]) -> dict[int, dict[str, Any]]:
    """The SLA of each listed ticket as its ``ticket_sla`` row says (one read for the page, staff
    only): ``next_due_at``, ``next_warn_at`` and ``breached``; tickets without one are left out."""
    sla = TicketSlaSummary.__table__
    if not ids or actor.is_customer:
        return {}
    rows = await conn.execute(
        sa.select(sla.c.ticket_id, sla.c.next_due_at, sla.c.next_warn_at, sla.c.breached).where(
            sla.c.ticket_id.in_(ids), sla.c.workspace_id == actor.workspace_id
        )
    )
    return {r.ticket_id: dict(r._mapping) for r in rows if r.next_due_at is not None or r.breached}
