"""How the console shows SLA targets (the ticket page's SLA block, the inbox's "Next breach"): a
state, a word for the badge and a countdown sentence, computed from due and warning times. Pure;
``static/sla.js`` writes the same sentences as it ticks, so the page reads the same before and after."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from helpline.domains.tickets.history_text import METRIC_NAMES

#: The badge's words by state (the colour only repeats them): ``ok`` running, ``warn`` inside the
#: warning margin, ``breached`` past due, ``paused``, ``met``.
BADGES = {
    "ok": "active",
    "warn": "at risk",
    "breached": "breached",
    "paused": "paused",
    "met": "fulfilled",
}


def span(seconds: float) -> str:
    """``42 min``, ``3 h 5 min``, ``2 d 4 h``; under a minute: ``less than 1 min``."""
    minutes = int(abs(seconds) // 60)
    if minutes < 1:
        return "less than 1 min"
    if minutes < 60:
        return f"{minutes} min"
    hours, mins = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {mins} min" if mins else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def countdown(due: datetime, now: datetime) -> str:
    """``in 42 min`` before ``due``, ``3 h 5 min overdue`` after it."""
    left = (due - now).total_seconds()
    return f"in {span(left)}" if left > 0 else f"{span(left)} overdue"


def running_state(due: datetime | None, warn: datetime | None, now: datetime) -> str:
    """``breached``, ``warn`` or ``ok`` for a target running towards ``due``."""
    if due is not None and now >= due:
        return "breached"
    if warn is not None and now >= warn:
        return "warn"
    return "ok"


def target_view(t: dict[str, Any], now: datetime) -> dict[str, Any]:
    """One target of ``automation.sla.read.targets`` as the ticket page shows it: ``name``,
    ``state``, ``badge``, ``due_at``, ``warn_at``, ``live`` (whether the countdown ticks) and
    ``text`` (the sentence beside the due time)."""
    used = t["business_minutes"] if t["business"] else t["calendar_minutes"]
    kind = "business" if t["business"] else "calendar"
    view = {
        "metric": t["metric"],
        "name": METRIC_NAMES.get(t["metric"], t["metric"]),
        "due_at": t["due_at"],
        "warn_at": t["warn_at"],
        "breached_at": t["breached_at"],
        "live": False,
        "target": f"{span(t['target_minutes'] * 60)} ({kind} time)",
    }
    status = t["status"]
    if status == "paused":
        return {**view, "state": "paused", "text": f"paused · {span(used * 60)} used"}
    if status == "fulfilled":
        return {**view, "state": "met", "text": f"met in {span(used * 60)}"}
    if status == "breached" and t["stopped_at"] is not None:
        over = max(used - t["target_minutes"], 0) * 60
        return {**view, "state": "breached", "text": f"missed by {span(over)}"}
    if t["due_at"] is None:  # running with no due time (no business hours ahead)
        return {**view, "state": "ok", "text": "no due time"}
    if status == "breached":  # missed while running: overdue since the due time, at least since the sweep
        since = max(now, t["breached_at"] or now)
        return {**view, "state": "breached", "live": True, "text": countdown(t["due_at"], since)}
    state = running_state(t["due_at"], t["warn_at"], now)
    return {**view, "state": state, "live": True, "text": countdown(t["due_at"], now)}


def list_view(row: dict[str, Any] | None, now: datetime) -> dict[str, Any] | None:
    """A ticket's "Next breach" in the list, from its ``ticket_sla`` row: the soonest running due
    time with its countdown, or ``breached`` when a target is missed and none runs ahead."""
    if row is None:
        return None
    due, warn = row["next_due_at"], row["next_warn_at"]
    if due is None:
        return {"state": "breached", "due_at": None, "warn_at": None, "text": "target missed"}
    if row["breached"]:  # a target is missed; another still runs: its countdown, marked "next"
        return {
            "state": "breached",
            "missed": True,
            "due_at": due,
            "warn_at": warn,
            "prefix": "next",
            "text": countdown(due, now),
        }
    state = running_state(due, warn, now)
    return {"state": state, "due_at": due, "warn_at": warn, "text": countdown(due, now)}


def list_views(rows: dict[int, dict[str, Any]], now: datetime) -> dict[int, dict[str, Any]]:
    out = {}
    for tid, row in rows.items():
        view = list_view(row, now)
        if view is not None:
            out[tid] = view
    return out
