"""The ``helpline`` command: serve, worker, migrate, demo, users, tokens, workspaces, check.

Every command uses ``./var/`` of the directory it runs in unless ``HELPLINE_DATABASE_URL`` says
otherwise. Problems are reported as one line saying what is wrong and how to fix it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console

from helpline.errors import Problem
from helpline.settings import Settings

app = typer.Typer(
    help="Helpline: one inbox for every customer conversation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
users_app = typer.Typer(help="Manage people who sign in.", no_args_is_help=True)
tokens_app = typer.Typer(help="Manage API tokens.", no_args_is_help=True)
workspaces_app = typer.Typer(help="Manage workspaces (the instance operator's job).", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")
app.add_typer(workspaces_app, name="workspaces")

err = Console(stderr=True)
T = TypeVar("T")


def fail(message: str, code: int = 2) -> None:
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        fail(f"HELPLINE_{str(first['loc'][0]).upper()}: {first['msg']}")
        raise  # pragma: no cover


def run(coro_fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run async work; turn expected failures into one line instead of a traceback."""
    try:
        return asyncio.run(coro_fn())
    except Problem as exc:
        fail(exc.detail)
    except OSError as exc:
        fail(
            f"cannot reach a service: {exc}. "
            "Check HELPLINE_DATABASE_URL / HELPLINE_REDIS_URL, or run `helpline check`."
        )
    except Exception as exc:  # a driver error (bad URL, server down) must not print a traceback
        name = type(exc).__name__
        if "sqlalchemy" in type(exc).__module__ or "asyncpg" in type(exc).__module__:
            fail(
                f"database error ({name}): {str(exc).splitlines()[0]}. "
                "Run `helpline migrate`, or check HELPLINE_DATABASE_URL."
            )
        raise
    raise AssertionError("unreachable")  # pragma: no cover


