"""The feed's pure parts: ``platform/`` imports no domain, registrations are checked, the backoff, and
the Prometheus text format of ``/metrics``."""

from __future__ import annotations

import ast
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from helpline.platform import feed
from helpline.platform.metrics import Family, render

PLATFORM = Path(feed.__file__).resolve().parents[1]

table = sa.Table(
    "things",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("ticket_id", sa.Integer),
    sa.Column("workspace_id", sa.Integer),
    sa.Column("created_at", sa.DateTime),
)


def _imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
    return found


def test_platform_imports_no_domain():
    files = sorted(PLATFORM.rglob("*.py"))
    assert PLATFORM / "feed" / "_worker.py" in files
    bad = [
        (f.relative_to(PLATFORM), m) for f in files for m in _imports(f) if m.startswith("helpline.domains")
    ]
    assert bad == []


def test_a_source_names_columns_its_table_has():
    feed.Source("things", table, key="ticket_id", time="created_at")
    with pytest.raises(ValueError, match="no column 'ticket'"):
        feed.Source("things", table, key="ticket")
    with pytest.raises(ValueError, match="buckets"):
        feed.Source("things", table, key="ticket_id", buckets=0)


async def _noop(batch: feed.Batch) -> None:
    return None


def test_registrations_are_checked():
    reg = feed.Registry()
    with pytest.raises(ValueError, match="no feed source"):
        reg.consumer("things", "a", _noop)
    src = reg.source(feed.Source("things", table, key="ticket_id"))
    assert reg.source(feed.Source("things", table, key="ticket_id")) == src  # the same again is fine
    with pytest.raises(ValueError, match="registered twice"):
        reg.source(feed.Source("things", table, key="workspace_id"))
    reg.consumer("things", "a", _noop)
    with pytest.raises(ValueError, match="registered twice"):
        reg.consumer("things", "a", _noop, idempotent=True)
    with pytest.raises(ValueError, match="batch"):
        reg.consumer("things", "b", _noop, batch=0)
    with pytest.raises(ValueError, match="100 characters"):
        reg.consumer("things", "x" * 101, _noop)
    assert reg.consumers["a"].idempotent is False and reg.consumers["a"].batch == 200


async def test_in_transaction_consumers_run_in_order_for_their_source_only():
    reg = feed.Registry()
    reg.source(feed.Source("things", table, key="ticket_id"))
    reg.source(feed.Source("others", table, key="workspace_id"))
    calls: list[tuple[str, Any, int]] = []

    def note(label: str) -> feed.TxHandler:
        async def handle(uow: Any, rows: list[dict[str, Any]]) -> None:
            calls.append((label, uow, len(rows)))

        return handle

    reg.consumer("things", "first", note("first"), in_transaction=True)
    reg.consumer("others", "elsewhere", note("elsewhere"), in_transaction=True)
    reg.consumer("things", "second", note("second"), in_transaction=True)
    uow: Any = object()
    await reg.run_in_transaction(uow, "things", [{"id": 1}, {"id": 2}])
    await reg.run_in_transaction(uow, "things", [])  # nothing written: nobody called
    assert calls == [("first", uow, 2), ("second", uow, 2)]
    assert reg.consumers == {}  # none of them is delivered after commit


def test_backoff_doubles_up_to_five_minutes():
    assert [feed.backoff(n) for n in (1, 2, 3)] == [timedelta(seconds=s) for s in (1, 2, 4)]
    assert feed.backoff(30) == timedelta(minutes=5)


def test_exposition_text_escapes_labels_and_writes_numbers_plainly():
    text = render(
        [
            Family("x_behind", "gauge", "Rows behind.", [({"consumer": 'a"b\\c\nd', "source": "s"}, 3.0)]),
            Family("x_total", "counter", "Done.", [({}, 2.5), ({"k": "v"}, float("inf"))]),
        ]
    )
    assert text.splitlines() == [
        "# HELP x_behind Rows behind.",
        "# TYPE x_behind gauge",
        'x_behind{consumer="a\\"b\\\\c\\nd",source="s"} 3',
        "# HELP x_total Done.",
        "# TYPE x_total counter",
        "x_total 2.5",
        'x_total{k="v"} +Inf',
    ]
    assert text.endswith("\n")


def test_production_refuses_a_short_metrics_token():
    from helpline.settings import Settings

    base = {"environment": "production", "base_url": "https://help.example.com", "mail_transport": "smtp"}
    assert Settings(**base).problems() == []
    assert Settings(**base, metrics_token="x" * 32).problems() == []
    assert any("HELPLINE_METRICS_TOKEN" in p for p in Settings(**base, metrics_token="short").problems())
