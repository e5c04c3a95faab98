"""``helpline import csv|zendesk`` as a user runs it: a fresh folder, ``./var`` in it, the shared
sample CSV (8,469 tickets) imported once and again, and the one-line errors.

The full file takes about 20 s on SQLite the first time and 7 s the second (measured on the
development machine), so it runs in the suite as it is, once (the CLI's own SQLite database)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_cli import EMAIL, PASSWORD, helpline, ok, one_line_error

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT.parent / "shared" / "data" / "load" / "customer_support_tickets.csv"
ZENDESK = Path(__file__).parent / "tickets" / "fixtures" / "zendesk_export.json"
ROWS = 8469


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A folder with a migrated database and an admin (the importer)."""
    cwd = tmp_path_factory.mktemp("import")
    ok(helpline(cwd, "migrate"))
    ok(helpline(cwd, "users", "create", "--email", EMAIL, "--password", PASSWORD, "--role", "admin"))
    yield cwd


def counts(cwd: Path) -> dict[str, int]:
    db = sqlite3.connect(cwd / "var" / "helpline.db")
    try:
        tables = ("tickets", "messages", "events", "ticket_imports", "contacts", "ticket_fts")
        return {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
    finally:
        db.close()


@pytest.mark.skipif(not SAMPLE.is_file(), reason=f"the shared sample is not at {SAMPLE}")
def test_the_shared_csv_imports_once_and_again_changes_nothing(home: Path) -> None:
    first = ok(helpline(home, "import", "csv", str(SAMPLE), "--timezone", "UTC", timeout=600))
    assert f"{ROWS}/{ROWS}" in first.stderr  # the progress bar reached the end
    assert f"csv:customer_support_tickets: {ROWS} created, 0 unchanged, 0 refused" in first.stderr
    after_first = counts(home)
    assert after_first["tickets"] == after_first["ticket_imports"] == after_first["ticket_fts"] == ROWS
    # Every row has the customer's message; 5,650 rows also have the agent's first reply.
    assert after_first["messages"] == ROWS + 5650
    # created + a status change per ticket + a message_added per message.
    assert after_first["events"] == 2 * ROWS + after_first["messages"]
    assert after_first["contacts"] == 8320  # rows share some addresses: contacts are matched

    second = ok(helpline(home, "import", "csv", str(SAMPLE), "--timezone", "UTC", timeout=600))
    assert f"csv:customer_support_tickets: 0 created, {ROWS} unchanged, 0 refused" in second.stderr
    assert counts(home) == after_first


def test_zendesk_export_with_a_report_of_refusals(home: Path) -> None:
    report = home / "report.json"
    without_group = ok(helpline(home, "import", "zendesk", str(ZENDESK), "--report", str(report)))
    assert "zendesk: 1 created, 0 unchanged, 2 refused" in without_group.stderr
    assert "refused item 1 (source id 35436): group: no group named 'Facilities'" in without_group.stderr
    assert "refused item 3 (source id 35438): created_at:" in without_group.stderr

    agent = ("--email", "jonas@helpdesk.test", "--password", PASSWORD, "--role", "agent")
    ok(helpline(home, "users", "create", *agent, "--group", "Facilities"))
    result = ok(helpline(home, "import", "zendesk", str(ZENDESK), "--report", str(report)))
    assert "zendesk: 1 created, 1 unchanged, 1 refused" in result.stderr
    written = json.loads(report.read_text())
    assert (written["created"], written["unchanged"]) == (1, 1)
    assert [r["source_id"] for r in written["refused"]] == ["35438"]
    assert {e["field"] for e in written["refused"][0]["errors"]} == {"created_at", "messages.0.created_at"}


def test_one_line_errors(home: Path, tmp_path: Path) -> None:
    one_line_error(helpline(home, "import", "csv", str(tmp_path / "nope.csv")), "no file", "nope.csv")
    if SAMPLE.is_file():
        one_line_error(helpline(home, "import", "csv", str(SAMPLE), "--limit", "1"), "--timezone")
        one_line_error(
            helpline(home, "import", "csv", str(SAMPLE), "--timezone", "UTC", "--workspace", "nowhere"),
            "no workspace 'nowhere'",
        )
    one_line_error(helpline(home, "import", "csv", str(ZENDESK), "--timezone", "Mars/Olympus"), "--timezone")
    one_line_error(helpline(home, "import", "csv", str(ZENDESK), "--timezone", "UTC"), "not a ticket CSV")
    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(b"\xff\xfe not text")
    one_line_error(helpline(home, "import", "zendesk", str(garbage)), "not UTF-8")
    notes = tmp_path / "notes.txt"
    notes.write_text("just some notes\n")
    one_line_error(helpline(home, "import", "zendesk", str(notes)), "not JSON or NDJSON")
    one_line_error(helpline(home, "import", "zendesk", str(ZENDESK), "--as", "nobody@x.test"), "not an admin")
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    one_line_error(helpline(fresh, "import", "zendesk", str(ZENDESK)), "helpline migrate")
