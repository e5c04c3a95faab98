"""What a rule does to a ticket (time rules now; triggers and macros will use the same list): data,
checked on save, applied by the tickets service (``tickets.service.apply_rule``), never by writing
the ticket around it. Pure: no database, no web.

An action is ``{"type": …, "value": …}``:

- ``set_status`` (not ``new``), ``set_priority``, ``set_type`` (or null);
- ``set_group`` / ``set_assignee``: an id, or null to clear;
- ``add_tags`` / ``remove_tags``: a list of tags;
- ``add_note``: an internal note's text.

:func:`stops` tells whether a time rule's actions make its own conditions false once applied, so a
rule cannot act on the same ticket pass after pass (Zendesk's "nullifying condition").
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from helpline.domains.automation.conditions import MAX_LIST
from helpline.domains.tickets.models import Priority, Status, TicketType
from helpline.errors import Invalid
from helpline.types import MAX_ID

MAX_ACTIONS = 20
#: A tag as tickets have them (``types.Tag``).
_TAG = re.compile(r"[^\s,]{1,80}")
MAX_NOTE = 5000
#: Each action type -> the ticket field it sets (for :func:`stops`) and the kind of its value.
TYPES: dict[str, tuple[str, str]] = {
    "set_status": ("status", "status"),
    "set_priority": ("priority", "priority"),
    "set_type": ("type", "type"),
    "set_group": ("group_id", "id"),
    "set_assignee": ("assignee_id", "id"),
    "add_tags": ("tags", "tags"),
    "remove_tags": ("tags", "tags"),
    "add_note": ("", "note"),
}
_CHOICES = {
    "status": tuple(s.value for s in Status if s is not Status.new),
    "priority": tuple(p.value for p in Priority),
    "type": tuple(t.value for t in TicketType),
}


def validate(actions: Any) -> list[dict[str, Any]]:
    """``actions`` checked and normalized, or :class:`Invalid` naming the part at fault
    (``actions[1].value``)."""
    if not isinstance(actions, list) or not 1 <= len(actions) <= MAX_ACTIONS:
        raise Invalid("actions", f"a list of 1 to {MAX_ACTIONS} actions")
    out = []
    for i, action in enumerate(actions):
        where = f"actions[{i}]"
        if not isinstance(action, dict) or set(action) - {"type", "value"}:
            raise Invalid(where, 'an object with "type" and "value"')
        kind = action.get("type")
        if kind not in TYPES:
            raise Invalid(f"{where}.type", f"one of {', '.join(TYPES)}")
        out.append(
            {"type": kind, "value": _value(TYPES[str(kind)][1], action.get("value"), f"{where}.value")}
        )
    return out


def _value(kind: str, value: Any, where: str) -> Any:
    if kind in _CHOICES:
        if value is None and kind == "type":
            return None
        if value not in _CHOICES[kind]:
            raise Invalid(where, f"one of {', '.join(_CHOICES[kind])}")
        return value
    if kind == "id":
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
            raise Invalid(where, "an id (a positive whole number) or null")
        return value
    if kind == "tags":
        if not isinstance(value, list) or not 1 <= len(value) <= MAX_LIST:
            raise Invalid(where, f"a list of 1 to {MAX_LIST} tags")
        tags = []
        for j, tag in enumerate(value):
            tag = tag.strip() if isinstance(tag, str) else ""
            if not _TAG.fullmatch(tag):
                raise Invalid(f"{where}[{j}]", "a tag of 1 to 80 characters, without spaces or commas")
            tags.append(tag)
        return list(dict.fromkeys(tags))
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_NOTE:
        raise Invalid(where, f"a text of 1 to {MAX_NOTE} characters")
    return value.strip()


def describe(action: Mapping[str, Any], names: Mapping[str, Mapping[int, str]] | None = None) -> str:
    """The history's sentence for an action ("set the status to closed")."""
    kind, value = action["type"], action.get("value")
    listed = [str(v) for v in value] if isinstance(value, list) else []
    field = TYPES[kind][0]
    if kind in ("set_group", "set_assignee"):
        what = "group" if kind == "set_group" else "assignee"
        if value is None:
            return f"cleared the {what}"
        name = (names or {}).get(field, {}).get(int(value))
        return f"set the {what} to {name or f'#{value}'}"
    if kind == "add_tags":
        return f"tagged it {', '.join(listed)}"
    if kind == "remove_tags":
        return f"removed the tags {', '.join(listed)}"
    if kind == "add_note":
        return "added an internal note"
    return f"set the {field} to {value if value is not None else 'none'}"


def stops(conditions: Mapping[str, Any], actions: Sequence[Mapping[str, Any]]) -> bool:
    """Whether applying ``actions`` makes one of the ``all`` conditions false for certain, so a
    time rule acts once and then no longer matches. Every action updates the ticket, so
    "hours since updated greater than N" (N ≥ 0) is stopped by any action."""
    return any(_stopped(c, actions) for c in conditions.get("all") or [])


def _stopped(cond: Mapping[str, Any], actions: Sequence[Mapping[str, Any]]) -> bool:
    field, op, want = cond.get("field"), cond.get("operator"), cond.get("value")
    if field == "hours_since_updated":
        return op in ("gt", "gte") and isinstance(want, int | float) and want > 0 and bool(actions)
    if field == "tags":
        added = {t for a in actions if a["type"] == "add_tags" for t in a["value"]}
        removed = {t for a in actions if a["type"] == "remove_tags" for t in a["value"]}
        wanted = set(want or [])
        if op == "includes_none":
            return bool(wanted & added)
        if op == "includes_all":
            return bool(wanted & removed - added)
        return op == "includes_any" and bool(wanted) and wanted <= removed - added
    sets = [a["value"] for a in actions if TYPES[a["type"]][0] == field and a["type"].startswith("set_")]
    if not sets or field not in ("status", "priority", "type", "group_id", "assignee_id"):
        return False
    new = sets[-1]  # the last one wins
    if op == "is":
        return bool(new != want)
    if op == "in":
        return new not in (want or [])
    if op == "is_not":
        return bool(new == want)
    if op == "not_in":
        return new in (want or [])
    if op == "present":
        return new is None
    if op == "absent":
        return new is not None
    return False
