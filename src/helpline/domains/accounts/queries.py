"""Permission-checked reads of the accounts domain, and turning credentials into a Principal."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.db.base import utcnow
from helpline.domains.accounts.models import (
    ApiToken,
    Group,
    GroupMember,
    Membership,
    Role,
    User,
    WebSession,
    Workspace,
)
from helpline.domains.accounts.principal import Principal
from helpline.domains.customers.models import Contact, Organization
from helpline.errors import Forbidden, NotFound

tokens = ApiToken.__table__
users = User.__table__
members = Membership.__table__
groups = Group.__table__
group_members = GroupMember.__table__
sessions = WebSession.__table__
workspaces = Workspace.__table__
contacts = Contact.__table__
orgs = Organization.__table__


def _group_ids_column(conn: AsyncConnection) -> sa.ColumnElement[object]:
    """The principal's group ids in its workspace, as one comma-separated string (one statement, not two)."""
    gid = (
        sa.cast(group_members.c.group_id, sa.String)
        if conn.dialect.name == "postgresql"
        else group_members.c.group_id
    )
    return (
        sa.select(sa.func.aggregate_strings(gid, ","))
        .select_from(group_members.join(groups, groups.c.id == group_members.c.group_id))
        .where(group_members.c.user_id == users.c.id, groups.c.workspace_id == members.c.workspace_id)
        .scalar_subquery()
    )


def _principal_select(
    conn: AsyncConnection, *extra_cols: sa.ColumnElement[object]
) -> sa.Select[*tuple[Any, ...]]:
    return (
        sa.select(
            users.c.id,
            members.c.workspace_id,
            members.c.role,
            users.c.email,
            users.c.name,
            members.c.contact_id,
            sa.case((orgs.c.shared_tickets, orgs.c.id), else_=None),
            _group_ids_column(conn),
            users.c.is_operator,
            users.c.timezone,
            *extra_cols,
        )
        .select_from(
            members.join(users, users.c.id == members.c.user_id)
            .join(workspaces, workspaces.c.id == members.c.workspace_id)
            .outerjoin(contacts, contacts.c.id == members.c.contact_id)
            .outerjoin(orgs, orgs.c.id == contacts.c.organization_id)
        )
        # The person, their membership here and the workspace must all be on.
        .where(
            users.c.is_active.is_(True),
            members.c.is_active.is_(True),
            workspaces.c.disabled_at.is_(None),
        )
    )


def _principal(base: list[Any], **ids: int) -> Principal:
    """A Principal from the leading columns of :func:`_principal_select`."""
    user_id, ws_id, role, email, name, contact_id, shared_org, group_csv, operator, tz = base
    return Principal(
        user_id=user_id,
        workspace_id=ws_id,
        role=Role(role),
        email=email,
        name=name,
        contact_id=contact_id,
        shared_organization_id=shared_org,
        group_ids=frozenset(int(g) for g in group_csv.split(",")) if group_csv else frozenset(),
        is_operator=bool(operator),
        timezone=tz,
        **ids,
    )


async def principal_for_token(conn: AsyncConnection, token_hash: str) -> tuple[Principal, object] | None:
    """The principal behind a bearer token that is neither revoked nor expired, with its last use."""
    found = await token_principal(conn, token_hash)
    return None if found is None else (found[0], found[1])


async def token_principal(conn: AsyncConnection, token_hash: str) -> tuple[Principal, object, object] | None:
    """Like :func:`principal_for_token`, with the token's expiry time too (for caching it no longer)."""
    now = utcnow()
    row = (
        await conn.execute(
            _principal_select(conn, tokens.c.id, tokens.c.last_used_at, tokens.c.expires_at)
            .join(
                tokens,
                sa.and_(tokens.c.user_id == users.c.id, tokens.c.workspace_id == members.c.workspace_id),
            )
            .where(
                tokens.c.token_hash == token_hash,
                tokens.c.revoked_at.is_(None),
                sa.or_(tokens.c.expires_at.is_(None), tokens.c.expires_at > now),
            )
        )
    ).first()
    if row is None:
        return None
    values: Sequence[Any] = row  # _principal_select's columns, then the token's
    *base, token_id, last_used, expires_at = values
    return _principal(base, token_id=token_id), last_used, expires_at


