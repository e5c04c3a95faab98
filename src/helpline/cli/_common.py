"""The Typer apps and what every command shares: settings read once, one-line failures, a schema check,
a transaction on the configured database."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

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


def ensure_schema(s: Settings) -> None:
    from pathlib import Path

    from helpline.db.migrate import current_revision, head_revision

    url = s.effective_database_url
    if s.is_sqlite and "///" in url and not Path(url.split("///", 1)[1]).exists():
        fail(
            "there is no database yet: run `helpline migrate` first"
        )  # connecting would create an empty file
    if run(lambda: current_revision(url)) != head_revision():
        fail("the database schema is not up to date: run `helpline migrate` first")


def db_command(work: Callable[[Any], Coroutine[Any, Any, T]]) -> T:
    """Run ``work(uow)`` in one transaction on the configured database, errors as one line."""
    from helpline.platform.db import Database

    s = settings()
    ensure_schema(s)

    async def main() -> T:
        db = Database(s.effective_database_url)
        try:
            async with db.transaction() as uow:
                return await work(uow)
        finally:
            await db.dispose()

    return run(main)
