"""Reads the portal needs besides the tickets domain's permission-checked ones: the workspace a portal
URL names, a user's role in it, and the display names of a conversation's authors."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.domains.accounts.models import Membership, User, Workspace
from helpline.domains.customers.models import Contact, Organization

workspaces, users, members = Workspace.__table__, User.__table__, Membership.__table__
contacts, orgs = Contact.__table__, Organization.__table__


async def workspace_by_slug(conn: AsyncConnection, slug: str) -> dict[str, Any] | None:
    if not slug or len(slug) > 64:
        return None
    row = (
        (
            await conn.execute(
                sa.select(workspaces.c.id, workspaces.c.slug, workspaces.c.name).where(
                    workspaces.c.slug == slug,
                    workspaces.c.disabled_at.is_(None),  # a disabled workspace has no public pages
                )
            )
        )
        .mappings()
        .first()
    )
    return None if row is None else dict(row)


async def workspace_slug(conn: AsyncConnection, workspace_id: int) -> str | None:
    return (await conn.execute(sa.select(workspaces.c.slug).where(workspaces.c.id == workspace_id))).scalar()


async def member_role(conn: AsyncConnection, user_id: int, workspace_id: int) -> str | None:
    """The user's role in the workspace, or None when they are not a member."""
    return (
        await conn.execute(
            sa.select(members.c.role).where(
                members.c.user_id == user_id, members.c.workspace_id == workspace_id
            )
        )
    ).scalar()


async def totp_enabled(conn: AsyncConnection, user_id: int) -> bool:
    return bool((await conn.execute(sa.select(users.c.totp_enabled).where(users.c.id == user_id))).scalar())


async def author_names(
    conn: AsyncConnection, workspace_id: int, messages: list[dict[str, Any]]
) -> dict[str, str]:
    """``{"u<id>": name, "c<id>": name}`` for the agents and contacts who wrote ``messages`` (members and
    contacts of ``workspace_id`` only)."""
    user_ids = sorted(
        {m["author_user_id"] for m in messages if m["author_kind"] == "agent" and m["author_user_id"]}
    )
    contact_ids = sorted({m["author_contact_id"] for m in messages if m["author_contact_id"]})
    names: dict[str, str] = {}
    if user_ids:
        rows = await conn.execute(
            sa.select(users.c.id, users.c.name)
            .join(members, members.c.user_id == users.c.id)
            .where(users.c.id.in_(user_ids), members.c.workspace_id == workspace_id)
        )
        names.update({f"u{i}": str(n) for i, n in rows})
    if contact_ids:
        rows = await conn.execute(
            sa.select(contacts.c.id, contacts.c.name).where(
                contacts.c.id.in_(contact_ids), contacts.c.workspace_id == workspace_id
            )
        )
        names.update({f"c{i}": str(n) for i, n in rows})
    return names


async def contact_names(conn: AsyncConnection, workspace_id: int, contact_ids: list[int]) -> dict[int, str]:
    ids = sorted(set(contact_ids))
    if not ids:
        return {}
    rows = await conn.execute(
        sa.select(contacts.c.id, contacts.c.name).where(
            contacts.c.id.in_(ids), contacts.c.workspace_id == workspace_id
        )
    )
    return {int(str(i)): str(n) for i, n in rows}


async def organization_name(conn: AsyncConnection, organization_id: int | None) -> str | None:
    if organization_id is None:
        return None
    return (await conn.execute(sa.select(orgs.c.name).where(orgs.c.id == organization_id))).scalar()