async def principal_for_session(conn: AsyncConnection, token_hash: str) -> tuple[Principal, str] | None:
    """The principal of a live web session, with the session's CSRF token."""
    found = await session_principal(conn, token_hash)
    return None if found is None else (found[0], found[1])


async def session_principal(conn: AsyncConnection, token_hash: str) -> tuple[Principal, str, object] | None:
    """Like :func:`principal_for_session`, with the session's expiry time too."""
    now = utcnow()
    row = (
        await conn.execute(
            _principal_select(conn, sessions.c.id, sessions.c.csrf_token, sessions.c.expires_at)
            .join(
                sessions,
                sa.and_(sessions.c.user_id == users.c.id, sessions.c.workspace_id == members.c.workspace_id),
            )
            .where(
                sessions.c.token_hash == token_hash,
                sessions.c.revoked_at.is_(None),
                sessions.c.expires_at > now,
            )
        )
    ).first()
    if row is None:
        return None
    values: Sequence[Any] = row  # _principal_select's columns, then the session's
    *base, session_id, csrf, expires_at = values
    return _principal(base, session_id=session_id), csrf, expires_at


def stale(last_used: object) -> bool:
    """Whether a token's last-use time is old enough to be worth writing again."""
    return last_used is None or (utcnow() - last_used) > timedelta(minutes=10)  # type: ignore[operator]


def require_admin(actor: Principal) -> None:
    if not actor.is_admin:
        raise Forbidden("only an admin may do this")


def require_staff(actor: Principal) -> None:
    if not actor.is_staff:
        raise Forbidden("customers may not do this")


async def access_user(conn: AsyncConnection, actor: Principal, user_id: int) -> sa.Row[tuple[object, ...]]:
    """A member of the actor's workspace. Customers may see only themselves; staff see all members."""
    if actor.is_customer and user_id != actor.user_id:
        raise NotFound(f"user {user_id} not found")
    row = (
        await conn.execute(
            sa.select(
                users.c.id,
                users.c.email,
                users.c.name,
                members.c.role,
                members.c.is_active,
                users.c.totp_enabled,
                users.c.created_at,
                members.c.contact_id,
            )
            .join(members, members.c.user_id == users.c.id)
            .where(users.c.id == user_id, members.c.workspace_id == actor.workspace_id)
        )
    ).first()
    if row is None:
        raise NotFound(f"user {user_id} not found")
    return row


async def access_group(conn: AsyncConnection, actor: Principal, group_id: int) -> sa.Row[tuple[object, ...]]:
    require_staff(actor)
    row = (
        await conn.execute(
            sa.select(groups).where(groups.c.id == group_id, groups.c.workspace_id == actor.workspace_id)
        )
    ).first()
    if row is None:
        raise NotFound(f"group {group_id} not found")
    return row


async def workspace_counts(conn: AsyncConnection, workspace_id: int) -> dict[str, Any]:
    """The admin index's figures, counted by the database: ``by_role`` (members per role), ``groups``,
    ``tokens`` (API tokens not revoked)."""
    by_role = {
        role: n
        for role, n in await conn.execute(
            sa.select(members.c.role, sa.func.count())
            .where(members.c.workspace_id == workspace_id)
            .group_by(members.c.role)
        )
    }
    n_groups, n_tokens = (
        await conn.execute(
            sa.select(
                sa.select(sa.func.count()).where(groups.c.workspace_id == workspace_id).scalar_subquery(),
                sa.select(sa.func.count())
                .where(tokens.c.workspace_id == workspace_id, tokens.c.revoked_at.is_(None))
                .scalar_subquery(),
            )
        )
    ).one()
    return {"by_role": by_role, "groups": n_groups, "tokens": n_tokens}
