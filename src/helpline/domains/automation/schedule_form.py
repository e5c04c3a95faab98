"""The schedule admin form as data, with no web code: a body from the submitted fields and where each
part came from (so an error shows under its input), the rows a body shows as, its one-line summary."""

from __future__ import annotations

from datetime import date
from typing import Any

from helpline.domains.automation.schedules import ScheduleChanges
from helpline.errors import Invalid, Problem

DASH = "\u2013"


DAYS = [
    ("mon", "Monday"),
    ("tue", "Tuesday"),
    ("wed", "Wednesday"),
    ("thu", "Thursday"),
    ("fri", "Friday"),
    ("sat", "Saturday"),
    ("sun", "Sunday"),
]


SPARE_ROWS = 2


DEFAULT_BODY: dict[str, Any] = {
    "timezone": "UTC",
    "week": {d: ([["09:00", "17:00"]] if d not in ("sat", "sun") else []) for d, _ in DAYS},
    "holidays": [],
}


def summary(body: dict[str, Any]) -> str:
    """A line such as ``Mon\u2013Fri 09:00\u201317:00; Sat 10:00\u201314:00`` (en dashes)."""
    parts: list[tuple[list[str], str]] = []
    for day, _ in DAYS:
        hours = ", ".join(f"{a}{DASH}{b}" for a, b in body.get("week", {}).get(day, []))
        if not hours:
            continue
        if parts and parts[-1][1] == hours and _next(parts[-1][0][-1]) == day:
            parts[-1][0].append(day)
        else:
            parts.append(([day], hours))
    words = [
        (d[0].title() if len(d) == 1 else f"{d[0].title()}{DASH}{d[-1].title()}") + f" {h}" for d, h in parts
    ]
    return "; ".join(words) or "No hours"


def _next(day: str) -> str:
    keys = [d for d, _ in DAYS]
    return keys[(keys.index(day) + 1) % 7]


def _rows(body: dict[str, Any]) -> dict[str, list[tuple[str, str]]]:
    week = body.get("week", {})
    return {d: [(a, b) for a, b in week.get(d, [])] + [("", "")] * SPARE_ROWS for d, _ in DAYS}


def _holiday_rows(body: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for h in body.get("holidays", []):
        last = h.get("end") or h["start"]  # inclusive, as the calendar reads it
        rows.append({**h, "last": last})
    return [*rows, {"name": "", "start": "", "last": "", "enabled": True, "source": ""}]


def _parse(form: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The body the form describes, and where each of its parts came from (body field -> input)."""
    where: dict[str, str] = {}
    week: dict[str, list[list[str]]] = {}
    for day, _ in DAYS:
        week[day] = []
        for i in range(24 + SPARE_ROWS):
            start, end = (
                str(form.get(f"{day}_start_{i}", "")).strip(),
                str(form.get(f"{day}_end_{i}", "")).strip(),
            )
            if start or end:
                where[f"week.{day}[{len(week[day])}]"] = f"{day}_start_{i}"
                week[day].append([start, end])
    holidays: list[dict[str, Any]] = []
    for i in range(1000):
        if f"h_name_{i}" not in form:
            break
        name = str(form.get(f"h_name_{i}", "")).strip()
        start = str(form.get(f"h_start_{i}", "")).strip()
        last = str(form.get(f"h_last_{i}", "")).strip() or start
        if form.get(f"h_remove_{i}") or not (name or start):
            continue
        n = len(holidays)
        for part, field in (("name", "name"), ("start", "start"), ("end", "last"), ("enabled", "name")):
            where[f"holidays[{n}].{part}"] = f"h_{field}_{i}"
        where[f"holidays[{n}]"] = f"h_name_{i}"
        try:
            end = date.fromisoformat(last).isoformat()
        except ValueError:
            raise Invalid(f"h_last_{i}", "a date as YYYY-MM-DD") from None
        item: dict[str, Any] = {
            "name": name,
            "start": start,
            "end": end,
            "enabled": bool(form.get(f"h_on_{i}")),
        }
        if form.get(f"h_source_{i}"):
            item["source"] = str(form[f"h_source_{i}"])
        holidays.append(item)
    body = {"timezone": str(form.get("timezone", "")).strip(), "week": week, "holidays": holidays}
    return body, where


def _shown(form: dict[str, Any], changes: ScheduleChanges) -> dict[str, Any]:
    return {
        "name": form.get("name", ""),
        "body": {**(changes.body or {}), "holidays": _safe_holidays(changes.body or {})},
        "is_default": changes.is_default,
        "group_ids": changes.group_ids,
    }


def _safe_holidays(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Holidays of a refused form that can be shown again (dates that do not parse become empty)."""
    out = []
    for h in body.get("holidays", []):
        try:
            date.fromisoformat(h["end"])
            out.append(h)
        except ValueError:
            out.append({**h, "end": date.today().isoformat()})
    return out


def _parse_safely(form: dict[str, Any]) -> dict[str, Any]:
    try:
        return _parse(form)[0]
    except Problem:
        return {**DEFAULT_BODY, "timezone": str(form.get("timezone", "UTC"))}
