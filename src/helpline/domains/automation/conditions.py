"""The condition language of SLA policies (and later triggers, views and reports): data, never code
or SQL. Pure: no database, no web.

A condition set is ``{"all": [cond, …], "any": [cond, …]}``; both are optional. Every condition of
``all`` must hold, and at least one of ``any`` when ``any`` is not empty; an empty set matches every
ticket. A condition is ``{"field": …, "operator": …, "value": …}``.

Fields come from one registry, :data:`FIELDS` (name -> :class:`FieldSpec`); a later issue adds a
field there and nowhere else. ``custom.<key>`` names one of the workspace's custom fields, typed by
the field's type (:data:`CUSTOM_KINDS`). What each kind of field allows is :data:`OPERATORS`.

:func:`validate` checks a set against the registry and the workspace's custom fields and returns it
in one form; :func:`matches` tells whether a ticket's facts satisfy it. Matching fails closed: a fact
that is missing, or not of the field's type, makes its condition false (``absent`` is the one
operator that holds for a missing fact), and an unknown field or operator matches nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from helpline.domains.tickets.models import Channel, Priority, Status, TicketType
from helpline.errors import Invalid
from helpline.types import MAX_ID

#: What each kind of field allows.
OPERATORS: dict[str, tuple[str, ...]] = {
    "enum": ("is", "is_not", "in", "not_in", "present", "absent"),
    "id": ("is", "is_not", "in", "not_in", "present", "absent"),
    "tags": ("includes_any", "includes_all", "includes_none"),
    "text": ("is", "is_not", "contains", "not_contains", "present", "absent"),
    "number": ("is", "is_not", "lt", "lte", "gt", "gte", "present", "absent"),
    "date": ("is", "is_not", "lt", "lte", "gt", "gte", "present", "absent"),
    "bool": ("is", "present", "absent"),
    "hours": ("lt", "lte", "gt", "gte", "present", "absent"),
}
#: Operators that take no value, and those that take a list.
NO_VALUE = frozenset({"present", "absent"})
LIST_VALUE = frozenset({"in", "not_in", "includes_any", "includes_all", "includes_none"})
MAX_CONDITIONS = 50
MAX_LIST = 100
MAX_TEXT = 200
#: The largest number of hours a time condition takes (ten years).
MAX_HOURS = 87_600


@dataclass(frozen=True)
class FieldSpec:
    """A field conditions may name: its kind (a key of :data:`OPERATORS`), the values an enum takes,
    and the label pages show."""

    kind: str
    label: str
    choices: tuple[str, ...] = ()
    #: For an ``hours`` field: the instant it counts from or to (a fact holding a datetime), and
    #: whether it counts since (``now - instant``), until (``instant - now``) or since only once
    #: the instant has passed (``since_past``).
    instant: str = ""
    way: str = ""


def _enum(label: str, values: Any) -> FieldSpec:
    return FieldSpec("enum", label, tuple(v.value for v in values))


#: The fields of a ticket conditions may name (the facts :func:`matches` reads have the same names).
FIELDS: dict[str, FieldSpec] = {
    "priority": _enum("Priority", Priority),
    "status": _enum("Status", Status),
    "type": _enum("Type", TicketType),
    "channel": _enum("Channel", Channel),
    "group_id": FieldSpec("id", "Group"),
    "organization_id": FieldSpec("id", "Organization"),
    "assignee_id": FieldSpec("id", "Assignee"),
    "requester_id": FieldSpec("id", "Requester"),
    "tags": FieldSpec("tags", "Tags"),
    "key_account_level": FieldSpec("text", "Key-account level"),
    "hours_since_created": FieldSpec("hours", "Hours since created", instant="created_at", way="since"),
    "hours_since_updated": FieldSpec("hours", "Hours since updated", instant="updated_at", way="since"),
    "hours_since_solved": FieldSpec("hours", "Hours since solved", instant="solved_at", way="since"),
    "hours_until_breach": FieldSpec(
        "hours", "Hours until the next SLA breach", instant="next_due_at", way="until"
    ),
    "hours_since_breach": FieldSpec(
        "hours", "Hours since the SLA target was missed", instant="next_due_at", way="since_past"
    ),
}
#: Fields whose truth changes with the clock alone: what time rules and views use, and what a set
#: matched once per event (an SLA policy's) may not name.
TIMED = frozenset(name for name, spec in FIELDS.items() if spec.kind == "hours")
#: What a ticket's change is (triggers only): what kind of change, which fields it changed, who
#: made it, and whether it added a public reply or an internal note.
CHANGES = (
    "status",
    "priority",
    "type",
    "group_id",
    "assignee_id",
    "requester_id",
    "tags",
    "subject",
    "custom",
)
FIELDS.update(
    {
        "update_type": FieldSpec("enum", "Ticket is", ("created", "updated")),
        "changed": FieldSpec("tags", "Changed fields", CHANGES),
        "actor": FieldSpec("enum", "Changed by", ("agent", "customer", "system")),
        "comment": FieldSpec("enum", "Message added", ("public", "internal", "none")),
    }
)
TRIGGER = frozenset({"update_type", "changed", "actor", "comment"})
#: A custom field's type (``tickets.models.FieldType``) -> the kind of its conditions.
CUSTOM_KINDS: dict[str, str] = {
    "text": "text",
    "dropdown": "text",
    "number": "number",
    "date": "date",
    "checkbox": "bool",
}
CUSTOM_PREFIX = "custom."


def spec_of(field: str, custom_fields: Mapping[str, str]) -> FieldSpec | None:
    """The spec of ``field``, or None when the registry and the workspace's custom fields (key ->
    type) know no such field."""
    if field.startswith(CUSTOM_PREFIX):
        kind = CUSTOM_KINDS.get(custom_fields.get(field.removeprefix(CUSTOM_PREFIX), ""))
        return FieldSpec(kind, field.removeprefix(CUSTOM_PREFIX)) if kind else None
    return FIELDS.get(field)


# --- validation -------------------------------------------------------------------------------------


def validate(
    conditions: Any, *, custom_fields: Mapping[str, str], timed: bool = False, trigger: bool = False
) -> dict[str, Any]:
    """``conditions`` checked and normalized (``{"all": [...], "any": [...]}``, each condition with
    the three keys, a present/absent's value ``None``), or :class:`Invalid` naming the exact part at
    fault (``conditions.all[0].operator``) and what is allowed there. The :data:`TIMED` fields
    only where ``timed``, the :data:`TRIGGER` fields only where ``trigger``."""
    if conditions is None:
        return {"all": [], "any": []}
    if not isinstance(conditions, dict) or set(conditions) - {"all", "any"}:
        raise Invalid("conditions", 'an object with "all" and/or "any", each a list of conditions')
    out: dict[str, Any] = {}
    for part in ("all", "any"):
        items = conditions.get(part)
        items = [] if items is None else items
        if not isinstance(items, list) or len(items) > MAX_CONDITIONS:
            raise Invalid(f"conditions.{part}", f"a list of at most {MAX_CONDITIONS} conditions")
        out[part] = [
            _condition(c, f"conditions.{part}[{i}]", custom_fields, timed, trigger)
            for i, c in enumerate(items)
        ]
    return out


def _condition(
    cond: Any, where: str, custom_fields: Mapping[str, str], timed: bool, trigger: bool
) -> dict[str, Any]:
    if not isinstance(cond, dict) or set(cond) - {"field", "operator", "value"}:
        raise Invalid(where, 'an object with "field", "operator" and "value"')
    field = cond.get("field")
    spec = spec_of(field, custom_fields) if isinstance(field, str) else None
    if spec is not None and field in TIMED and not timed:
        raise Invalid(f"{where}.field", f"{field} changes with the clock alone: not allowed here")
    if spec is not None and field in TRIGGER and not trigger:
        raise Invalid(f"{where}.field", f"{field} describes a change: only triggers may use it")
    if spec is None:
        usable = (f for f in FIELDS if (timed or f not in TIMED) and (trigger or f not in TRIGGER))
        known = [*usable, *(CUSTOM_PREFIX + k for k in custom_fields)]
        raise Invalid(f"{where}.field", f"no such field; known: {', '.join(known)}")
    allowed = OPERATORS[spec.kind]
    op = cond.get("operator")
    if op not in allowed:
        raise Invalid(f"{where}.operator", f"not an operator of {field}; allowed: {', '.join(allowed)}")
    value = _value(spec, str(op), cond.get("value"), f"{where}.value")
    return {"field": field, "operator": op, "value": value}


def _value(spec: FieldSpec, op: str, value: Any, where: str) -> Any:
    if op in NO_VALUE:
        if value not in (None, "", []):
            raise Invalid(where, f"{op} takes no value")
        return None
    if op in LIST_VALUE:
        if not isinstance(value, list) or not 1 <= len(value) <= MAX_LIST:
            raise Invalid(where, f"a list of 1 to {MAX_LIST} values")
        items = [_one(spec, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return list(dict.fromkeys(items))
    return _one(spec, value, where)


def _one(spec: FieldSpec, value: Any, where: str) -> Any:
    kind = spec.kind
    if kind == "enum":
        if value not in spec.choices:
            raise Invalid(where, f"one of {', '.join(spec.choices)}")
        return value
    if kind == "id":
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
            raise Invalid(where, "an id (a positive whole number)")
        return value
    if kind in ("tags", "text"):
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT:
            raise Invalid(where, f"a text of 1 to {MAX_TEXT} characters")
        if spec.choices and value.strip() not in spec.choices:
            raise Invalid(where, f"one of {', '.join(spec.choices)}")
        return value.strip()
    if kind == "hours":
        if isinstance(value, bool) or not isinstance(value, int | float) or not abs(value) <= MAX_HOURS:
            raise Invalid(where, f"a number of hours between -{MAX_HOURS} and {MAX_HOURS}")
        return value
    if kind == "number":
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or value != value
            or abs(value) > 1e15
        ):
            raise Invalid(where, "a number")
        return value
    if kind == "date":
        try:
            if isinstance(value, str) and len(value) == 10:
                return date.fromisoformat(value).isoformat()
        except ValueError:
            pass
        raise Invalid(where, "a date as YYYY-MM-DD")
    if not isinstance(value, bool):  # bool
        raise Invalid(where, "true or false")
    return value


# --- matching ----------------------------------------------------------------------------------------


def matches(conditions: Mapping[str, Any], facts: Mapping[str, Any], now: datetime | None = None) -> bool:
    """Whether a ticket's ``facts`` satisfy a set :func:`validate` returned, at ``now`` (for the
    :data:`TIMED` fields; the current time when not given). ``facts`` holds ``priority``,
    ``status``, ``type``, ``channel``, the ``*_id`` fields, ``tags`` (a list), ``custom`` (key ->
    value), ``key_account_level`` and, for the timed fields, ``created_at``, ``updated_at``,
    ``solved_at`` and ``next_due_at``; missing ones are unknown (see the module's note on failing
    closed)."""
    every = conditions.get("all") or []
    some = conditions.get("any") or []
    at = now or datetime.now(UTC)
    if not all(_holds(c, facts, at) for c in every):
        return False
    return not some or any(_holds(c, facts, at) for c in some)


def threshold(spec: FieldSpec, hours: float, now: datetime) -> datetime:
    """The instant an ``hours`` field's value equals ``hours`` at ``now``: SQL compares the column
    with it, and :func:`matches` the fact, so both round alike."""
    return now + timedelta(hours=hours) if spec.way == "until" else now - timedelta(hours=hours)


#: An ``hours`` field's operator -> the comparison of its instant with :func:`threshold`: the value
#: grows as the instant moves back for "since" and forward for "until".
SINCE = {"gt": "lt", "gte": "lte", "lt": "gt", "lte": "gte"}


def _timed(spec: FieldSpec, op: str, want: Any, facts: Mapping[str, Any], now: datetime) -> bool:
    instant = facts.get(spec.instant)
    if not isinstance(instant, datetime):
        return op == "absent"
    if spec.way == "since_past" and instant > now:
        return op == "absent"
    if op in NO_VALUE:
        return op == "present"
    mark = threshold(spec, float(want), now)
    return _compare(op if spec.way == "until" else SINCE[op], instant, mark)


_MISSING = object()


def _fact(field: str, facts: Mapping[str, Any]) -> Any:
    if field.startswith(CUSTOM_PREFIX):
        custom = facts.get("custom")
        return (
            custom.get(field.removeprefix(CUSTOM_PREFIX), _MISSING)
            if isinstance(custom, Mapping)
            else _MISSING
        )
    return facts.get(field, _MISSING)


def _holds(cond: Mapping[str, Any], facts: Mapping[str, Any], now: datetime) -> bool:
    try:
        spec = FIELDS.get(str(cond.get("field")))
        if spec is not None and spec.kind == "hours":
            return _timed(spec, str(cond.get("operator")), cond.get("value"), facts, now)
        return _test(cond, facts)
    except (TypeError, ValueError, AttributeError, KeyError):
        return False  # a fact of the wrong type: unknown, so not a match


def _test(cond: Mapping[str, Any], facts: Mapping[str, Any]) -> bool:
    field, op, want = cond.get("field"), cond.get("operator"), cond.get("value")
    if not isinstance(field, str):
        return False
    got = _fact(field, facts)
    known = got is not _MISSING and got is not None and got != "" and got != []
    if op == "present":
        return known
    if op == "absent":
        return not known
    if field == "tags" or op in ("includes_any", "includes_all", "includes_none"):
        if not isinstance(got, list | tuple | set | frozenset) or not isinstance(want, list):
            return False
        have = {str(t) for t in got}
        if op == "includes_any":
            return any(t in have for t in want)
        if op == "includes_all":
            return all(t in have for t in want)
        return op == "includes_none" and not any(t in have for t in want)
    if got is _MISSING:
        return False  # unknown facts never match, not even "is_not"
    if op == "is":
        return _equal(got, want)
    if op == "is_not":  # a known empty value (no type, no group) is "not" any value
        return not _equal(got, want)
    if op == "in":
        return isinstance(want, list) and any(_equal(got, w) for w in want)
    if op == "not_in":
        return isinstance(want, list) and not any(_equal(got, w) for w in want)
    if op in ("contains", "not_contains"):
        if not isinstance(got, str) or not isinstance(want, str):
            return False
        inside = want.casefold() in got.casefold()
        return inside if op == "contains" else not inside
    if op in ("lt", "lte", "gt", "gte"):
        return _compare(op, got, want)
    return False  # an operator this version does not know


def _equal(got: Any, want: Any) -> bool:
    """Equal and of the same sort (``True`` is not ``1``; a text is never a number)."""
    if isinstance(got, bool) or isinstance(want, bool):
        return isinstance(got, bool) and isinstance(want, bool) and got is want
    if isinstance(got, str) != isinstance(want, str):
        return False
    return bool(got == want)


def _compare(op: str, got: Any, want: Any) -> bool:
    a: Any
    b: Any
    if isinstance(want, datetime):
        if not isinstance(got, datetime):
            return False
        a, b = got, want
    elif isinstance(want, str):  # a date: compare ISO dates, which sort as text
        if not isinstance(got, str):
            return False
        a, b = date.fromisoformat(got[:10]), date.fromisoformat(want)
    elif isinstance(got, bool) or not isinstance(got, int | float) or isinstance(want, bool):
        return False
    else:
        a, b = got, want
    if op == "lt":
        return bool(a < b)
    if op == "lte":
        return bool(a <= b)
    if op == "gt":
        return bool(a > b)
    return bool(a >= b)
