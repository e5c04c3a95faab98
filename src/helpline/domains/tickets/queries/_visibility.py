"""Who may see which ticket: the WHERE clause for lists and the check for one loaded row."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from helpline.domains.accounts.principal import Principal
from helpline.domains.tickets.queries._tables import ccs, tickets


def visible(actor: Principal) -> sa.ColumnElement[bool]:
    """The tickets ``actor`` may see, as a WHERE clause on ``tickets``."""
    in_ws = tickets.c.workspace_id == actor.workspace_id
    if actor.is_admin:
        return in_ws
    if actor.is_staff:
        reach: list[sa.ColumnElement[bool]] = [
            tickets.c.group_id.is_(None),
            tickets.c.assignee_id == actor.user_id,
        ]
        if actor.group_ids:
            reach.append(tickets.c.group_id.in_(sorted(actor.group_ids)))
        return sa.and_(in_ws, sa.or_(*reach))
    if actor.contact_id is None:
        return sa.false()
    reach = [
        tickets.c.requester_id == actor.contact_id,
        tickets.c.id.in_(sa.select(ccs.c.ticket_id).where(ccs.c.contact_id == actor.contact_id)),
    ]
    if actor.shared_organization_id is not None:
        reach.append(tickets.c.organization_id == actor.shared_organization_id)
    return sa.and_(in_ws, sa.or_(*reach))


def _actor_kind(actor: Principal) -> str:
    if actor.is_admin:
        return "admin"
    if actor.is_staff:
        return "staff+groups" if actor.group_ids else "staff"
    if actor.contact_id is None:
        return "nobody"
    return "customer+org" if actor.shared_organization_id is not None else "customer"


def _visible_template(kind: str) -> sa.ColumnElement[bool]:
    """:func:`visible` for every actor of one kind (see :func:`_actor_kind`), with bound parameters
    (:func:`_visible_params`) instead of values, so a statement built on it can be built once."""
    in_ws = tickets.c.workspace_id == sa.bindparam("v_ws")
    if kind == "admin":
        return in_ws
    if kind in ("staff", "staff+groups"):
        reach: list[sa.ColumnElement[bool]] = [
            tickets.c.group_id.is_(None),
            tickets.c.assignee_id == sa.bindparam("v_uid"),
        ]
        if kind == "staff+groups":
            reach.append(tickets.c.group_id.in_(sa.bindparam("v_gids", expanding=True)))
        return sa.and_(in_ws, sa.or_(*reach))
    if kind == "nobody":
        return sa.false()
    reach = [
        tickets.c.requester_id == sa.bindparam("v_cid"),
        tickets.c.id.in_(sa.select(ccs.c.ticket_id).where(ccs.c.contact_id == sa.bindparam("v_cid"))),
    ]
    if kind == "customer+org":
        reach.append(tickets.c.organization_id == sa.bindparam("v_org"))
    return sa.and_(in_ws, sa.or_(*reach))


def _visible_params(actor: Principal) -> dict[str, Any]:
    return {
        "v_ws": actor.workspace_id,
        "v_uid": actor.user_id,
        "v_gids": sorted(actor.group_ids),
        "v_cid": actor.contact_id,
        "v_org": actor.shared_organization_id,
    }


#: Statements built once per shape (dialect, kind of actor, filters present, …) and reused: building
#: a SQLAlchemy statement costs more Python than running it. Values go in as parameters.
_STATEMENTS: dict[tuple[Any, ...], Any] = {}


def _statement(shape: tuple[Any, ...], build: Any) -> Any:
    stmt = _STATEMENTS.get(shape)
    if stmt is None:
        if len(_STATEMENTS) > 2000:
            _STATEMENTS.clear()
        stmt = _STATEMENTS[shape] = build()
    return stmt


def visible_row(
    actor: Principal, row: dict[str, Any], cc_contact_ids: list[int] | tuple[int, ...] = ()
) -> bool:
    """:func:`visible` for a ticket already in memory (``cc_contact_ids``: its CCs)."""
    if row["workspace_id"] != actor.workspace_id:
        return False
    if actor.is_admin:
        return True
    if actor.is_staff:
        return (
            row["group_id"] is None
            or row["assignee_id"] == actor.user_id
            or row["group_id"] in actor.group_ids
        )
    if actor.contact_id is None:
        return False
    return (
        row["requester_id"] == actor.contact_id
        or actor.contact_id in cc_contact_ids
        or (
            actor.shared_organization_id is not None
            and row["organization_id"] == actor.shared_organization_id
        )
    )
