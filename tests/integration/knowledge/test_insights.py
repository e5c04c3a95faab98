"""The insights page's deflection figures are counted by the database (``queries.deflection_by_week``),
per ISO week of the events' UTC time, on SQLite and PostgreSQL alike: checked against a plain-Python
count of the same steps, over weeks that cross ISO year boundaries (2020 had a week 53)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from helpline.domains.knowledge import queries
from helpline.domains.knowledge.models import DeflectionEvent

events = DeflectionEvent.__table__
KINDS = ["shown", "bot_answered", "opened", "solved", "abandoned", "submitted", "handover"]


def by_week_in_python(steps: list[tuple[datetime, str, str]]) -> list[dict[str, Any]]:
    """The definition, step by step: per ISO week, the visits that saw a suggestion or a bot answer
    (or said one solved it), and of those the solved, the abandoned without a request, the escalated."""
    weeks: dict[str, dict[str, set[str]]] = {}
    for created, visit, kind in steps:
        y, w, _ = created.isocalendar()
        wk = weeks.setdefault(
            f"{y}-W{w:02d}", {k: set() for k in ("seen", "solved", "abandoned", "escalated")}
        )
        if kind in ("shown", "bot_answered"):
            wk["seen"].add(visit)
        elif kind == "solved":
            wk["solved"].add(visit)
        elif kind == "abandoned":
            wk["abandoned"].add(visit)
        elif kind in ("submitted", "handover"):
            wk["escalated"].add(visit)
    out = []
    for week, s in sorted(weeks.items()):
        seen = s["seen"] | s["solved"]
        left = s["abandoned"] - s["escalated"]
        deflected = (s["solved"] | left) & seen
        out.append(
            {
                "week": week,
                "visits": len(seen),
                "solved": len(s["solved"] & seen),
                "abandoned": len(left & seen),
                "escalated": len(s["escalated"] & seen),
                "rate": round(100 * len(deflected) / len(seen), 1) if seen else 0.0,
            }
        )
    return out


async def _store(ws: Any, steps: list[tuple[datetime, str, str]]) -> None:
    async with ws.platform.db.transaction() as uow:
        await uow.execute(
            events.insert(),
            [
                {"workspace_id": ws.id, "visit": v, "kind": k, "source": "widget", "created_at": at}
                for at, v, k in steps
            ],
        )


async def test_a_week_counted_by_hand(ws: Any) -> None:
    monday = datetime(2024, 3, 4, 9, tzinfo=UTC)  # 2024-W10
    steps = [
        (monday, "a", "shown"),
        (monday, "a", "solved"),  # deflected
        (monday, "b", "shown"),
        (monday, "b", "abandoned"),  # left without a request: deflected
        (monday, "c", "bot_answered"),
        (monday, "c", "abandoned"),
        (monday, "c", "handover"),  # abandoned, then asked for a person: escalated
        (monday, "d", "opened"),  # saw nothing counted: not a visit
        (monday + timedelta(days=6, hours=14), "e", "shown"),  # Sunday 23:00 UTC: still W10
        (monday + timedelta(days=7), "f", "submitted"),  # W11: an event, no visit
    ]
    await _store(ws, steps)
    async with ws.platform.db.read() as conn:
        got = await queries.deflection_by_week(conn, ws.id, monday - timedelta(days=1))
    assert got == [
        {"week": "2024-W10", "visits": 4, "solved": 1, "abandoned": 1, "escalated": 1, "rate": 50.0},
        {"week": "2024-W11", "visits": 0, "solved": 0, "abandoned": 0, "escalated": 0, "rate": 0.0},
    ]
    assert got == by_week_in_python(steps)
    async with ws.platform.db.read() as conn:  # ``since`` leaves the older weeks out
        assert [
            w["week"] for w in await queries.deflection_by_week(conn, ws.id, monday + timedelta(days=7))
        ] == ["2024-W11"]


async def test_the_database_counts_what_python_counts_across_year_boundaries(ws: Any, make_ws: Any) -> None:
    rng = random.Random(12)
    start = datetime(2020, 12, 20, tzinfo=UTC)  # 2020-W51 … 2021-W02, 2021-12-26 (W51) … 2022-W01
    spans = [start, datetime(2021, 12, 24, tzinfo=UTC), datetime(2026, 12, 26, tzinfo=UTC)]
    steps = [
        (
            rng.choice(spans) + timedelta(seconds=rng.randrange(0, 21 * 86400)),
            f"v{rng.randrange(60)}",
            rng.choice(KINDS),
        )
        for _ in range(600)
    ]
    await _store(ws, steps)
    other = await make_ws("Other")
    await _store(other, steps[:50])  # another workspace's steps are not counted
    async with ws.platform.db.read() as conn:
        got = await queries.deflection_by_week(conn, ws.id, start)
    assert got == by_week_in_python(steps)
    assert {"2020-W53", "2021-W01", "2021-W52", "2022-W01"} <= {w["week"] for w in got}