def _ensure_schema(s: Settings) -> None:
    from pathlib import Path

    from helpline.db.migrate import current_revision, head_revision

    url = s.effective_database_url
    if s.is_sqlite and "///" in url and not Path(url.split("///", 1)[1]).exists():
        fail(
            "there is no database yet: run `helpline migrate` first"
        )  # connecting would create an empty file
    if run(lambda: current_revision(url)) != head_revision():
        fail("the database schema is not up to date: run `helpline migrate` first")


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema (safe to run again)."""
    from helpline.db.migrate import upgrade

    s = settings()
    try:
        upgrade(s.effective_database_url)
    except Exception as exc:
        fail(f"migration failed: {str(exc).splitlines()[0]}. Check HELPLINE_DATABASE_URL.", 1)
    s.ensure_secret_key()
    err.print("database is up to date", highlight=False)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on", min=1, max=65535)] = 8000,
    workers: Annotated[
        int, typer.Option(help="Processes (distributed mode needs HELPLINE_REDIS_URL)", min=1)
    ] = 1,
) -> None:
    """Serve the web app and API (and, embedded, run background jobs in-process)."""
    import uvicorn

    s = settings()
    for problem in s.problems():
        fail(problem)
    if workers > 1 and not s.redis_url:
        fail("several processes need shared pub/sub: set HELPLINE_REDIS_URL, or use --workers 1")
    if workers > 1 and s.is_sqlite:
        fail("SQLite serves one process: use --workers 1, or set HELPLINE_DATABASE_URL to PostgreSQL")
    _ensure_schema(s)
    s.ensure_secret_key()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    uvicorn.run(
        "helpline.asgi:app",
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        proxy_headers=True,
        access_log=False,
    )


@app.command()
def worker(
    once: Annotated[bool, typer.Option(help="Run the jobs that are ready, then exit")] = False,
) -> None:
    """Run background jobs (distributed mode: as many of these as you like)."""
    import helpline.app  # noqa: F401 - importing the app registers every job handler
    from helpline.platform.jobs import JobRunner
    from helpline.platform.runtime import build_platform

    s = settings()
    _ensure_schema(s)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    async def main() -> None:
        platform = build_platform(s)
        from helpline.domains.accounts import principal_cache
        from helpline.domains.channels import startup as channels
        from helpline.domains.tickets import fields  # noqa: F401  (its cache installs along)

        principal_cache.install(platform)  # a job's account change reaches every process's caches
        channels.install(platform)  # a job's staff message reaches the ticket's channel
        runner = JobRunner(platform)
        try:
            if once:
                n = await runner.drain()
                err.print(f"ran {n} job(s)", highlight=False)
            else:
                # Distributed mode: the channels' runtimes (email's SMTP receiver, IMAP fetchers) run here.
                running = channels.runtimes(platform)
                for part in running:
                    await part.start()
                try:
                    await runner.run_forever()
                finally:
                    for part in reversed(running):
                        await part.stop()
        finally:
            await platform.close()

    with contextlib.suppress(KeyboardInterrupt):
        run(main)


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
    from helpline.platform.db import Database

    try:
        role_value = Role(role)
    except ValueError:
        fail(f"--role must be one of admin, agent, light-agent, customer (got {role!r})")
    if "@" not in email:
        fail(f"--email {email!r} is not an email address")
    s = settings()
    _ensure_schema(s)

    async def main() -> int:
        db = Database(s.effective_database_url)
        try:
            async with db.transaction() as uow:
                ws = (
                    await service.workspace_by_slug(uow, workspace)
                    if workspace
                    else await service.default_workspace(uow)
                )
                user_id = await service.create_user(
                    uow,
                    ws,
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
        finally:
            await db.dispose()

    user_id = run(main)
    err.print(
        f"created {role} {email} (user {user_id}){' — instance operator' if operator else ''}",
        highlight=False,
    )


def _db_command(work: Callable[[Any], Coroutine[Any, Any, T]]) -> T:
    """Run ``work(uow)`` in one transaction on the configured database, errors as one line."""
    from helpline.platform.db import Database

    s = settings()
    _ensure_schema(s)

    async def main() -> T:
        db = Database(s.effective_database_url)
        try:
            async with db.transaction() as uow:
                return await work(uow)
        finally:
            await db.dispose()

    return run(main)


@users_app.command("disable")
def users_disable(email: Annotated[str, typer.Argument(help="The person's email")]) -> None:
    """Turn a person off on the whole instance: every session and token of theirs ends."""
    from helpline.domains.accounts import service

    user_id = _db_command(lambda uow: service.set_user_active(uow, email, False))
    err.print(f"disabled {email} (user {user_id}) in every workspace", highlight=False)


@users_app.command("enable")
def users_enable(email: Annotated[str, typer.Argument(help="The person's email")]) -> None:
    """Turn a disabled person back on (their old sessions and tokens stay ended)."""
    from helpline.domains.accounts import service

    user_id = _db_command(lambda uow: service.set_user_active(uow, email, True))
    err.print(f"enabled {email} (user {user_id})", highlight=False)


@users_app.command("operator")
def users_operator(
    email: Annotated[str, typer.Argument(help="The person's email")],
    revoke: Annotated[bool, typer.Option(help="Take the operator role away instead")] = False,
) -> None:
    """Make a person the instance operator (manages workspaces through the API), or stop that."""
    from helpline.domains.accounts import service

    user_id = _db_command(lambda uow: service.set_operator(uow, email, not revoke))
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
    ws, admin_id, invited = _db_command(
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

    for w in _db_command(work):
        state = "disabled" if w["disabled_at"] else "active"
        sys.stdout.write(f"{w['id']}\t{w['slug']}\t{state}\t{w['staff']} staff\t{w['name']}\n")


def _set_disabled(slug: str, disabled: bool) -> None:
    from helpline.domains.accounts import service

    async def work(uow: Any) -> None:
        ws = await service.workspace_id_by_slug(uow, slug)
        await service.set_workspace_disabled(uow, None, ws, disabled)

    _db_command(work)
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
    from helpline.platform.db import Database

    s = settings()
    _ensure_schema(s)

    async def main() -> str:
        db = Database(s.effective_database_url)
        try:
            async with db.transaction() as uow:
                ws = (
                    await service.workspace_by_slug(uow, workspace)
                    if workspace
                    else await service.default_workspace(uow)
                )
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
        finally:
            await db.dispose()

    token = run(main)
    sys.stdout.write(token + "\n")


@app.command()
def demo(
    contacts: Annotated[int, typer.Option(help="How many contacts", min=1)] = 300,
    tickets: Annotated[int, typer.Option(help="How many tickets", min=1)] = 500,
    seed: Annotated[int, typer.Option(help="Random seed")] = 7,
) -> None:
    """Fill the workspace with a realistic demo: agents, groups, contacts, organizations and tickets."""
    from helpline.demo import load_demo

    s = settings()
    _ensure_schema(s)
    s.ensure_secret_key()
    logins = run(lambda: load_demo(s, contacts=contacts, tickets=tickets, seed=seed))
    for line in logins:
        err.print(line, highlight=False)


@app.command()
def check() -> None:
    """Check the configuration and that every service it names can be reached."""
    from helpline.checks import run_checks

    s = settings()
    ok = run(lambda: run_checks(s, Console()))
    if not ok:
        raise typer.Exit(1)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
