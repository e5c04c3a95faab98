"""Running Helpline: migrate, serve, worker, demo, check."""

from __future__ import annotations

import contextlib
import logging
from typing import Annotated

import typer
from rich.console import Console

from helpline.cli._common import (
    app,
    ensure_schema,
    err,
    fail,
    run,
    settings,
)
from helpline.settings import Settings


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
    run(lambda: _start_feed(s))
    err.print("database is up to date", highlight=False)


async def _start_feed(s: Settings) -> None:
    """Give every feed consumer its cursor now, so that what is written next (demo data, an import)
    reaches them: a consumer starts from the moment it first runs."""
    import helpline.app  # noqa: F401 - importing the app registers every consumer
    from helpline.platform.feed import REGISTRY, FeedWorker
    from helpline.platform.runtime import build_platform

    platform = build_platform(s)
    try:
        await FeedWorker(platform, REGISTRY).setup()
    finally:
        await platform.close()


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
    ensure_schema(s)
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
    ensure_schema(s)
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


@app.command()
def demo(
    contacts: Annotated[int, typer.Option(help="How many contacts", min=1)] = 300,
    tickets: Annotated[int, typer.Option(help="How many tickets", min=1)] = 500,
    seed: Annotated[int, typer.Option(help="Random seed")] = 7,
) -> None:
    """Fill the workspace with a realistic demo: agents, groups, contacts, organizations and tickets."""
    from helpline.demo import load_demo

    s = settings()
    ensure_schema(s)
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
