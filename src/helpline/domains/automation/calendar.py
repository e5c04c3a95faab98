"""Business time: the schedule body, and counting or adding business seconds between UTC instants.

Pure (no I/O): the schedules API and pages call :func:`normalize_body` on save, the SLA engine calls
:func:`business_seconds_between`, :func:`add_business_seconds`, :func:`is_open` and :func:`next_open`
on a :class:`Calendar` built once per schedule version (``Calendar.from_body``).

**The definition.** Time is counted in real elapsed time. A UTC instant is business time iff its local
wall-clock time (``t.astimezone(ZoneInfo(timezone))``) falls inside one of the half-open intervals
``[start, end)`` of its local date's weekday, and that local date is not an enabled holiday.
Consequences on daylight-saving nights: the repeated local hour of the autumn night counts twice when
it is inside a window (00:00-24:00 then holds 25 hours), the skipped hour of the spring night does not
exist (23 hours). A window edge inside the skipped hour simply has no instant: 02:30-10:00 on a
Berlin spring night starts at 03:00 CEST; a window 02:00-02:30 on that night is empty. A window edge
in the repeated hour is met twice: 02:30-04:00 on the Berlin autumn night opens at 02:30 CEST, closes
at 03:00 CEST (the clock goes back to 02:00), reopens at 02:30 CET and closes at 04:00 CET.

**Adding.** ``add_business_seconds(cal, start, s)`` is the earliest instant ``t >= start`` with
``business_seconds_between(cal, start, t) == s``: a due time may equal the end of a window (09:00 +
480 business minutes on a 09:00-17:00 day is 17:00 that day, not 09:00 the next morning) and, for
``s > 0``, never lies in closed time. ``s == 0`` gives ``start``. ``None`` when the target cannot be
reached within ten years (a schedule with no open time at all).

**How.** Per calendar and per UTC year, the UTC timeline is split at the zone's offset transitions
(found by sampling ``utcoffset`` every six hours and bisecting to the second); each constant-offset
segment is intersected with the local windows of the dates it covers. The year's business time is a
sorted list of UTC intervals with cumulative seconds, so both operations are two bisections. Inputs
must be aware datetimes (``ValueError`` otherwise); outputs are UTC.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from helpline import timezones
from helpline.errors import Invalid

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_INTERVALS_PER_DAY = 20
MAX_HOLIDAYS = 1000
MAX_HOLIDAY_DAYS = 366
#: How far ahead ``add_*`` and ``next_open`` look before answering ``None``.
HORIZON_YEARS = 10

_TIME = re.compile(r"(\d\d):(\d\d)")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_BODY_KEYS = ("timezone", "week", "holidays")
_HOLIDAY_KEYS = ("name", "start", "end", "enabled", "source")
_EPOCH_ORD = date(1970, 1, 1).toordinal()
_DAY = 86400
_FIRST_YEAR, _LAST_YEAR = 1800, 2500  # the years counted lie strictly between
_YEAR_STARTS = [(date(y, 1, 1).toordinal() - _EPOCH_ORD) * _DAY for y in range(_FIRST_YEAR, _LAST_YEAR + 1)]
_YEAR_SECONDS = 31_556_952  # an average Gregorian year


# --- the body ---------------------------------------------------------------------------------


def _minute(text: Any, path: str, what: str, *, end: bool) -> int:
    m = _TIME.fullmatch(text) if isinstance(text, str) else None
    if m is None or int(m[2]) > 59 or int(m[1]) > 24 or (int(m[1]) == 24 and m[2] != "00"):
        raise Invalid(path, f"{what} {text!r} is not a time of day; write HH:MM from 00:00 to 24:00")
    value = int(m[1]) * 60 + int(m[2])
    if value == 1440 and not end:
        raise Invalid(path, "24:00 can only end an interval; start the day at 00:00")
    return value


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _day(raw: Any, path: str) -> list[tuple[int, int]]:
    if not isinstance(raw, list | tuple):
        raise Invalid(path, 'must be a list of ["HH:MM", "HH:MM"] intervals')
    if len(raw) > MAX_INTERVALS_PER_DAY:
        raise Invalid(path, f"has {len(raw)} intervals; at most {MAX_INTERVALS_PER_DAY} a day")
    spans: list[tuple[int, int, int]] = []
    for i, pair in enumerate(raw):
        where = f"{path}[{i}]"
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise Invalid(where, 'must be a pair of times such as ["09:00", "17:00"]')
        start = _minute(pair[0], where, "start", end=False)
        end = _minute(pair[1], where, "end", end=True)
        if start >= end:
            raise Invalid(where, f"start {_hhmm(start)} is not before end {_hhmm(end)}")
        spans.append((start, end, i))
    spans.sort()
    widest: tuple[int, int, int] | None = None  # the sorted-so-far interval reaching furthest
    for span in spans:
        if widest is not None and span[0] < widest[1]:
            late, early = (span, widest) if span[2] > widest[2] else (widest, span)
            raise Invalid(
                f"{path}[{late[2]}]",
                f"{_hhmm(late[0])}-{_hhmm(late[1])} overlaps {_hhmm(early[0])}-{_hhmm(early[1])}",
            )
        if widest is None or span[1] > widest[1]:
            widest = span
    return [(s, e) for s, e, _ in spans]


def _date(raw: Any, path: str) -> date:
    if isinstance(raw, str) and _DATE.fullmatch(raw):
        try:
            return date.fromisoformat(raw)
        except ValueError:
            pass
    raise Invalid(path, f"{raw!r} is not a date; write YYYY-MM-DD such as 2026-12-25")


def _holiday(raw: Any, path: str) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise Invalid(path, "must be an object with name, start and optionally end, enabled, source")
    for key in raw:
        if key not in _HOLIDAY_KEYS:
            raise Invalid(f"{path}.{key}", "is not a holiday field; use name, start, end, enabled, source")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise Invalid(f"{path}.name", "is required")
    if len(name.strip()) > 200:
        raise Invalid(f"{path}.name", "is longer than 200 characters")
    start = _date(raw.get("start"), f"{path}.start")
    end = start if raw.get("end") is None else _date(raw["end"], f"{path}.end")
    if end < start:
        raise Invalid(f"{path}.end", f"{end.isoformat()} is before start {start.isoformat()}")
    if (end - start).days >= MAX_HOLIDAY_DAYS:
        raise Invalid(f"{path}.end", f"a holiday lasts at most {MAX_HOLIDAY_DAYS} days")
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise Invalid(f"{path}.enabled", "must be true or false")
    out: dict[str, Any] = {"name": name.strip(), "start": start.isoformat(), "end": end.isoformat()}
    out["enabled"] = enabled
    source = raw.get("source")
    if source is not None:
        if not isinstance(source, str) or len(source) > 200:
            raise Invalid(f"{path}.source", "must be text of at most 200 characters")
        out["source"] = source
    return out


def normalize_body(body: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical schedule body, or :class:`Invalid` naming the field at fault.

    Canonical: every weekday key present (missing = closed), each day's intervals sorted, holidays
    sorted by (start, end, name) with ``end`` and ``enabled`` filled in, names stripped. Field paths:
    ``timezone``, ``week.mon``, ``week.mon[1]`` (any fault of that interval), ``holidays``,
    ``holidays[3].end``.
    """
    if not isinstance(body, Mapping):
        raise Invalid("body", "must be an object with timezone, week and holidays")
    for key in body:
        if key not in _BODY_KEYS:
            raise Invalid(str(key), "is not a schedule field; use timezone, week and holidays")
    tz = body.get("timezone")
    if not isinstance(tz, str) or tz.strip() not in timezones.names():
        raise Invalid("timezone", f"{tz!r} is not an IANA time zone, such as Europe/Berlin")
    week_raw = body.get("week", {})
    if not isinstance(week_raw, Mapping):
        raise Invalid("week", "must be an object with the keys mon, tue, wed, thu, fri, sat, sun")
    for key in week_raw:
        if key not in DAYS:
            raise Invalid(f"week.{key}", "is not a weekday; use mon, tue, wed, thu, fri, sat, sun")
    week = {d: [[_hhmm(s), _hhmm(e)] for s, e in _day(week_raw.get(d, []), f"week.{d}")] for d in DAYS}
    holidays_raw = body.get("holidays", [])
    if not isinstance(holidays_raw, list | tuple):
        raise Invalid("holidays", "must be a list of holidays")
    if len(holidays_raw) > MAX_HOLIDAYS:
        raise Invalid("holidays", f"has {len(holidays_raw)} entries; at most {MAX_HOLIDAYS}")
    holidays = [_holiday(h, f"holidays[{i}]") for i, h in enumerate(holidays_raw)]
    holidays.sort(key=lambda h: (h["start"], h["end"], h["name"]))
    return {"timezone": tz.strip(), "week": week, "holidays": holidays}


