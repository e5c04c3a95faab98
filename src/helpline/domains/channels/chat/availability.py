"""Is a widget open now? Its weekly schedule in its time zone, and whether any agent is available."""

from __future__ import annotations

import re
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from helpline.db.base import utcnow

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


_HM = re.compile(r"(?:[01]\d|2[0-3]):[0-5]\d")


def _hm(value: str) -> time:
    """``HH:MM`` from 00:00 to 24:00 (the end of the day); ValueError for anything else."""
    if value == "24:00":
        return time(23, 59, 59)
    if not _HM.fullmatch(value):
        raise ValueError(f"{value!r} is not a time: write HH:MM, from 00:00 to 24:00")
    return time(int(value[:2]), int(value[3:]))


def check_schedule(schedule: Any) -> dict[str, list[list[str]]]:
    """A schedule as stored: ``{"mon": [["09:00", "17:30"]], …}``; raises ValueError on anything else."""
    if not isinstance(schedule, dict):
        raise ValueError("schedule must be an object of days")
    out: dict[str, list[list[str]]] = {}
    for day, spans in schedule.items():
        if day not in DAYS or not isinstance(spans, list):
            raise ValueError(f"unknown day {day!r} (use {', '.join(DAYS)})")
        for span in spans:
            if not (isinstance(span, list) and len(span) == 2 and all(isinstance(s, str) for s in span)):
                raise ValueError('each opening is ["HH:MM", "HH:MM"]')
            _hm(span[0]), _hm(span[1])
        out[day] = [[s[0], s[1]] for s in spans]
    return out


def in_hours(widget: dict[str, Any], now: datetime | None = None) -> bool:
    """Within the widget's opening hours (an empty schedule is always open)."""
    schedule = widget.get("schedule") or {}
    if not schedule:
        return True
    try:
        tz = ZoneInfo(widget.get("timezone") or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo("UTC")
    local = (now or utcnow()).astimezone(tz)
    for start, end in schedule.get(DAYS[local.weekday()], []):
        try:
            if _hm(start) <= local.time() < _hm(end):
                return True
        except ValueError:
            continue
    return False


def offers_chat(widget: dict[str, Any], agents_online: int, now: datetime | None = None) -> bool:
    """Chat is offered within opening hours while at least one agent is available; otherwise the
    widget shows the offline form (which becomes an email ticket)."""
    return agents_online > 0 and in_hours(widget, now)
