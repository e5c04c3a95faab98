"""The oracle for the calendar tests: a brute-force walk over UTC minutes, sharing no code with
``helpline.domains.automation.calendar``. Obviously correct, not fast.

A UTC minute ``[m, m + 1 min)`` is business time iff its first instant, converted with zoneinfo, has a
local wall-clock time inside one of the ``[start, end)`` intervals of its local weekday and its local
date is not an enabled holiday. Schedule edges and zone transitions fall on whole minutes, so the
whole minute shares the status of its first instant, and counting minutes is exact for minute-aligned
instants.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

DAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTE = timedelta(minutes=1)


def _clock(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _closed_days(body: dict[str, Any]) -> set[date]:
    days: set[date] = set()
    for holiday in body.get("holidays", []):
        if not holiday.get("enabled", True):
            continue
        day = date.fromisoformat(holiday["start"])
        last = date.fromisoformat(holiday.get("end") or holiday["start"])
        while day <= last:
            days.add(day)
            day += timedelta(days=1)
    return days


def is_business_minute(body: dict[str, Any], instant: datetime, closed: set[date] | None = None) -> bool:
    """Whether the UTC minute starting at ``instant`` is business time under ``body`` (``closed``: its
    holiday dates, when the caller has them already)."""
    local = instant.astimezone(ZoneInfo(body["timezone"]))
    if local.date() in (_closed_days(body) if closed is None else closed):
        return False
    now = local.hour * 60 + local.minute
    for start, end in body.get("week", {}).get(DAY_KEYS[local.weekday()], []):
        if _clock(start) <= now < _clock(end):
            return True
    return False


def _minutes(a: datetime, b: datetime) -> list[datetime]:
    assert a.second == 0 and a.microsecond == 0 and b.second == 0 and b.microsecond == 0
    out = []
    t = a.astimezone(UTC)
    while t < b:
        out.append(t)
        t += MINUTE
    return out


def walk_between(body: dict[str, Any], a: datetime, b: datetime) -> int:
    """Business minutes in ``[a, b)``, counted one UTC minute at a time."""
    closed = _closed_days(body)
    return sum(1 for t in _minutes(a, b) if is_business_minute(body, t, closed))


def walk_add(body: dict[str, Any], a: datetime, minutes: int, limit_days: int = 60) -> datetime | None:
    """The end of the UTC minute in which the ``minutes``-th business minute after ``a`` is used up
    (``a`` for 0); ``None`` if that takes more than ``limit_days``."""
    t = a.astimezone(UTC)
    assert t.second == 0 and t.microsecond == 0
    if minutes == 0:
        return t
    stop = t + timedelta(days=limit_days)
    used, closed = 0, _closed_days(body)
    while t < stop:
        if is_business_minute(body, t, closed):
            used += 1
            if used == minutes:
                return t + MINUTE
        t += MINUTE
    return None
