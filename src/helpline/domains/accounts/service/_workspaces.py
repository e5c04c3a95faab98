"""What only the instance operator does: workspaces (create, list, disable) and turning a person off
on the whole instance. The command line (``helpline workspaces …``, ``helpline users disable``) runs
these with no principal (the operator at the machine); the API requires ``Principal.is_operator``."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.db.base import utcnow
from helpline.domains.accounts import audit
from helpline.domains.accounts.models import Role
from helpline.domains.accounts.principal import Principal
from helpline.domains.accounts.service._common import members, normalise_email, tokens, users, workspaces
from helpline.domains.accounts.service._invitations import invite
from helpline.domains.accounts.service._people import create_user, create_workspace
from helpline.domains.accounts.service._signin import end_sessions
from helpline.errors import Forbidden, Invalid, NotFound
from helpline.platform.db import UnitOfWork

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


def require_operator(actor: Principal | None) -> None:
    """``None`` is the operator at the machine (the CLI)."""
    if actor is not None and not actor.is_operator:
        raise Forbidden("only the instance operator may manage workspaces")


async def list_workspaces(conn: AsyncConnection) -> list[dict[str, Any]]:
    staff = (
        sa.select(sa.func.count())
        .where(members.c.workspace_id == workspaces.c.id, members.c.role != Role.customer.value)
        .scalar_subquery()
    )
    rows = await conn.execute(
        sa.select(
            workspaces.c.id,
            workspaces.c.slug,
            workspaces.c.name,
            workspaces.c.created_at,
            workspaces.c.disabled_at,
            staff.label("staff"),
        ).order_by(workspaces.c.id)
    )
    return [dict(r) for r in rows.mappings()]


async def do_create_workspace(
    uow: UnitOfWork,
    actor: Principal | None,
    *,
    name: str,
    slug: str | None,
    admin_email: str | None,
    admin_name: str = "",
    admin_password: str | None = None,
    base_url: str,
) -> tuple[int, int | None, bool]:
    """A new workspace and, when ``admin_email`` is given, its first admin: a new account (with
    ``admin_password``) joins at once, an existing one is invited. Returns (workspace id, admin user id,
    whether they were invited)."""
    require_operator(actor)
    name = name.strip()
    if not name or len(name) > 200:
        raise Invalid("name", "give the workspace a name of at most 200 characters")
    if slug is not None and not SLUG.match(slug):
        raise Invalid("slug", "use 1-64 lower-case letters, digits and inner hyphens, e.g. acme-support")
    ws = await create_workspace(uow, name, slug)
    await audit.record(
        uow,
        "workspace.created",
        workspace_id=None,
        actor=actor,
        target_type="workspace",
        target_id=ws,
        detail={"name": name},
    )
    if not admin_email:
        return ws, None, False
    email = normalise_email(admin_email)
    existing = (await uow.execute(sa.select(users.c.id).where(users.c.email == email))).scalar()
    if existing is None:
        user_id = await create_user(
            uow,
            ws,
            email=email,
            role=Role.admin,
            name=admin_name,
            password=admin_password,
            password_by_admin=True,
        )
        return ws, user_id, False
    await invite(
        uow, ws, int(existing), inviter=actor, email=email, role=Role.admin, group_ids=[], base_url=base_url
    )
    return ws, int(existing), True


async def set_workspace_disabled(
    uow: UnitOfWork, actor: Principal | None, workspace_id: int, disabled: bool
) -> None:
    """Disable (nobody signs in; every session and token stops at once) or enable a workspace. An
    operator cannot disable the workspace they are acting in (they would lock themselves out)."""
    require_operator(actor)
    row = (
        await uow.execute(sa.select(workspaces.c.disabled_at).where(workspaces.c.id == workspace_id))
    ).first()
    if row is None:
        raise NotFound(f"workspace {workspace_id} not found")
    if disabled and actor is not None and actor.workspace_id == workspace_id:
        raise Invalid(
            "disabled", "you are signed in to this workspace; disable it from another one or the CLI"
        )
    if (row.disabled_at is not None) == disabled:
        return
    await uow.execute(
        workspaces.update()
        .where(workspaces.c.id == workspace_id)
        .values(disabled_at=utcnow() if disabled else None)
    )
    await audit.record(
        uow,
        "workspace.disabled" if disabled else "workspace.enabled",
        workspace_id=None,
        actor=actor,
        target_type="workspace",
        target_id=workspace_id,
    )


async def workspace_id_by_slug(conn: AsyncConnection | UnitOfWork, slug: str) -> int:
    row = (await conn.execute(sa.select(workspaces.c.id).where(workspaces.c.slug == slug))).first()
    if row is None:
        raise NotFound(f"no workspace {slug!r}; `helpline workspaces list` shows them")
    return int(row[0])


async def set_user_active(uow: UnitOfWork, email: str, active: bool) -> int:
    """The operator turns a person off (or on) everywhere: every session and token ends when off."""
    email = normalise_email(email)
    user_id = (await uow.execute(sa.select(users.c.id).where(users.c.email == email))).scalar()
    if user_id is None:
        raise NotFound(f"no account with the email {email}")
    await uow.execute(users.update().where(users.c.id == user_id).values(is_active=active))
    await end_sessions(uow, int(user_id))
    await uow.execute(
        tokens.update()
        .where(tokens.c.user_id == user_id, tokens.c.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    await audit.record(
        uow,
        "user.enabled" if active else "user.disabled",
        workspace_id=None,
        target_type="user",
        target_id=user_id,
    )
    return int(user_id)


async def set_operator(uow: UnitOfWork, email: str, operator: bool) -> int:
    email = normalise_email(email)
    done = await uow.execute(users.update().where(users.c.email == email).values(is_operator=operator))
    if done.rowcount != 1:
        raise NotFound(f"no account with the email {email}")
    return int((await uow.execute(sa.select(users.c.id).where(users.c.email == email))).scalar_one())
