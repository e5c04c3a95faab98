"""Business-hours calendar: a STAND-IN holding only ``normalize_body``, written so the configuration
side (schedules, their API and pages) can run before the real module lands. The real
``automation/calendar.py`` (the maths, written in parallel) replaces this file at merge; callers use
nothing here but :func:`normalize_body`.

The body: ``{"timezone": IANA name, "week": {"mon": [["09:00", "12:30"], …], …, "sun": []},
"holidays": [{"name", "start", "end", "enabled", "source"}]}``. A holiday covers ``start`` up to, not
including, ``end`` (one day: ``end`` is the next day).
"""

from __future__ import annotations

import itertools
import re
from datetime import date
from typing import Any

from helpline import timezones
from helpline.errors import Invalid

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")
MAX_INTERVALS = 24
MAX_HOLIDAYS = 1000


def _minutes(value: Any, field: str) -> int:
    if not isinstance(value, str) or not _TIME.match(value):
        raise Invalid(field, "a time as HH:MM, 00:00 to 24:00")
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


def _day(value: Any, field: str) -> date:
    try:
        if isinstance(value, str) and len(value) == 10:
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise Invalid(field, "a date as YYYY-MM-DD")


def normalize_body(body: Any) -> dict[str, Any]:
    """``body`` checked and in its one form (intervals sorted, holidays with every key), or
    :class:`Invalid` naming the part at fault (``timezone``, ``week.mon[1]``, ``holidays[3].end``)."""
    if not isinstance(body, dict):
        raise Invalid("body", "an object with timezone, week and holidays")
    tz = body.get("timezone")
    if not isinstance(tz, str):
        raise Invalid("timezone", "an IANA time zone name such as Europe/Berlin")
    timezones.check(tz, "timezone")
    week_in = body.get("week", {})
    if not isinstance(week_in, dict) or set(week_in) - set(DAYS):
        raise Invalid("week", f"an object with the days {', '.join(DAYS)}")
    week: dict[str, list[list[str]]] = {}
    for day in DAYS:
        rows = week_in.get(day, [])
        if not isinstance(rows, list) or len(rows) > MAX_INTERVALS:
            raise Invalid(f"week.{day}", f"a list of at most {MAX_INTERVALS} [start, end] pairs")
        spans: list[tuple[int, int, int]] = []
        for i, pair in enumerate(rows):
            field = f"week.{day}[{i}]"
            if not isinstance(pair, list | tuple) or len(pair) != 2:
                raise Invalid(field, 'a pair [start, end] such as ["09:00", "17:00"]')
            start, end = _minutes(pair[0], field), _minutes(pair[1], field)
            if start >= 24 * 60:
                raise Invalid(field, "24:00 may only end an interval")
            if end <= start:
                raise Invalid(field, "the end must be after the start")
            spans.append((start, end, i))
        spans.sort()
        for (_, end_a, _), (start_b, _, i) in itertools.pairwise(spans):
            if start_b < end_a:
                raise Invalid(f"week.{day}[{i}]", "overlaps another interval of the day")
        week[day] = [[pair_of(s), pair_of(e)] for s, e, _ in spans]
    holidays_in = body.get("holidays", [])
    if not isinstance(holidays_in, list) or len(holidays_in) > MAX_HOLIDAYS:
        raise Invalid("holidays", f"a list of at most {MAX_HOLIDAYS} holidays")
    holidays: list[dict[str, Any]] = []
    for i, h in enumerate(holidays_in):
        field = f"holidays[{i}]"
        if not isinstance(h, dict):
            raise Invalid(field, "an object with name, start and end")
        name = h.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            raise Invalid(f"{field}.name", "a name of 1 to 200 characters")
        first = _day(h.get("start"), f"{field}.start")
        after = _day(h.get("end"), f"{field}.end")
        if after <= first:
            raise Invalid(f"{field}.end", "the day after the last day off (after the start)")
        enabled = h.get("enabled", True)
        if not isinstance(enabled, bool):
            raise Invalid(f"{field}.enabled", "true or false")
        source = h.get("source")
        if source is not None and (not isinstance(source, str) or len(source) > 100):
            raise Invalid(f"{field}.source", "a short text such as holidays:DE-BY")
        item: dict[str, Any] = {
            "name": name.strip(),
            "start": first.isoformat(),
            "end": after.isoformat(),
            "enabled": enabled,
        }
        if source:
            item["source"] = source
        holidays.append(item)
    holidays.sort(key=lambda h: (h["start"], h["end"], h["name"]))
    return {"timezone": tz, "week": week, "holidays": holidays}


def pair_of(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
