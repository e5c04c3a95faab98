"""The ``helpline`` command as a user runs it: a fresh folder, ``./var`` in it, no HELPLINE_* set.

Every failure a user can run into must print one line saying what to do, never a traceback.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import free_port

HELPLINE = Path(sys.executable).parent / "helpline"
EMAIL = "a@x.test"
PASSWORD = "longpassword1"


def env(**extra: str) -> dict[str, str]:
    """The caller's environment without any HELPLINE_* setting, plus ``extra``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HELPLINE_")}
    return {**clean, **extra}


def helpline(cwd: Path, *args: str, timeout: float = 120, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(HELPLINE), *args],
        cwd=cwd,
        env=env(**extra),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    """Assert a failure that printed exactly one line (containing ``needles``); that line."""
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder where ``helpline migrate`` ran and an admin was created."""
    path = tmp_path_factory.mktemp("helpline-home")
    ok(helpline(path, "migrate"))
    assert (path / "var" / "helpline.db").is_file()
    created = ok(
        helpline(path, "users", "create", "--email", EMAIL, "--password", PASSWORD, "--role", "admin")
    )
    assert EMAIL in created.stderr
    return path


@pytest.fixture(scope="module")
def server(home: Path) -> Iterator[str]:
    """``helpline serve`` on a free port, as a user starts it; its base URL."""
    port = free_port()
    log = (home / "serve.log").open("w")
    proc = subprocess.Popen(
        [str(HELPLINE), "serve", "--port", str(port)],
        cwd=home,
        env=env(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"helpline serve exited with {proc.returncode}:\n{(home / 'serve.log').read_text()}"
                )
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"helpline serve did not answer /healthz:\n{(home / 'serve.log').read_text()}")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    assert "Traceback" not in (home / "serve.log").read_text()


def test_tokens_create_prints_only_a_token_that_the_api_accepts(home: Path, server: str) -> None:
    result = ok(helpline(home, "tokens", "create", "--email", EMAIL))
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and lines[0] and lines[0] == lines[0].strip() and " " not in lines[0], (
        result.stdout
    )
    token = lines[0]

    answer = httpx.get(f"{server}/api/v1/tickets", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json()["items"] == []

    refused = httpx.get(f"{server}/api/v1/tickets", headers={"Authorization": f"Bearer {token}x"}, timeout=10)
    assert refused.status_code == 401
    assert refused.headers["content-type"].startswith("application/problem+json")


@pytest.fixture(scope="module")
def demo(home: Path, server: str) -> subprocess.CompletedProcess[str]:
    """``helpline demo`` run once, with the server running, as ``make run`` does it."""
    return ok(helpline(home, "demo", "--contacts", "40", "--tickets", "30"))


def test_demo_loads_a_help_desk_and_prints_the_logins(
    home: Path, server: str, demo: subprocess.CompletedProcess[str]
) -> None:
    result = demo
    assert "admin@example.com / helpline-demo" in result.stderr, result.stderr
    found = re.search(r"\b(hl_\S+)", result.stderr)
    assert found, result.stderr
    auth = {"Authorization": f"Bearer {found.group(1)}"}

    page = httpx.get(f"{server}/api/v1/tickets", params={"limit": 100}, headers=auth, timeout=10)
    assert page.status_code == 200, page.text
    items = page.json()["items"]
    assert len(items) == 30
    assert len({t["status"] for t in items}) > 1
    # The demo drained its jobs, so the search index already knows every ticket.
    subject = items[0]["subject"]
    word = max(re.findall(r"[A-Za-z]{4,}", subject), key=len)
    deadline = time.monotonic() + 5  # the server's own job runner may be finishing a batch it claimed
    while True:
        hits = httpx.get(
            f"{server}/api/v1/tickets", params={"q": word, "limit": 100}, headers=auth, timeout=10
        )
        assert hits.status_code == 200, hits.text
        if items[0]["id"] in [t["id"] for t in hits.json()["items"]] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert items[0]["id"] in [t["id"] for t in hits.json()["items"]], (word, subject)

    # The help centre has the demo's articles: public ones found, the internal one never.
    home_page = httpx.get(f"{server}/help/default/en", timeout=10)
    assert home_page.status_code == 200 and "Billing" in home_page.text, home_page.text[:500]
    found = httpx.get(f"{server}/api/v1/help/default/suggest", params={"q": "refund my payment"}, timeout=10)
    titles = [a["title"] for a in found.json()["articles"]]
    assert "Request a refund" in titles and "Refund approval limits" not in titles, titles
    french = httpx.get(f"{server}/api/v1/help/default/suggest", params={"q": "mot de passe", "locale": "fr"})
    assert "Réinitialiser votre mot de passe" in [a["title"] for a in french.json()["articles"]]
    widgets = httpx.get(f"{server}/api/v1/chat/widgets", headers=auth, timeout=10).json()
    assert [w["name"] for w in widgets] == ["Acme Help"] and widgets[0]["answer_bot"] is True
    assert "/admin/chat-widgets" in result.stderr and "/help/default" in result.stderr

    again = ok(helpline(home, "demo", "--contacts", "40", "--tickets", "30"))
    assert "already loaded" in again.stderr
    assert "admin@example.com" in again.stderr
    recount = httpx.get(f"{server}/api/v1/tickets", params={"limit": 100}, headers=auth, timeout=10)
    assert len(recount.json()["items"]) == 30


def test_demo_shows_business_hours_and_slas(server: str, demo: subprocess.CompletedProcess[str]) -> None:
    """The demo's default schedule (weekdays 9-17 with lunch in the workspace's zone, the country's
    holidays), its policies with escalations, and tickets whose clocks ran on their moved-back
    history: fulfilled, running, at risk, breached, paused in pending."""
    found = re.search(r"\b(hl_\S+)", demo.stderr)
    assert found, demo.stderr
    api = httpx.Client(
        base_url=f"{server}/api/v1", headers={"Authorization": f"Bearer {found.group(1)}"}, timeout=10
    )
    [schedule] = api.get("/schedules").json()
    assert schedule["is_default"] and schedule["timezone"] == "Europe/Berlin"
    week = schedule["body"]["week"]
    assert week["mon"] == week["fri"] == [["09:00", "12:30"], ["13:30", "17:00"]]
    assert week["sat"] == week["sun"] == []
    year = datetime.now(UTC).year
    days = {h["start"]: h for h in schedule["body"]["holidays"]}
    for day in (f"{year}-12-25", f"{year + 1}-01-01", f"{year + 1}-10-03"):
        assert days[day]["source"] == "holidays:DE" and days[day]["enabled"], day
    groups = {g["name"]: g["id"] for g in api.get("/groups").json()}

    policies = api.get("/sla-policies").json()
    assert [(p["name"], p["is_fallback"]) for p in policies] == [
        ("Enterprise plan", False),
        ("Standard", True),
    ]
    for p in policies:
        assert set(p["targets"]) == {"urgent", "high", "normal", "low"}
        warn, breach = p["escalations"]
        assert warn["on"] == "warn" and warn["actions"][0]["type"] == "notify"
        assert groups["Billing"] in warn["actions"][0]["group_ids"]
        assert breach["on"] == "breach"
        assert breach["actions"] == [
            {"type": "priority", "value": "urgent"},
            {"type": "tag", "tag": "sla-breached"},
        ]

    now = datetime.now(UTC)
    tickets = api.get("/tickets", params={"limit": 100}).json()["items"]
    assert len(tickets) == 30
    seen: set[str] = set()
    by_subject: dict[str, dict[str, Any]] = {}
    for t in tickets:
        ticket = api.get(f"/tickets/{t['id']}").json()
        by_subject[ticket["subject"]] = ticket
        sla = {e["metric"]: e for e in ticket["sla"]}
        # Every clock began when the story did, weeks ago for some, not when the demo ran.
        started = datetime.fromisoformat(sla["first_reply"]["started_at"])
        assert abs(started - datetime.fromisoformat(ticket["created_at"])) < timedelta(seconds=1), ticket
        seen |= {e["status"] for e in ticket["sla"]}
    assert seen == {"fulfilled", "active", "paused", "breached"}, seen
    assert min(datetime.fromisoformat(t["created_at"]) for t in tickets) < now - timedelta(days=14)

    def clock(subject: str, metric: str) -> dict[str, Any]:
        return next(e for e in by_subject[subject]["sla"] if e["metric"] == metric)

    at_risk = clock("Webhook deliveries fail since this morning", "first_reply")
    assert at_risk["status"] == "active"
    assert datetime.fromisoformat(at_risk["warn_at"]) <= now < datetime.fromisoformat(at_risk["due_at"])
    assert at_risk["business_minutes"] == pytest.approx(200, abs=2)
    breached = clock("Charged twice for the annual plan", "first_reply")
    assert breached["status"] == "breached"
    charged = by_subject["Charged twice for the annual plan"]
    if now - datetime.fromisoformat(breached["due_at"]) < timedelta(hours=23):
        # Missed within the last day (not a stale alert): the demo's sweep escalated it.
        assert charged["priority"] == "urgent" and "sla-breached" in charged["tags"], charged
    paused = by_subject["Parcel marked delivered but not here"]
    assert paused["status"] == "pending"
    assert clock(paused["subject"], "requester_wait")["status"] == "paused"
    assert clock(paused["subject"], "first_reply")["status"] == "fulfilled"
    assert clock("Export to CSV drops the last column", "next_reply")["status"] == "active"
    api.close()


def test_check_passes_on_a_migrated_install(home: Path) -> None:
    result = ok(helpline(home, "check"))
    assert "database" in result.stdout and "fail" not in result.stdout, result.stdout


def test_check_fails_on_a_mailbox_that_cannot_fetch(tmp_path: Path) -> None:
    """A mailbox whose IMAP server refuses us (and never fetched) is a failing line naming the
    mailbox and the error, and `helpline check` exits 1; a healthy one beside it stays ok."""
    import asyncio

    import sqlalchemy as sa

    from helpline.db.base import utcnow
    from helpline.domains.channels.email import mailboxes
    from helpline.platform.db import Database

    ok(helpline(tmp_path, "migrate"))
    ok(helpline(tmp_path, "users", "create", "--email", EMAIL, "--password", PASSWORD, "--role", "admin"))

    async def add_mailboxes() -> None:
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'var' / 'helpline.db'}")
        try:
            async with db.transaction() as uow:
                ws = (await uow.execute(sa.text("SELECT id FROM workspaces"))).scalar_one()
                await mailboxes.create_mailbox(uow, ws, {"name": "Quiet", "address": "quiet@x.test"})
                broken = await mailboxes.create_mailbox(
                    uow,
                    ws,
                    {"name": "Broken", "address": "broken@x.test", "imap_host": "127.0.0.1", "imap_port": 9},
                )
                await uow.execute(
                    mailboxes.mailboxes.update()
                    .where(mailboxes.mailboxes.c.id == broken)
                    .values(last_error="IMAP login refused: [AUTHENTICATIONFAILED]", last_error_at=utcnow())
                )
        finally:
            await db.dispose()

    asyncio.run(add_mailboxes())
    result = helpline(tmp_path, "check", COLUMNS="300")  # one table row per line
    assert result.returncode == 1 and "Traceback" not in result.stdout + result.stderr, result.stdout
    state = {
        cells[1].strip(): (cells[2].strip(), cells[3].strip())
        for line in result.stdout.splitlines()
        if len(cells := line.split("│")) > 3
    }
    assert state["mailbox broken@x.test"][0] == "fail", result.stdout
    assert "last good fetch never" in state["mailbox broken@x.test"][1]
    assert "AUTHENTICATIONFAILED" in state["mailbox broken@x.test"][1]
    assert state["mailbox quiet@x.test"][0] == "ok", result.stdout


# name: (arguments, where it runs, extra environment, what the one line must say). "home" is the migrated
# folder; "fresh" is an empty one where `helpline migrate` never ran.
PG_DOWN = "postgresql://helpline:secret@127.0.0.1:{port}/helpline"  # a port where nothing listens
MISTAKES: dict[str, tuple[list[str], str, bool, list[str]]] = {
    "bad-role": (
        ["users", "create", "--email", "b@x.test", "--password", PASSWORD, "--role", "boss"],
        "home",
        False,
        ["--role", "boss"],
    ),
    "short-password": (
        ["users", "create", "--email", "b@x.test", "--password", "short", "--role", "agent"],
        "home",
        False,
        ["password", "10"],
    ),
    "existing-user": (
        ["users", "create", "--email", EMAIL, "--password", PASSWORD, "--role", "agent"],
        "home",
        False,
        [EMAIL],
    ),
    "unknown-email": (["tokens", "create", "--email", "nobody@x.test"], "home", False, ["nobody@x.test"]),
    "users-before-migrate": (
        ["users", "create", "--email", EMAIL, "--password", PASSWORD, "--role", "admin"],
        "fresh",
        False,
        ["helpline migrate"],
    ),
    "tokens-before-migrate": (["tokens", "create", "--email", EMAIL], "fresh", False, ["helpline migrate"]),
    "migrate-postgres-down": (["migrate"], "fresh", True, ["HELPLINE_DATABASE_URL"]),
    "users-postgres-down": (
        ["users", "create", "--email", EMAIL, "--password", PASSWORD, "--role", "admin"],
        "fresh",
        True,
        ["HELPLINE_DATABASE_URL"],
    ),
    "check-postgres-down": (["check"], "fresh", True, []),
}


@pytest.fixture(scope="module")
def mistakes(
    home: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every mistake above, run side by side (each is a separate process start, the slow part)."""
    url = PG_DOWN.format(port=free_port())

    def attempt(name: str) -> subprocess.CompletedProcess[str]:
        args, where, pg_down, _ = MISTAKES[name]
        cwd = home if where == "home" else tmp_path_factory.mktemp(name)
        return helpline(cwd, *args, **({"HELPLINE_DATABASE_URL": url} if pg_down else {}))

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(MISTAKES, pool.map(attempt, MISTAKES), strict=True))


@pytest.mark.parametrize("name", [n for n in MISTAKES if n != "check-postgres-down"])
def test_mistakes_get_one_line_without_a_traceback(
    mistakes: dict[str, subprocess.CompletedProcess[str]], name: str
) -> None:
    one_line_error(mistakes[name], *MISTAKES[name][3])


def test_check_reports_an_unreachable_database(mistakes: dict[str, subprocess.CompletedProcess[str]]) -> None:
    check = mistakes["check-postgres-down"]
    output = check.stdout + check.stderr
    assert check.returncode == 1 and "Traceback" not in output, output
    assert "fail" in check.stdout and "HELPLINE_DATABASE_URL" in check.stdout, output