# --- the calendar -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Calendar:
    """A schedule ready for counting: its zone, Mon..Sun (start_minute, end_minute) intervals, and
    the dates of its enabled holidays. Hashable; its per-year index is built lazily and shared by
    equal calendars."""

    timezone: str
    week: tuple[tuple[tuple[int, int], ...], ...]
    closed: frozenset[date] = frozenset()
    _memo: dict[str, _Index] = field(default_factory=dict, init=False, repr=False, compare=False, hash=False)

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Calendar:
        """The calendar of a schedule body (normalized first, so :class:`Invalid` on a bad one)."""
        norm = normalize_body(body)
        week = tuple(
            tuple((_minute(s, "", "", end=False), _minute(e, "", "", end=True)) for s, e in norm["week"][d])
            for d in DAYS
        )
        closed: set[date] = set()
        for h in norm["holidays"]:
            if h["enabled"]:
                day, last = date.fromisoformat(h["start"]), date.fromisoformat(h["end"])
                while day <= last:
                    closed.add(day)
                    day += timedelta(days=1)
        return cls(norm["timezone"], week, frozenset(closed))

    def _index(self) -> _Index:
        index = self._memo.get("i")
        if index is None:
            index = self._memo["i"] = _shared_index(self)
        return index


#: Open all day, every day, in UTC: business time equals calendar time.
ALWAYS_OPEN = Calendar("UTC", (((0, 1440),),) * 7)


