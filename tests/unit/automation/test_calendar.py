"""The calendar maths on hand-worked cases, each checked against both the expected value written here
and the minute-by-minute walker (tests/unit/automation/walker.py), plus the body's validation."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from helpline.domains.automation import calendar as cal_
from helpline.domains.automation.calendar import Calendar, normalize_body
from helpline.errors import Invalid

from . import walker

BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")


def at(zone: ZoneInfo, y: int, mo: int, d: int, h: int = 0, mi: int = 0, fold: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=zone, fold=fold)


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


def body(tz: str, week: dict[str, list[list[str]]], holidays: list[dict[str, Any]] | None = None) -> Any:
    return {"timezone": tz, "week": week, "holidays": holidays or []}


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
LUNCH = body("Europe/Berlin", {d: [["09:00", "12:30"], ["13:30", "17:00"]] for d in WEEKDAYS})
OFFICE = body("Europe/Berlin", {d: [["09:00", "17:00"]] for d in WEEKDAYS})
EASTER_2027 = body(
    "Europe/Berlin",
    {d: [["09:00", "17:00"]] for d in WEEKDAYS},
    [
        {"name": "Good Friday", "start": "2027-03-26"},
        {"name": "Easter Monday", "start": "2027-03-29", "source": "holidays:DE-BY"},
    ],
)
EASTER_2027_ALL_DAY = {**EASTER_2027, "week": {d: [["00:00", "24:00"]] for d in cal_.DAYS}}
CHRISTMAS = {**OFFICE, "holidays": [{"name": "Christmas", "start": "2026-12-24", "end": "2026-12-26"}]}
ALL_DAY_BERLIN = body("Europe/Berlin", {d: [["00:00", "24:00"]] for d in cal_.DAYS})
ALL_DAY_NY = body("America/New_York", {d: [["00:00", "24:00"]] for d in cal_.DAYS})
LATE = body("Europe/Berlin", {"mon": [["20:00", "24:00"]], "tue": [["00:00", "04:00"]]})


def sunday(tz: str, *intervals: list[str]) -> Any:
    return body(tz, {"sun": [list(i) for i in intervals]})


# (name, body, a, b, expected business minutes in [a, b))
BETWEEN = [
    ("lunch break skipped", LUNCH, at(BERLIN, 2026, 6, 15, 11), at(BERLIN, 2026, 6, 15, 14), 120),
    ("whole day with lunch", LUNCH, at(BERLIN, 2026, 6, 15), at(BERLIN, 2026, 6, 16), 420),
    ("friday evening to monday", OFFICE, at(BERLIN, 2026, 6, 19, 16), at(BERLIN, 2026, 6, 22, 10), 120),
    ("saturday to monday", OFFICE, at(BERLIN, 2026, 6, 20, 10), at(BERLIN, 2026, 6, 22, 9, 30), 30),
    ("easter + DST, office", EASTER_2027, at(BERLIN, 2027, 3, 25, 12), at(BERLIN, 2027, 3, 30, 12), 480),
    # Thu 24 h, Good Friday 0, Sat 24, Sun 23 (clocks spring forward), Easter Monday 0, Tue 24.
    ("easter + DST, all day", EASTER_2027_ALL_DAY, at(BERLIN, 2027, 3, 25), at(BERLIN, 2027, 3, 31), 95 * 60),
    ("berlin spring night 23 h", ALL_DAY_BERLIN, at(BERLIN, 2026, 3, 29), at(BERLIN, 2026, 3, 30), 23 * 60),
    ("berlin autumn night 25 h", ALL_DAY_BERLIN, at(BERLIN, 2026, 10, 25), at(BERLIN, 2026, 10, 26), 25 * 60),
    ("new york spring night 23 h", ALL_DAY_NY, at(NEW_YORK, 2026, 3, 8), at(NEW_YORK, 2026, 3, 9), 23 * 60),
    ("new york autumn night 25 h", ALL_DAY_NY, at(NEW_YORK, 2026, 11, 1), at(NEW_YORK, 2026, 11, 2), 25 * 60),
    # 02:30 does not exist that night in Berlin: the window opens at 03:00 CEST (01:00 UTC).
    (
        "berlin start in gap",
        sunday("Europe/Berlin", ["02:30", "10:00"]),
        utc(2026, 3, 28),
        utc(2026, 3, 30),
        420,
    ),
    (
        "berlin window in gap",
        sunday("Europe/Berlin", ["02:00", "02:30"]),
        utc(2026, 3, 28),
        utc(2026, 3, 30),
        0,
    ),
    (
        "berlin end in gap",
        sunday("Europe/Berlin", ["01:30", "02:30"]),
        utc(2026, 3, 28),
        utc(2026, 3, 30),
        30,
    ),
    # 02:30-03:00 CEST, then the clock goes back and 02:30-04:00 CET.
    (
        "berlin start in repeat",
        sunday("Europe/Berlin", ["02:30", "04:00"]),
        utc(2026, 10, 24),
        utc(2026, 10, 26),
        120,
    ),
    (
        "berlin end in repeat",
        sunday("Europe/Berlin", ["01:00", "02:30"]),
        utc(2026, 10, 24),
        utc(2026, 10, 26),
        120,
    ),
    (
        "berlin repeated hour",
        sunday("Europe/Berlin", ["02:00", "03:00"]),
        utc(2026, 10, 24),
        utc(2026, 10, 26),
        120,
    ),
    (
        "new york edge in gap",
        sunday("America/New_York", ["02:15", "03:15"]),
        utc(2026, 3, 7),
        utc(2026, 3, 9),
        15,
    ),
    (
        "new york in repeat",
        sunday("America/New_York", ["01:15", "01:45"]),
        utc(2026, 10, 31),
        utc(2026, 11, 2),
        60,
    ),
    ("24:00 end runs into tuesday", LATE, at(BERLIN, 2026, 6, 15, 22), at(BERLIN, 2026, 6, 16, 2), 240),
    ("christmas closed", CHRISTMAS, at(BERLIN, 2026, 12, 23, 16), at(BERLIN, 2026, 12, 28, 10), 120),
    ("reversed span is zero", OFFICE, at(BERLIN, 2026, 6, 16, 12), at(BERLIN, 2026, 6, 15, 12), 0),
]


@pytest.mark.parametrize(("b", "a", "z", "expected"), [c[1:] for c in BETWEEN], ids=[c[0] for c in BETWEEN])
def test_between(b: Any, a: datetime, z: datetime, expected: int) -> None:
    cal = Calendar.from_body(b)
    assert walker.walk_between(b, a, z) == expected
    assert cal_.business_minutes_between(cal, a, z) == expected
    assert cal_.business_seconds_between(cal, a, z) == expected * 60


# (name, body, start, business minutes, expected due time)
ADD = [
    ("lunch break skipped", LUNCH, at(BERLIN, 2026, 6, 15, 11), 120, at(BERLIN, 2026, 6, 15, 14)),
    ("due at the lunch break", LUNCH, at(BERLIN, 2026, 6, 15, 11), 90, at(BERLIN, 2026, 6, 15, 12, 30)),
    ("full lunch day ends at 17:00", LUNCH, at(BERLIN, 2026, 6, 15, 9), 420, at(BERLIN, 2026, 6, 15, 17)),
    (
        "480 from 09:00 is 17:00 same day",
        OFFICE,
        at(BERLIN, 2026, 6, 15, 9),
        480,
        at(BERLIN, 2026, 6, 15, 17),
    ),
    (
        "481 from 09:00 is 09:01 next day",
        OFFICE,
        at(BERLIN, 2026, 6, 15, 9),
        481,
        at(BERLIN, 2026, 6, 16, 9, 1),
    ),
    ("early start waits for 09:00", OFFICE, at(BERLIN, 2026, 6, 15, 6), 480, at(BERLIN, 2026, 6, 15, 17)),
    ("friday evening", OFFICE, at(BERLIN, 2026, 6, 19, 18), 60, at(BERLIN, 2026, 6, 22, 10)),
    ("friday 16:00 + 60 is 17:00", OFFICE, at(BERLIN, 2026, 6, 19, 16), 60, at(BERLIN, 2026, 6, 19, 17)),
    ("saturday start", OFFICE, at(BERLIN, 2026, 6, 20, 10), 30, at(BERLIN, 2026, 6, 22, 9, 30)),
    ("easter + DST", EASTER_2027, at(BERLIN, 2027, 3, 25, 16), 120, at(BERLIN, 2027, 3, 30, 10)),
    ("created on christmas", CHRISTMAS, at(BERLIN, 2026, 12, 25, 10), 60, at(BERLIN, 2026, 12, 28, 10)),
    ("berlin spring night", ALL_DAY_BERLIN, at(BERLIN, 2026, 3, 29), 180, at(BERLIN, 2026, 3, 29, 4)),
    (
        "berlin autumn night",
        ALL_DAY_BERLIN,
        at(BERLIN, 2026, 10, 25),
        180,
        at(BERLIN, 2026, 10, 25, 2, fold=1),
    ),
    (
        "berlin start in gap",
        sunday("Europe/Berlin", ["02:30", "10:00"]),
        utc(2026, 3, 28),
        1,
        utc(2026, 3, 29, 1, 1),
    ),
    (
        "berlin repeat",
        sunday("Europe/Berlin", ["02:30", "04:00"]),
        utc(2026, 10, 24),
        45,
        utc(2026, 10, 25, 1, 45),
    ),
    (
        "new york autumn",
        sunday("America/New_York", ["01:15", "01:45"]),
        utc(2026, 11, 1),
        45,
        utc(2026, 11, 1, 6, 30),
    ),
    ("new york spring", ALL_DAY_NY, at(NEW_YORK, 2026, 3, 8, 1), 90, at(NEW_YORK, 2026, 3, 8, 3, 30)),
    ("24:00 end runs into tuesday", LATE, at(BERLIN, 2026, 6, 15, 23), 120, at(BERLIN, 2026, 6, 16, 1)),
    ("zero is the start itself", OFFICE, at(BERLIN, 2026, 6, 20, 10), 0, at(BERLIN, 2026, 6, 20, 10)),
]


@pytest.mark.parametrize(("b", "start", "minutes", "due"), [c[1:] for c in ADD], ids=[c[0] for c in ADD])
def test_add(b: Any, start: datetime, minutes: int, due: datetime) -> None:
    cal = Calendar.from_body(b)
    due = due.astimezone(UTC)  # an instant in a repeated hour compares equal only in one zone
    assert walker.walk_add(b, start, minutes) == due
    got = cal_.add_business_minutes(cal, start, minutes)
    assert got == due
    assert got is not None and got.tzinfo is UTC
    assert cal_.add_business_seconds(cal, start, minutes * 60) == due


def test_autumn_repeat_wall_clock() -> None:
    # 01:15 EDT + 30 business minutes of 01:15-01:45 ends at 01:45 EDT; 45 reach 01:30 EST (fold=1).
    cal = Calendar.from_body(sunday("America/New_York", ["01:15", "01:45"]))
    start = at(NEW_YORK, 2026, 11, 1, 1, 15)
    assert cal_.add_business_minutes(cal, start, 30) == at(NEW_YORK, 2026, 11, 1, 1, 45).astimezone(UTC)
    assert cal_.add_business_minutes(cal, start, 45) == at(NEW_YORK, 2026, 11, 1, 1, 30, fold=1).astimezone(
        UTC
    )
    assert cal_.add_business_minutes(cal, start, 45) == utc(2026, 11, 1, 6, 30)


def test_open_and_next_open() -> None:
    cal = Calendar.from_body(CHRISTMAS)
    assert cal_.is_open(cal, at(BERLIN, 2026, 12, 23, 16, 59))
    assert not cal_.is_open(cal, at(BERLIN, 2026, 12, 23, 17))  # windows are [start, end)
    assert not cal_.is_open(cal, at(BERLIN, 2026, 12, 24, 10))  # holiday
    assert cal_.next_open(cal, at(BERLIN, 2026, 12, 24, 10)) == at(BERLIN, 2026, 12, 28, 9)
    inside = at(BERLIN, 2026, 12, 28, 9, 30)
    assert cal_.next_open(cal, inside) == inside
    assert cal_.next_open(cal, inside).tzinfo is UTC  # type: ignore[union-attr]
    # New Year's Eve across the UTC year boundary.
    assert cal_.next_open(cal, at(BERLIN, 2026, 12, 31, 18)) == at(BERLIN, 2027, 1, 1, 9)


def test_never_open_gives_none_and_naive_is_refused() -> None:
    closed = Calendar.from_body(body("UTC", {}))
    assert cal_.add_business_minutes(closed, utc(2026, 1, 1), 1) is None
    assert cal_.next_open(closed, utc(2026, 1, 1)) is None
    assert cal_.business_minutes_between(closed, utc(2026, 1, 1), utc(2030, 1, 1)) == 0
    with pytest.raises(ValueError, match="aware"):
        cal_.is_open(cal_.ALWAYS_OPEN, datetime(2026, 1, 1))
    with pytest.raises(ValueError, match=">= 0"):
        cal_.add_business_seconds(cal_.ALWAYS_OPEN, utc(2026, 1, 1), -1)


def test_always_open_is_calendar_time_across_years() -> None:
    a, b = utc(2025, 12, 30, 12), utc(2028, 1, 2, 12)
    assert cal_.business_seconds_between(cal_.ALWAYS_OPEN, a, b) == (b - a).total_seconds()
    assert cal_.add_business_seconds(cal_.ALWAYS_OPEN, a, (b - a).total_seconds()) == b
    fraction = a + timedelta(microseconds=250)
    assert cal_.add_business_seconds(cal_.ALWAYS_OPEN, fraction, 1.5) == fraction + timedelta(seconds=1.5)


def test_calendar_is_hashable_and_equal_by_value() -> None:
    one, two = Calendar.from_body(CHRISTMAS), Calendar.from_body(CHRISTMAS)
    assert one == two and hash(one) == hash(two) and len({one, two}) == 1
    assert one.closed == frozenset({date(2026, 12, 24), date(2026, 12, 25), date(2026, 12, 26)})
    assert one.week[0] == ((540, 1020),) and one.week[5] == ()


def test_a_calendar_built_by_hand_may_list_intervals_in_any_order() -> None:
    by_hand = Calendar("Europe/Berlin", (((780, 840), (540, 800)),) + ((),) * 6)
    a, b = at(BERLIN, 2026, 6, 15), at(BERLIN, 2026, 6, 16)
    assert cal_.business_minutes_between(by_hand, a, b) == 300
    assert cal_.add_business_minutes(by_hand, a, 300) == at(BERLIN, 2026, 6, 15, 14)


def test_normalize_body_is_canonical() -> None:
    raw = {
        "timezone": " Europe/Berlin ",
        "week": {"mon": [["13:00", "14:00"], ["12:00", "13:00"], ["20:00", "24:00"]]},
        "holidays": [
            {"name": "Boxing Day ", "start": "2026-12-26", "enabled": False},
            {"name": "Christmas Day", "start": "2026-12-25", "end": "2026-12-25", "source": "holidays:DE"},
        ],
    }
    assert normalize_body(raw) == {
        "timezone": "Europe/Berlin",
        "week": {
            "mon": [["12:00", "13:00"], ["13:00", "14:00"], ["20:00", "24:00"]],
            **{d: [] for d in cal_.DAYS[1:]},
        },
        "holidays": [
            {
                "name": "Christmas Day",
                "start": "2026-12-25",
                "end": "2026-12-25",
                "enabled": True,
                "source": "holidays:DE",
            },
            {"name": "Boxing Day", "start": "2026-12-26", "end": "2026-12-26", "enabled": False},
        ],
    }
    # A disabled holiday stays in the body but does not close the day.
    assert Calendar.from_body(raw).closed == frozenset({date(2026, 12, 25)})


def _week(**days: list[list[str]]) -> Any:
    return body("Europe/Berlin", dict(days))


INVALID = [
    (_week(mon=[["09:00", "12:00"], ["09:30", "10:00"]]), "week.mon[1]", "09:30-10:00 overlaps 09:00-12:00"),
    (
        _week(tue=[["09:30", "10:00"], ["08:00", "09:00"], ["09:00", "12:00"]]),
        "week.tue[2]",
        "overlaps 09:30",
    ),
    (_week(wed=[["25:00", "26:00"]]), "week.wed[0]", "'25:00' is not a time of day"),
    (_week(wed=[["9:00", "17:00"]]), "week.wed[0]", "'9:00' is not a time of day"),
    (_week(wed=[["09:00", "17:60"]]), "week.wed[0]", "'17:60' is not a time of day"),
    (_week(thu=[["24:00", "24:00"]]), "week.thu[0]", "24:00 can only end an interval"),
    (_week(fri=[["17:00", "09:00"]]), "week.fri[0]", "start 17:00 is not before end 09:00"),
    (_week(fri=[["09:00"]]), "week.fri[0]", "must be a pair"),
    (_week(sat=[["09:00", "10:00"]] * 21), "week.sat", "at most 20"),
    (_week(monday=[]), "week.monday", "is not a weekday"),
    (body("Mars/Olympus", {}), "timezone", "is not an IANA time zone, such as Europe/Berlin"),
    (
        body("Europe/Berlin", {}, [{"name": "X", "start": "2026-12-26", "end": "2026-12-25"}]),
        "holidays[0].end",
        "is before start",
    ),
    (body("Europe/Berlin", {}, [{"name": " ", "start": "2026-12-26"}]), "holidays[0].name", "is required"),
    (body("Europe/Berlin", {}, [{"name": "X" * 201, "start": "2026-12-26"}]), "holidays[0].name", "200"),
    (body("Europe/Berlin", {}, [{"name": "X", "start": "2026-02-30"}]), "holidays[0].start", "is not a date"),
    (
        body("Europe/Berlin", {}, [{"name": "X", "start": "2026-12-26", "enabled": "yes"}]),
        "holidays[0].enabled",
        "true or false",
    ),
    (
        body("Europe/Berlin", {}, [{"name": "X", "start": "2026-12-26", "date": "x"}]),
        "holidays[0].date",
        "is not a holiday field",
    ),
    (body("Europe/Berlin", {}, [{"name": "X", "start": "2026-12-26"}] * 1001), "holidays", "at most 1000"),
    ({**OFFICE, "weeks": {}}, "weeks", "is not a schedule field"),
]


@pytest.mark.parametrize(("raw", "field", "message"), INVALID)
def test_invalid_bodies_name_the_field(raw: Any, field: str, message: str) -> None:
    with pytest.raises(Invalid) as caught:
        normalize_body(raw)
    assert caught.value.errors[0]["field"] == field
    assert message in caught.value.errors[0]["message"]
    with pytest.raises(Invalid):
        Calendar.from_body(raw)


def test_touching_intervals_are_fine() -> None:
    week = normalize_body(_week(mon=[["13:00", "14:00"], ["12:00", "13:00"]]))["week"]
    assert week["mon"] == [["12:00", "13:00"], ["13:00", "14:00"]]
    cal = Calendar.from_body(_week(mon=[["13:00", "14:00"], ["12:00", "13:00"]]))
    assert cal_.add_business_minutes(cal, at(BERLIN, 2026, 6, 15, 12), 120) == at(BERLIN, 2026, 6, 15, 14)
