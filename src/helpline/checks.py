"""``helpline check``: is this install configured sanely, and can it reach everything it names?

Each check gives one row: ok, warn (works, but look at it), fail (Helpline will not work) or skip (not
configured), with one line saying what to do. A check never raises: an unexpected error is its answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from rich.console import Console
from rich.table import Table
from rich.text import Text

from helpline.settings import Settings

TIMEOUT = 5.0

STYLE = {
    "ok": "[green]ok[/green]",
    "warn": "[yellow]warn[/yellow]",
    "fail": "[red]fail[/red]",
    "skip": "[dim]skip[/dim]",
}


@dataclass
class Result:
    name: str
    state: str  # ok | warn | fail | skip
    hint: str


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def check_settings(s: Settings) -> list[Result]:
    problems = s.problems()
    if not problems:
        return [Result("settings", "ok", f"{s.environment} environment, mail via {s.mail_transport}")]
    return [Result("settings", "fail", problem) for problem in problems]


def _sqlite_path(url: str) -> Path | None:
    if not url.startswith("sqlite"):
        return None
    path = url.split("///", 1)[1] if "///" in url else ""
    return None if path in ("", ":memory:") else Path(path)


async def check_database(s: Settings) -> list[Result]:
    from helpline.db.migrate import current_revision, head_revision

    url = s.effective_database_url
    where = "SQLite" if s.is_sqlite else "PostgreSQL"
    path = _sqlite_path(url)
    if path is not None and not path.exists():
        # Connecting would create an empty file; say what is missing instead.
        return [Result("database", "fail", f"no database at {path}: run `helpline migrate`")]
    try:
        current = await asyncio.wait_for(current_revision(url), 10)
    except TimeoutError:
        return [
            Result("database", "fail", f"{where} did not answer within 10 s: check HELPLINE_DATABASE_URL")
        ]
    except Exception as exc:
        return [Result("database", "fail", f"cannot connect ({_short(exc)}): check HELPLINE_DATABASE_URL")]
    results = [Result("database", "ok", f"{where} reachable")]
    head = head_revision()
    if current == head:
        results.append(Result("schema", "ok", f"at the latest revision ({head})"))
    elif current is None:
        results.append(Result("schema", "fail", "the database is empty: run `helpline migrate`"))
    else:
        results.append(
            Result("schema", "fail", f"at {current}, this version needs {head}: run `helpline migrate`")
        )
        return results
    if current == head:
        results.append(await check_jobs(s))
        results.extend(await check_feed(s))
        results.extend(await check_mailboxes(s))
    return results


async def check_mailboxes(s: Settings) -> list[Result]:
    """Email channel: each mailbox's last good fetch, backlog and failures (docs/email.md)."""
    from helpline.domains.channels.email.health import check_rows

    try:
        rows = await asyncio.wait_for(check_rows(s.effective_database_url), 10)
    except Exception as exc:
        return [Result("email", "fail", f"cannot read the mailboxes ({_short(exc)})")]
    return [Result(name, state, hint) for name, state, hint in rows]


async def check_jobs(s: Settings) -> Result:
    from helpline.platform.db import Database
    from helpline.platform.jobs import pending_counts

    db = Database(s.effective_database_url, pool_size=1)
    try:
        counts = await asyncio.wait_for(pending_counts(db), 10)
    except Exception as exc:
        return Result("job queue", "fail", f"cannot read the jobs table ({_short(exc)})")
    finally:
        await db.dispose()
    queued, running, dead = (counts.get(k, 0) for k in ("queued", "running", "dead"))
    summary = f"{queued} queued, {running} running, {dead} dead"
    if dead:
        return Result("job queue", "warn", f"{summary}: dead jobs failed every retry; see jobs.last_error")
    if queued > 1000:
        return Result("job queue", "warn", f"{summary}: a backlog; is a worker running (`helpline worker`)?")
    return Result("job queue", "ok", summary)


#: A consumer whose oldest undelivered row is older than this gets a warning.
FEED_STALE_SECONDS = 300


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


async def check_feed(s: Settings) -> list[Result]:
    """The durable feed (ADR 0014): per consumer, how far behind it is and whether it is failing."""
    from helpline.platform.db import Database
    from helpline.platform.feed import consumer_lag

    db = Database(s.effective_database_url, pool_size=1)
    try:
        async with db.read() as conn:
            lags = await asyncio.wait_for(consumer_lag(conn), 10)
    except Exception as exc:
        return [Result("feed", "fail", f"cannot read the feed's cursors ({_short(exc)})")]
    finally:
        await db.dispose()
    if not lags:
        return [Result("feed", "skip", "no feed consumer has run yet")]
    results = []
    for lag in lags:
        summary = f"{lag.behind} behind"
        if lag.oldest_seconds is not None:
            summary += f", oldest {_age(lag.oldest_seconds)} old"
        summary += f"; {lag.delivered} delivered"
        name = f"feed {lag.consumer}"
        if lag.failing:
            results.append(
                Result(
                    name,
                    "warn",
                    f"{summary}; failing in {lag.failing} partition(s), {lag.attempts} attempt(s): "
                    f"{lag.last_error}",
                )
            )
        elif lag.oldest_seconds is not None and lag.oldest_seconds > FEED_STALE_SECONDS:
            results.append(Result(name, "warn", f"{summary}: is a worker running (`helpline worker`)?"))
        else:
            results.append(Result(name, "ok", summary))
    return results