@lru_cache(maxsize=512)
def _shared_index(cal: Calendar) -> _Index:
    return _Index(cal)


@lru_cache(maxsize=1024)
def _segments(tz: str, year: int) -> list[tuple[int, int, int]]:
    """The UTC year cut at the zone's offset changes: ``(start, end, offset)`` in seconds."""
    zone = ZoneInfo(tz)

    def offset(u: int) -> int:
        delta = datetime.fromtimestamp(u, zone).utcoffset()
        assert delta is not None
        return int(delta.total_seconds())

    lo, hi = _YEAR_STARTS[year - _FIRST_YEAR], _YEAR_STARTS[year - _FIRST_YEAR + 1]
    out: list[tuple[int, int, int]] = []
    start, current = lo, offset(lo)
    probe = lo  # invariant: offset(probe) == current
    while probe < hi:
        nxt = min(probe + 6 * 3600, hi)
        q = nxt if nxt < hi else hi - 1
        if q > probe and offset(q) != current:
            a, b = probe, q
            while b - a > 1:  # the first second of the new offset
                mid = (a + b) // 2
                a, b = (mid, b) if offset(mid) == current else (a, mid)
            out.append((start, b, current))
            start, current = b, offset(b)
            probe = b
            continue
        probe = nxt
    out.append((start, hi, current))
    return [s for s in out if s[1] > s[0]]


