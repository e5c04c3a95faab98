"""Permission-checked reads of the automation domain: canned responses.

A canned response with no group is for every agent of the workspace; one with a group only for that
group's members. Admins see them all. Customers see none.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.domains.accounts.models import Group
from helpline.domains.accounts.principal import Principal
from helpline.domains.automation.models import CannedResponse
from helpline.errors import NotFound

canned: sa.Table = CannedResponse.__table__
groups: sa.Table = Group.__table__


def canned_visible(actor: Principal) -> sa.ColumnElement[bool]:
    """The canned responses ``actor`` may use, as a WHERE clause on ``canned_responses``."""
    in_ws = canned.c.workspace_id == actor.workspace_id
    if actor.is_admin:
        return in_ws
    if not actor.is_staff:
        return sa.false()
    reach: list[sa.ColumnElement[bool]] = [canned.c.group_id.is_(None)]
    if actor.group_ids:
        reach.append(canned.c.group_id.in_(sorted(actor.group_ids)))
    return sa.and_(in_ws, sa.or_(*reach))


async def canned_for(conn: AsyncConnection, actor: Principal) -> list[dict[str, Any]]:
    """The canned responses ``actor`` may insert into a reply, by title: ``[{id, title, body}]``.

    ``body`` is the template as saved; fill it with :func:`helpline.domains.automation.render.fill`.
    """
    rows = await conn.execute(
        sa.select(canned.c.id, canned.c.title, canned.c.body)
        .where(canned_visible(actor))
        .order_by(canned.c.title, canned.c.id)
    )
    return [dict(r) for r in rows.mappings()]


async def list_canned(conn: AsyncConnection, actor: Principal) -> list[dict[str, Any]]:
    """Every canned response ``actor`` may see, with its group's name, by title (the admin list)."""
    rows = await conn.execute(
        sa.select(canned, groups.c.name.label("group_name"))
        .select_from(canned.outerjoin(groups, groups.c.id == canned.c.group_id))
        .where(canned_visible(actor))
        .order_by(canned.c.title, canned.c.id)
    )
    return [dict(r) for r in rows.mappings()]


async def access_canned(conn: AsyncConnection, actor: Principal, canned_id: int) -> dict[str, Any]:
    """One canned response ``actor`` may see; any other answers 404 like one that does not exist."""
    row = (
        (await conn.execute(sa.select(canned).where(canned.c.id == canned_id, canned_visible(actor))))
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"canned response {canned_id} not found")
    return dict(row)
