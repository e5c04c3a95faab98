"""Ticket lists by SLA: the "next breach" sort and the "at risk" / "breached" filters, read from
each ticket's one ``ticket_sla`` row (its soonest running due time, its soonest warning, whether a
target is breached) joined on the ticket and the workspace, so PostgreSQL walks (workspace_id,
next_due_at) instead of reading every clock."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from helpline.domains.accounts.principal import Principal
from helpline.domains.automation.models import TicketSlaSummary
from helpline.domains.tickets.queries._detail import _extra
from helpline.domains.tickets.queries._tables import tags, tickets
from helpline.errors import Forbidden, Invalid
from helpline.platform import search

sla_t = TicketSlaSummary.__table__
#: The sort by the soonest running due time: soonest first, tickets with none last.
NEXT_BREACH = "next_breach"
#: The SLA filters: ``at_risk`` (a warning has come, the target is not missed yet) and ``breached``.
SLA_FILTERS = ("at_risk", "breached")


def _sla_where(which: str, values: dict[str, Any] | None = None) -> sa.ColumnElement[bool]:
    """Tickets of the workspace (``:v_ws``) whose SLA row is ``which`` at ``:sla_now`` (bound to
    ``values`` when given)."""

    def param(name: str, **kw: Any) -> sa.BindParameter[Any]:
        return sa.bindparam(name, values[name], **kw) if values else sa.bindparam(name, **kw)

    now = param("sla_now", type_=sla_t.c.next_due_at.type)
    if which == "breached":
        cond = sa.or_(sla_t.c.next_due_at <= now, sla_t.c.breached.is_(True))
    else:
        cond = sa.and_(sla_t.c.next_warn_at <= now, sla_t.c.next_due_at > now, sla_t.c.breached.is_(False))
    return tickets.c.id.in_(sa.select(sla_t.c.ticket_id).where(sla_t.c.workspace_id == param("v_ws"), cond))


def sla_condition(workspace_id: int, which: str, now: datetime) -> sa.ColumnElement[bool]:
    """:func:`_sla_where` with its values bound (a count of a view that holds the filter)."""
    return _sla_where(which, {"v_ws": workspace_id, "sla_now": now})


def _null_last_order(col: Any, id_col: Any, desc: bool) -> list[sa.ColumnElement[Any]]:
    """Soonest first with no due time last; the reverse (for a page backwards) exactly mirrored."""
    if desc:
        return [col.desc().nulls_first(), id_col.desc()]
    return [col.asc().nulls_last(), id_col.asc()]


def _null_last_after(col: Any, desc: bool, has_value: bool) -> sa.ColumnElement[bool]:
    """The rows after a cursor (``:k_val``, ``:k_id``) in :func:`_null_last_order`'s order."""
    last_id = sa.bindparam("k_id", type_=tickets.c.id.type)
    if not has_value:  # the cursor stopped among the tickets without a due time
        if desc:
            return sa.or_(col.is_not(None), sa.and_(col.is_(None), tickets.c.id < last_id))
        return sa.and_(col.is_(None), tickets.c.id > last_id)
    value = sa.bindparam("k_val", type_=sla_t.c.next_due_at.type)
    if desc:
        return sa.or_(col < value, sa.and_(col == value, tickets.c.id < last_id))
    return sa.or_(col > value, sa.and_(col == value, tickets.c.id > last_id), col.is_(None))


def _build_next_breach(
    dialect: str,
    where: list[sa.ColumnElement[bool]],
    n_tags: int,
    search_mode: str | None,
    customer: bool,
    desc: bool,
    has_cursor: bool,
    cursor_has_value: bool,
    n: int,
    lean: bool,
) -> sa.Select[Any]:
    """The list sorted by the soonest running due time (:data:`NEXT_BREACH`): the tickets joined to
    their ``ticket_sla`` row in the same workspace, so the sort walks its (workspace_id, next_due_at)
    index; tags and words narrow it as plain conditions."""
    due = sla_t.c.next_due_at
    cond = list(where)
    if has_cursor:
        cond.append(_null_last_after(due, desc, cursor_has_value))
    for i in range(n_tags):
        cond.append(
            tickets.c.id.in_(
                sa.select(tags.c.ticket_id).where(
                    tags.c.workspace_id == sa.bindparam("v_ws"), tags.c.tag == sa.bindparam(f"tag{i}")
                )
            )
        )
    if search_mode is not None:
        cond.append(tickets.c.id.in_(search.matching_ids_template(dialect, public_only=customer)))
    joined = tickets.outerjoin(
        sla_t, sa.and_(sla_t.c.ticket_id == tickets.c.id, sla_t.c.workspace_id == sa.bindparam("v_ws"))
    )
    u = (
        sa.select(tickets, due.label(NEXT_BREACH))
        .select_from(joined)
        .where(*cond)
        .order_by(*_null_last_order(due, tickets.c.id, desc))
        .limit(n)
        .subquery("u")
    )
    order = _null_last_order(u.c[NEXT_BREACH], u.c.id, desc)
    if lean:
        return sa.select(u.c.id, u.c.subject).order_by(*order).limit(n)
    return sa.select(u, _extra(dialect, "_tags", "u.id")).order_by(*order).limit(n)


def _sla_params(actor: Principal, filters: dict[str, Any], sort: str) -> str | None:
    """The SLA filter asked for (checked), refused to customers with the sort by next breach."""
    sla = filters.get("sla") or None
    if sla is not None and sla not in SLA_FILTERS:
        raise Invalid("sla", f"one of {', '.join(SLA_FILTERS)}")
    if actor.is_customer:
        for field, asked in (("sla", sla is not None), ("sort", sort.lstrip("-") == NEXT_BREACH)):
            if asked:
                raise Forbidden(
                    f"{field}: SLA targets are for staff", errors=[{"field": field, "message": "not allowed"}]
                )
    return str(sla) if sla is not None else None