async def check_redis(s: Settings) -> Result:
    if not s.redis_url:
        return Result(
            "redis", "skip", "HELPLINE_REDIS_URL not set: pub/sub and cache are in-memory (one process)"
        )
    import redis.asyncio as aioredis

    client = aioredis.from_url(s.redis_url, socket_connect_timeout=TIMEOUT, socket_timeout=TIMEOUT)
    try:
        await asyncio.wait_for(cast(Awaitable[bool], client.ping()), TIMEOUT)
    except Exception as exc:
        return Result("redis", "fail", f"PING failed ({_short(exc)}): check HELPLINE_REDIS_URL")
    finally:
        with contextlib.suppress(Exception):  # closing a connection that never opened
            await client.aclose()
    return Result("redis", "ok", "PING answered")


async def check_smtp(s: Settings) -> Result:
    if s.mail_transport != "smtp":
        return Result("smtp", "skip", "HELPLINE_MAIL_TRANSPORT=console: outgoing mail is printed to the log")
    import aiosmtplib

    where = f"{s.smtp_host}:{s.smtp_port}"
    client = aiosmtplib.SMTP(hostname=s.smtp_host, port=s.smtp_port, timeout=TIMEOUT, start_tls=False)
    try:
        await asyncio.wait_for(client.connect(), TIMEOUT)
        await asyncio.wait_for(client.ehlo(), TIMEOUT)
        if s.smtp_starttls:
            await asyncio.wait_for(client.starttls(), TIMEOUT)
    except Exception as exc:
        return Result("smtp", "fail", f"{where} ({_short(exc)}): check HELPLINE_SMTP_HOST / _PORT")
    finally:
        if client.is_connected:
            try:
                await asyncio.wait_for(client.quit(), TIMEOUT)
            except Exception:
                client.close()
    return Result("smtp", "ok", f"{where} answered EHLO" + (" and STARTTLS" if s.smtp_starttls else ""))


def check_files(s: Settings) -> Result:
    folder = s.effective_files_dir
    probe = folder
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent  # not there yet: storage creates it, so its nearest parent must be writable
    try:
        with tempfile.NamedTemporaryFile(dir=probe, prefix=".helpline-check-"):
            pass
    except OSError as exc:
        return Result(
            "files", "fail", f"{probe} is not writable ({_short(exc)}): fix it or set HELPLINE_FILES_DIR"
        )
    return Result("files", "ok", f"{folder} is writable" if probe == folder else f"{folder} can be created")


def check_secret(s: Settings) -> Result:
    if s.secret_key:
        if len(s.secret_key) < 32:
            return Result(
                "secret key", "warn", "HELPLINE_SECRET_KEY is short: use at least 32 random characters"
            )
        return Result("secret key", "ok", "from HELPLINE_SECRET_KEY")
    path = s.var_dir / "secret_key"
    if not path.exists():
        return Result("secret key", "ok", f"will be generated into {path} on first start")
    mode = stat.S_IMODE(path.stat().st_mode)
    if os.name == "posix" and mode & 0o077:
        return Result("secret key", "warn", f"{path} is readable by others: chmod 600 {path}")
    return Result("secret key", "ok", f"kept in {path}")


async def _guard(name: str, fn: Callable[[], Awaitable[list[Result]]]) -> list[Result]:
    try:
        return await fn()
    except Exception as exc:  # a check's own bug must not hide the other answers
        return [Result(name, "fail", f"the check itself failed: {_short(exc)}")]


async def run_checks(settings: Settings, console: Console) -> bool:
    """Print the table of checks; False when any check failed (warnings do not fail)."""

    async def sync(fn: Callable[[Settings], Result | list[Result]]) -> list[Result]:
        r = fn(settings)
        return r if isinstance(r, list) else [r]

    async def one(fn: Callable[[Settings], Awaitable[Result]]) -> list[Result]:
        return [await fn(settings)]

    groups = await asyncio.gather(
        _guard("settings", lambda: sync(check_settings)),
        _guard("database", lambda: check_database(settings)),
        _guard("redis", lambda: one(check_redis)),
        _guard("smtp", lambda: one(check_smtp)),
        _guard("files", lambda: sync(check_files)),
        _guard("secret key", lambda: sync(check_secret)),
    )
    results = [r for group in groups for r in group]
    table = Table(title="Helpline check", title_justify="left")
    table.add_column("check")
    table.add_column("result")
    table.add_column("details", overflow="fold")
    for r in results:
        table.add_row(r.name, STYLE[r.state], Text(r.hint))  # Text: an error message is not markup
    console.print(table)
    failed = [r for r in results if r.state == "fail"]
    warned = [r for r in results if r.state == "warn"]
    if failed:
        console.print(f"[red]{len(failed)} check(s) failed.[/red]")
    else:
        console.print("[green]All good[/green]" + (f", with {len(warned)} warning(s)." if warned else "."))
    return not failed
