"""Configuring business hours and an SLA policy for a test workspace, in one call, the way an admin
does: through the API (``/api/v1/schedules``, ``/api/v1/sla-policies``)."""

from __future__ import annotations

from typing import Any

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
OFFICE = {
    "timezone": "Europe/Berlin",
    "week": {d: [["09:00", "17:00"]] for d in WEEKDAYS},
    "holidays": [],
}
ALWAYS = {
    "timezone": "UTC",
    "week": {d: [["00:00", "24:00"]] for d in (*WEEKDAYS, "sat", "sun")},
    "holidays": [],
}


def schedule_json(body: dict[str, Any] | None = None) -> dict[str, Any]:
    """``POST /api/v1/schedules``'s body: the first schedule of a workspace is its default."""
    return {"name": "Office hours", "body": body or ALWAYS}


def policy_json(
    targets: dict[str, Any],
    escalations: list[Any] | None = None,
    conditions: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``POST /api/v1/sla-policies``'s body: the fallback unless ``conditions`` are given."""
    policy: dict[str, Any] = {"name": "Standard", "targets": targets, "escalations": escalations or []}
    if conditions is None:
        policy["is_fallback"] = True
    else:
        policy["conditions"] = conditions
    return policy


async def configure(
    ws: Any,
    *,
    targets: dict[str, Any],
    body: dict[str, Any] | None = None,
    escalations: list[Any] | None = None,
    conditions: dict[str, Any] | None = None,
) -> tuple[int, int]:
    """A default schedule (``body``, around the clock by default; the first schedule is the
    default, and its first version counts backwards too) and a policy with ``targets``
    (``{"normal": {"first_reply": {"minutes": 60}}}``): the fallback unless ``conditions`` are
    given. Their ids."""
    from tests.conftest import drain

    admin = await ws.person("admin")
    async with ws.client(admin) as c:
        r = await c.post("/schedules", json=schedule_json(body))
        assert r.status_code == 201, r.text
        sid = int(r.json()["id"])
        r = await c.post("/sla-policies", json=policy_json(targets, escalations, conditions))
        assert r.status_code == 201, r.text
    await drain(ws.platform)
    return sid, int(r.json()["id"])
