"""Random schedules, holidays and instants around daylight-saving changes (and a UTC new year): the
calendar agrees with the minute-by-minute walker, and adding and counting are each other's inverse."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpline.domains.automation import calendar as cal_
from helpline.domains.automation.calendar import Calendar

from . import walker

#: (zone, a UTC instant near one of its offset changes).
ANCHORS = [
    ("Europe/Berlin", datetime(2026, 3, 29, 1, tzinfo=UTC)),
    ("Europe/Berlin", datetime(2026, 10, 25, 1, tzinfo=UTC)),
    ("Europe/Berlin", datetime(2027, 1, 1, tzinfo=UTC)),
    ("America/New_York", datetime(2026, 3, 8, 7, tzinfo=UTC)),
    ("America/New_York", datetime(2026, 11, 1, 6, tzinfo=UTC)),
    ("America/New_York", datetime(2027, 1, 1, 2, tzinfo=UTC)),
    ("Australia/Lord_Howe", datetime(2026, 4, 4, 15, tzinfo=UTC)),  # 30-minute daylight saving
    ("Australia/Lord_Howe", datetime(2026, 10, 3, 15, 30, tzinfo=UTC)),
    ("America/Santiago", datetime(2026, 4, 5, 3, tzinfo=UTC)),  # changes at local midnight
    ("America/Santiago", datetime(2026, 9, 6, 4, tzinfo=UTC)),
    ("Asia/Kathmandu", datetime(2026, 6, 1, tzinfo=UTC)),  # +05:45, no daylight saving
    ("Asia/Kathmandu", datetime(2027, 1, 1, tzinfo=UTC)),
    ("UTC", datetime(2027, 1, 1, tzinfo=UTC)),
]
#: Minutes of the day where the zones above change their clocks, and the day's ends.
EDGES = [0, 30, 60, 90, 120, 150, 180, 210, 1380, 1410, 1440]
PROPS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


@st.composite
def day(draw: st.DrawFn) -> list[list[str]]:
    edge = st.one_of(st.sampled_from(EDGES), st.integers(0, 1440))
    points = sorted(draw(st.lists(edge, max_size=6)))
    pairs = [(points[i], points[i + 1]) for i in range(0, len(points) - 1, 2)]
    return [[hhmm(a), hhmm(b)] for a, b in pairs if a < b]


@st.composite
def case(draw: st.DrawFn) -> tuple[dict[str, Any], datetime]:
    """A schedule body and an anchor instant near one of its zone's offset changes."""
    tz, anchor = draw(st.sampled_from(ANCHORS))
    week = {d: draw(day()) for d in cal_.DAYS}
    holidays = []
    for i in range(draw(st.integers(0, 3))):
        start = anchor.date() + timedelta(days=draw(st.integers(-4, 4)))
        holiday: dict[str, Any] = {"name": f"holiday {i}", "start": start.isoformat()}
        if draw(st.booleans()):
            holiday["end"] = (start + timedelta(days=draw(st.integers(0, 2)))).isoformat()
        if draw(st.booleans()):
            holiday["enabled"] = draw(st.booleans())
        holidays.append(holiday)
    return {"timezone": tz, "week": week, "holidays": holidays}, anchor


def near(anchor: datetime, draw: st.DrawFn, days: int = 3) -> datetime:
    return anchor + timedelta(minutes=draw(st.integers(-days * 1440, days * 1440)))


@PROPS
@given(case(), st.data())
def test_between_agrees_with_the_walker(c: tuple[dict[str, Any], datetime], data: st.DataObject) -> None:
    body, anchor = c
    a = near(anchor, data.draw)
    b = a + timedelta(minutes=data.draw(st.integers(-60, 4 * 1440)))
    cal = Calendar.from_body(body)
    assert cal_.business_minutes_between(cal, a, b) == walker.walk_between(body, a, b)


@PROPS
@given(case(), st.data())
def test_add_agrees_with_the_walker(c: tuple[dict[str, Any], datetime], data: st.DataObject) -> None:
    body, anchor = c
    start = near(anchor, data.draw)
    minutes = data.draw(st.one_of(st.integers(0, 120), st.integers(0, 3000)))
    cal = Calendar.from_body(body)
    expected = walker.walk_add(body, start, minutes, limit_days=10)
    got = cal_.add_business_minutes(cal, start, minutes)
    if expected is None:  # not reached within the walk: the calendar needs longer, or never gets there
        assert got is None or got > start + timedelta(days=10)
    else:
        assert got == expected


@settings(max_examples=120, deadline=None)
@given(case(), st.data())
def test_add_and_between_are_inverse(c: tuple[dict[str, Any], datetime], data: st.DataObject) -> None:
    body, anchor = c
    cal = Calendar.from_body(body)
    start = near(anchor, data.draw)
    t = start + timedelta(minutes=data.draw(st.integers(0, 20 * 1440)))
    used = cal_.business_seconds_between(cal, start, t)
    due = cal_.add_business_seconds(cal, start, used)
    assert due is not None and start <= due <= t
    assert cal_.business_seconds_between(cal, start, due) == used
    seconds = data.draw(st.integers(1, 5000)) * 60
    due = cal_.add_business_seconds(cal, start, seconds)
    if due is not None:
        assert cal_.business_seconds_between(cal, start, due) == seconds
        # The earliest such instant: the second before it is business time (never in closed time).
        assert cal_.is_open(cal, due - timedelta(seconds=1))
        assert cal_.business_seconds_between(cal, start, due - timedelta(seconds=1)) == seconds - 1
        # Splitting the target in two adds up to the same due time.
        part = data.draw(st.integers(0, seconds))
        middle = cal_.add_business_seconds(cal, start, part)
        assert middle is not None
        assert cal_.add_business_seconds(cal, middle, seconds - part) == due


@settings(max_examples=120, deadline=None)
@given(case(), st.data())
def test_open_and_next_open_agree_with_the_walker(
    c: tuple[dict[str, Any], datetime], data: st.DataObject
) -> None:
    body, anchor = c
    cal = Calendar.from_body(body)
    t = near(anchor, data.draw)
    assert cal_.is_open(cal, t) == walker.is_business_minute(body, t)
    after = cal_.next_open(cal, t)
    if after is not None:
        assert after >= t and cal_.is_open(cal, after)
        assert cal_.business_seconds_between(cal, t, after) == 0
        if after - t < timedelta(days=1):
            assert walker.is_business_minute(body, after)
            assert walker.walk_between(body, t, after) == 0
    else:
        assert not any(week for week in body["week"].values())


def test_holiday_dates_of_the_walker_are_its_own() -> None:
    # The oracle reads holidays itself: an inclusive range, a disabled one ignored.
    body = {
        "timezone": "UTC",
        "week": {d: [["00:00", "24:00"]] for d in cal_.DAYS},
        "holidays": [
            {"name": "a", "start": "2026-12-24", "end": "2026-12-26"},
            {"name": "b", "start": "2026-12-28", "enabled": False},
        ],
    }
    a, b = datetime(2026, 12, 24, tzinfo=UTC), datetime(2026, 12, 29, tzinfo=UTC)
    assert walker.walk_between(body, a, b) == 2 * 1440
    assert cal_.business_minutes_between(Calendar.from_body(body), a, b) == 2 * 1440
    assert date(2026, 12, 27).weekday() == 6