# starts, ends, cumulative business seconds at each end (floats: a float bisects fastest among floats)
_Year = tuple[list[float], list[float], list[float]]


class _Index:
    """Per UTC year: sorted merged business intervals ``starts``/``ends`` and cumulative seconds."""

    def __init__(self, cal: Calendar) -> None:
        self.cal = cal
        self.closed = {d.toordinal() - _EPOCH_ORD for d in cal.closed}
        self.years: dict[int, _Year] = {}

    def year(self, year: int) -> _Year:
        built = self.years.get(year)
        if built is None:
            built = self.years[year] = self._build(year)
        return built

    def _build(self, year: int) -> _Year:
        week, closed = self.cal.week, self.closed
        pieces: list[tuple[int, int]] = []
        for seg_start, seg_end, off in _segments(self.cal.timezone, year):
            for day in range((seg_start + off) // _DAY, (seg_end + off - 1) // _DAY + 1):
                if day in closed:
                    continue
                base = day * _DAY - off
                for m0, m1 in week[(day + 3) % 7]:  # 1970-01-01 was a Thursday
                    a, b = max(base + m0 * 60, seg_start), min(base + m1 * 60, seg_end)
                    if a < b:
                        pieces.append((a, b))
        pieces.sort()  # already sorted for a normalized week; a Calendar built by hand may not be
        starts: list[float] = []
        ends: list[float] = []
        for a, b in pieces:
            if ends and a <= ends[-1]:
                ends[-1] = max(ends[-1], b)
            else:
                starts.append(float(a))
                ends.append(float(b))
        cum: list[float] = []
        total = 0.0
        for a_, b_ in zip(starts, ends, strict=True):
            total += b_ - a_
            cum.append(total)
        return starts, ends, cum


def _upto(entry: _Year, ts: float) -> float:
    """Business seconds from the start of the entry's UTC year to ``ts`` (inside that year)."""
    starts, ends, cum = entry
    i = bisect_right(starts, ts) - 1
    if i < 0:
        return 0.0
    end = ends[i]
    return cum[i] - (end - ts) if ts < end else cum[i]


def _total(entry: _Year) -> float:
    cum = entry[2]
    return cum[-1] if cum else 0.0


def _ts(t: datetime, name: str) -> tuple[float, int]:
    """``t`` as a POSIX timestamp, and its UTC year."""
    if t.tzinfo is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, not a naive one")
    ts = t.timestamp()
    i = int(ts // _YEAR_SECONDS) + (1970 - _FIRST_YEAR)  # off by one at most, near a new year
    if 0 < i < len(_YEAR_STARTS) - 2:
        if ts < _YEAR_STARTS[i]:
            i -= 1
        elif ts >= _YEAR_STARTS[i + 1]:
            i += 1
        year = _FIRST_YEAR + i
        if _FIRST_YEAR < year < _LAST_YEAR:
            return ts, year
    raise ValueError(f"{name} is outside the years {_FIRST_YEAR + 1}-{_LAST_YEAR - 1}")


def _at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def business_seconds_between(cal: Calendar, a: datetime, b: datetime) -> float:
    """Business seconds in ``[a, b)``; 0 when ``b <= a``."""
    ta, ya = _ts(a, "a")
    tb, yb = _ts(b, "b")
    if tb <= ta:
        return 0.0
    index = cal._index()
    first = index.years.get(ya) or index.year(ya)
    if ya == yb:
        return _upto(first, tb) - _upto(first, ta)
    last = index.years.get(yb) or index.year(yb)
    total = _total(first) - _upto(first, ta) + _upto(last, tb)
    return total + sum(_total(index.year(y)) for y in range(ya + 1, yb))


def business_minutes_between(cal: Calendar, a: datetime, b: datetime) -> float:
    """Business minutes in ``[a, b)``; 0 when ``b <= a``."""
    return business_seconds_between(cal, a, b) / 60


def add_business_seconds(cal: Calendar, start: datetime, seconds: float) -> datetime | None:
    """The earliest instant ``t >= start`` with ``seconds`` business seconds in ``[start, t)``."""
    ts, year = _ts(start, "start")
    if not 0 <= seconds < math.inf:
        raise ValueError("seconds must be a finite number >= 0")
    if seconds == 0:
        return start.astimezone(UTC)
    index = cal._index()
    entry = index.years.get(year) or index.year(year)
    need = _upto(entry, ts) + seconds
    for y in range(year, min(year + HORIZON_YEARS + 1, _LAST_YEAR)):
        _starts, ends, cum = entry if y == year else index.year(y)
        if cum and need <= cum[-1]:
            i = bisect_left(cum, need)
            return _at(ends[i] - (cum[i] - need))
        need -= cum[-1] if cum else 0
    return None


def timestamp(t: datetime) -> float:
    """``t`` as a POSIX timestamp (``ValueError`` on a naive or out-of-range one), for the float
    forms below."""
    return _ts(t, "t")[0]


def business_seconds_between_ts(cal: Calendar, ta: float, tb: float) -> float:
    """:func:`business_seconds_between` on timestamps that :func:`timestamp` gave (the same
    arithmetic)."""
    return 0.0 if tb <= ta else _between(cal, ta, tb)


def add_business_seconds_ts(cal: Calendar, ts: float, seconds: float) -> float | None:
    """:func:`add_business_seconds` on a timestamp that :func:`timestamp` gave, for ``seconds > 0``
    (the same arithmetic); ``None`` past the horizon."""
    year = _year(ts)
    index = cal._index()
    entry = index.years.get(year) or index.year(year)
    need = _upto(entry, ts) + seconds
    for y in range(year, min(year + HORIZON_YEARS + 1, _LAST_YEAR)):
        _starts, ends, cum = entry if y == year else index.year(y)
        if cum and need <= cum[-1]:
            i = bisect_left(cum, need)
            return ends[i] - (cum[i] - need)
        need -= cum[-1] if cum else 0
    return None


def _year(ts: float) -> int:
    i = int(ts // _YEAR_SECONDS) + (1970 - _FIRST_YEAR)
    if ts < _YEAR_STARTS[i]:
        i -= 1
    elif ts >= _YEAR_STARTS[i + 1]:
        i += 1
    return _FIRST_YEAR + i


def _between(cal: Calendar, ta: float, tb: float) -> float:
    ya, yb = _year(ta), _year(tb)
    index = cal._index()
    first = index.years.get(ya) or index.year(ya)
    if ya == yb:
        return _upto(first, tb) - _upto(first, ta)
    last = index.years.get(yb) or index.year(yb)
    total = _total(first) - _upto(first, ta) + _upto(last, tb)
    return total + sum(_total(index.year(y)) for y in range(ya + 1, yb))


def add_business_minutes(cal: Calendar, start: datetime, minutes: float) -> datetime | None:
    """The earliest instant ``t >= start`` with ``minutes`` business minutes in ``[start, t)``."""
    return add_business_seconds(cal, start, minutes * 60)


def is_open(cal: Calendar, t: datetime) -> bool:
    """Whether the instant ``t`` is business time."""
    ts, year = _ts(t, "t")
    index = cal._index()
    starts, ends, _cum = index.years.get(year) or index.year(year)
    i = bisect_right(starts, ts) - 1
    return i >= 0 and ts < ends[i]


def next_open(cal: Calendar, t: datetime) -> datetime | None:
    """``t`` (in UTC) if it is business time, else the next instant that is; ``None`` past ten years."""
    ts, year = _ts(t, "t")
    index = cal._index()
    for y in range(year, min(year + HORIZON_YEARS + 1, _LAST_YEAR)):
        starts, ends, _cum = index.year(y)
        i = bisect_right(starts, ts) - 1
        if i >= 0 and ts < ends[i]:
            return t.astimezone(UTC)
        if i + 1 < len(starts):
            return _at(starts[i + 1])
    return None
