"""People, workspaces and API tokens from the command line (the same services as the API)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from helpline.cli._common import (
    db_command,
    err,
    fail,
    settings,
    tokens_app,
    users_app,
    workspaces_app,
)


async def _workspace(uow: Any, slug: str | None) -> int:
    """The workspace ``--workspace`` names, or the only one."""
    from helpline.domains.accounts import service

    return await service.workspace_by_slug(uow, slug) if slug else await service.default_workspace(uow)


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Option(help="Email address; it is the sign-in name")],
    password: Annotated[str, typer.Option(help="At least 10 characters")],
    role: Annotated[str, typer.Option(help="admin | agent | light-agent | customer")],
    name: Annotated[str, typer.Option(help="Display name")] = "",
    group: Annotated[
        list[str] | None, typer.Option(help="Group to join (created if missing); repeat for several")
    ] = None,
    workspace: Annotated[str | None, typer.Option(help="Workspace slug (default: the only one)")] = None,
    operator: Annotated[bool, typer.Option(help="Also make them the instance operator")] = False,
) -> None:
    """Add a new person to a workspace (someone who already has an account is invited from the
    workspace's admin pages, or with `helpline workspaces create --admin-email`)."""
    from helpline.domains.accounts import service
    from helpline.domains.accounts.models import Role

    try:
        role_value = Role(role)
    except ValueError:
        fail(f"--role must be one of admin, agent, light-agent, customer (got {role!r})")
    if "@" not in email:
        fail(f"--email {email!r} is not an email address")

    async def work(uow: Any) -> int:
        user_id = await service.create_user(
            uow,
            await _workspace(uow, workspace),
            email=email,
            role=role_value,
            name=name,
            password=password,
            group_names=group or [],
            create_groups=True,
        )
        if operator:
            await service.set_operator(uow, email, True)
        return user_id

    user_id = db_command(work)
    err.print(
        f"created {role} {email} (user {user_id}){' — instance operator' if operator else ''}",
        highlight=False,
    )


@users_app.command("disable")
def users_disable(email: Annotated[str, typer.Argument(help="The person's email")]) -> None:
    """Turn a person off on the whole instance: every session and token of theirs ends."""
    from helpline.domains.accounts import service

    user_id = db_command(lambda uow: service.set_user_active(uow, email, False))
    err.print(f"disabled {email} (user {user_id}) in every workspace", highlight=False)


@users_app.command("enable")
def users_enable(email: Annotated[str, typer.Argument(help="The person's email")]) -> None:
    """Turn a disabled person back on (their old sessions and tokens stay ended)."""
    from helpline.domains.accounts import service

    user_id = db_command(lambda uow: service.set_user_active(uow, email, True))
    err.print(f"enabled {email} (user {user_id})", highlight=False)


@users_app.command("operator")
def users_operator(
    email: Annotated[str, typer.Argument(help="The person's email")],
    revoke: Annotated[bool, typer.Option(help="Take the operator role away instead")] = False,
) -> None:
    """Make a person the instance operator (manages workspaces through the API), or stop that."""
    from helpline.domains.accounts import service

    user_id = db_command(lambda uow: service.set_operator(uow, email, not revoke))
    err.print(
        f"{email} (user {user_id}) is {'no longer' if revoke else 'now'} the instance operator",
        highlight=False,
    )


@workspaces_app.command("create")
def workspaces_create(
    name: Annotated[str, typer.Argument(help="The workspace's name, e.g. 'Acme Support'")],
    slug: Annotated[str | None, typer.Option(help="Its short name in URLs (default: from the name)")] = None,
    admin_email: Annotated[str | None, typer.Option(help="Its first admin")] = None,
    admin_name: Annotated[str, typer.Option(help="The admin's name (a new account)")] = "",
    admin_password: Annotated[
        str | None, typer.Option(help="The admin's password (a new account); prefer HELPLINE_ADMIN_PASSWORD")
    ] = None,
) -> None:
    """Create a workspace; with --admin-email, a new account becomes its admin at once and an existing
    account is emailed an invitation."""
    import os

    from helpline.domains.accounts import service

    if admin_email is not None and "@" not in admin_email:
        fail(f"--admin-email {admin_email!r} is not an email address")
    password = admin_password or os.environ.get("HELPLINE_ADMIN_PASSWORD") or None
    base_url = settings().base_url
    ws, admin_id, invited = db_command(
        lambda uow: service.do_create_workspace(
            uow,
            None,
            name=name,
            slug=slug,
            admin_email=admin_email,
            admin_name=admin_name,
            admin_password=password,
            base_url=base_url,
        )
    )
    line = f"created workspace {ws}"
    if admin_id is not None:
        line += f"; {admin_email} " + (
            "was invited as admin" if invited else f"is its admin (user {admin_id})"
        )
    err.print(line, highlight=False)


@workspaces_app.command("list")
def workspaces_list() -> None:
    """Every workspace: id, slug, name, staff, and whether it is disabled."""
    from helpline.domains.accounts import service

    async def work(uow: Any) -> list[dict[str, Any]]:
        return await service.list_workspaces(uow.conn)

    for w in db_command(work):
        state = "disabled" if w["disabled_at"] else "active"
        sys.stdout.write(f"{w['id']}\t{w['slug']}\t{state}\t{w['staff']} staff\t{w['name']}\n")


def _set_disabled(slug: str, disabled: bool) -> None:
    from helpline.domains.accounts import service

    async def work(uow: Any) -> None:
        ws = await service.workspace_id_by_slug(uow, slug)
        await service.set_workspace_disabled(uow, None, ws, disabled)

    db_command(work)
    err.print(f"{slug} is {'disabled: nobody can sign in' if disabled else 'enabled'}", highlight=False)


@workspaces_app.command("disable")
def workspaces_disable(slug: Annotated[str, typer.Argument(help="The workspace's slug")]) -> None:
    """Disable a workspace: nobody signs in, every session and API token stops, its public pages go."""
    _set_disabled(slug, True)


@workspaces_app.command("enable")
def workspaces_enable(slug: Annotated[str, typer.Argument(help="The workspace's slug")]) -> None:
    """Enable a disabled workspace again."""
    _set_disabled(slug, False)


@tokens_app.command("create")
def tokens_create(
    email: Annotated[str, typer.Option(help="Whose token")],
    name: Annotated[str, typer.Option(help="What the token is for")] = "cli",
    expires_days: Annotated[int | None, typer.Option(help="Expire after this many days", min=1)] = None,
    workspace: Annotated[str | None, typer.Option(help="Workspace slug (default: the only one)")] = None,
) -> None:
    """Create an API token and print it (only the token, so scripts can capture it)."""
    from datetime import timedelta

    from helpline.domains.accounts import audit, service

    async def work(uow: Any) -> str:
        ws = await _workspace(uow, workspace)
        user_id = await service.user_id_by_email(uow, ws, email)
        expires = datetime.now(UTC) + timedelta(days=expires_days) if expires_days else None
        token_id, token = await service.create_token(uow, ws, user_id, name=name, expires_at=expires)
        await audit.record(
            uow,
            "token.created",
            workspace_id=ws,
            target_type="token",
            target_id=token_id,
            detail={"owner_id": user_id, "name": name, "via": "cli"},
        )
        return token

    token = db_command(work)
    sys.stdout.write(token + "\n")
