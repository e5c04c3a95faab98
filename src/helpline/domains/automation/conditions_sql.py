"""Condition sets (:mod:`automation.conditions`) as SQL over ``tickets``: what a view or a time rule
runs over many tickets at once, where :func:`conditions.matches` decides one ticket in memory. The
two agree, ticket for ticket (``tests/integration/automation/test_conditions_sql.py`` holds them
side by side on SQLite and PostgreSQL with generated condition sets), including how they fail
closed: a fact that is missing or of another type than the field's never matches.

Nothing of a condition becomes SQL text: fields map to columns through an allow-list (the
registry), values are bound parameters, custom fields are read with the database's JSON functions
under a bound path, and every statement is limited to one workspace by :func:`where` itself.

One difference stays: ``contains`` ignores case with the database's ``lower()``, which on SQLite
folds only ASCII letters (PostgreSQL folds every letter, like ``str.casefold`` but for the few
letters whose fold is longer, such as ß).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from helpline.domains.automation.conditions import (
    CUSTOM_PREFIX,
    FIELDS,
    LIST_VALUE,
    SINCE,
    FieldSpec,
    threshold,
)
from helpline.domains.automation.models import TicketSlaSummary
from helpline.domains.customers.models import Organization
from helpline.domains.tickets.models import Ticket, TicketTag

tickets_t = Ticket.__table__
tags_t = TicketTag.__table__
orgs_t = Organization.__table__
sla_t = TicketSlaSummary.__table__
#: ``YYYY-MM-DD`` at the start of a text, as a pattern of each database.
_DATE_PREFIX = {
    "postgresql": "^[0-9]{4}-[0-9]{2}-[0-9]{2}",
    "sqlite": "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*",
}


@dataclass
class _Fact:
    """A fact as SQL: ``exists`` (not missing), ``known`` (``present``), and its value where it is
    of each kind (``None`` when the fact cannot be of that kind). Every expression is TRUE or
    FALSE, never NULL, except the values."""

    exists: sa.ColumnElement[bool]
    known: sa.ColumnElement[bool]
    is_text: sa.ColumnElement[bool]
    text: sa.ColumnElement[Any]
    is_number: sa.ColumnElement[bool]
    number: sa.ColumnElement[Any]
    is_bool: sa.ColumnElement[bool]
    flag: sa.ColumnElement[Any]


def where(
    conditions: Mapping[str, Any], *, workspace_id: int, dialect: str, now: datetime | None = None
) -> sa.ColumnElement[bool]:
    """The tickets of ``workspace_id`` that satisfy ``conditions`` (a set :func:`conditions.validate`
    returned, with the workspace's custom fields) at ``now`` (the timed fields; the current time
    when not given), as a condition on ``tickets``."""
    at = now or datetime.now(UTC)
    every = [_condition(c, dialect, at) for c in conditions.get("all") or []]
    some = [_condition(c, dialect, at) for c in conditions.get("any") or []]
    parts = [tickets_t.c.workspace_id == workspace_id, *every]
    if some:
        parts.append(sa.or_(*some))
    return sa.and_(*parts)


def _condition(cond: Mapping[str, Any], dialect: str, now: datetime) -> sa.ColumnElement[bool]:
    field, op, want = str(cond["field"]), str(cond["operator"]), cond.get("value")
    if field == "tags":
        return _tags(op, list(want or []))
    spec = FIELDS.get(field)
    if spec is not None and spec.kind == "hours":
        return _timed(spec, op, want, now)
    fact = _fact_of(field, dialect)
    if op == "present":
        return fact.known
    if op == "absent":
        return sa.not_(fact.known)
    if op in ("contains", "not_contains"):
        inside = sa.func.lower(fact.text).contains(str(want).lower(), autoescape=True)
        return sa.and_(fact.is_text, inside if op == "contains" else sa.not_(inside))
    if op in ("lt", "lte", "gt", "gte"):
        return _compare(fact, op, want, dialect)
    wants: list[Any] = list(want or []) if op in LIST_VALUE else [want]
    hit = sa.or_(*(_equal(fact, w) for w in wants))
    if op in ("is", "in"):
        return hit
    return sa.and_(fact.exists, sa.not_(hit))  # is_not, not_in: a missing fact matches nothing


def _equal(fact: _Fact, want: Any) -> sa.ColumnElement[bool]:
    """``conditions._equal``: equal and of the same sort."""
    if isinstance(want, bool):
        return sa.and_(fact.is_bool, fact.flag == want)
    if isinstance(want, int | float):
        return sa.and_(fact.is_number, fact.number == float(want))
    return sa.and_(fact.is_text, fact.text == want)


def _compare(fact: _Fact, op: str, want: Any, dialect: str) -> sa.ColumnElement[bool]:
    ops: dict[str, Callable[[Any, Any], Any]] = {
        "lt": lambda a, b: a < b,
        "lte": lambda a, b: a <= b,
        "gt": lambda a, b: a > b,
        "gte": lambda a, b: a >= b,
    }
    if isinstance(want, str):  # a date: the first ten characters of an ISO date, compared as text
        day = sa.func.substr(fact.text, 1, 10)
        shaped = (
            fact.text.regexp_match(_DATE_PREFIX["postgresql"])
            if dialect == "postgresql"
            else fact.text.op("GLOB")(_DATE_PREFIX["sqlite"])
        )
        return sa.and_(fact.is_text, shaped, ops[op](day, want))
    if isinstance(want, bool):
        return sa.false()
    return sa.and_(fact.is_number, ops[op](fact.number, float(want)))


def _timed(spec: FieldSpec, op: str, want: Any, now: datetime) -> sa.ColumnElement[bool]:
    """An ``hours`` field: its instant compared with the instant the hours give
    (``conditions.threshold``), as ``conditions.matches`` does."""
    if spec.instant == "next_due_at":
        col: sa.ColumnElement[Any] = (
            sa.select(sla_t.c.next_due_at).where(sla_t.c.ticket_id == tickets_t.c.id).scalar_subquery()
        )
    else:
        col = tickets_t.c[spec.instant]
    present = sa.and_(col.is_not(None), col <= now) if spec.way == "since_past" else col.is_not(None)
    if op == "present":
        return present
    if op == "absent":
        return sa.not_(present)
    mark = threshold(spec, float(want), now)
    cmp = op if spec.way == "until" else SINCE[op]
    compared = {"lt": col < mark, "lte": col <= mark, "gt": col > mark, "gte": col >= mark}[cmp]
    return sa.and_(present, compared)


def _tags(op: str, want: list[str]) -> sa.ColumnElement[bool]:
    def has(tag: str) -> sa.ColumnElement[bool]:
        return sa.exists().where(tags_t.c.ticket_id == tickets_t.c.id, tags_t.c.tag == tag)

    if op == "includes_any":
        return sa.or_(*(has(t) for t in want))
    if op == "includes_all":
        return sa.and_(*(has(t) for t in want))
    return sa.not_(sa.or_(*(has(t) for t in want)))  # includes_none


def _fact_of(field: str, dialect: str) -> _Fact:
    if field.startswith(CUSTOM_PREFIX):
        return _json_fact(tickets_t.c.custom, field.removeprefix(CUSTOM_PREFIX), dialect)
    if field == "key_account_level":
        return _json_fact(orgs_t.c.attributes, "key_account_level", dialect, of_org=True)
    col = tickets_t.c[field]
    spec = FIELDS[field]
    true = sa.true()
    if spec.kind == "id":
        return _Fact(
            true, col.is_not(None), sa.false(), sa.null(), col.is_not(None), col, sa.false(), sa.null()
        )
    known = sa.and_(col.is_not(None), col != "")
    return _Fact(true, known, col.is_not(None), col, sa.false(), sa.null(), sa.false(), sa.null())


def _json_fact(column: Any, key: str, dialect: str, *, of_org: bool = False) -> _Fact:
    """A key of a JSON object column (a custom field of the ticket, or an attribute of its
    organization) as a fact; missing when the key is."""

    def pick(expr: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        if not of_org:
            return expr
        return sa.select(expr).where(orgs_t.c.id == tickets_t.c.organization_id).scalar_subquery()

    if dialect == "postgresql":
        typ = pick(sa.func.jsonb_typeof(sa.func.jsonb_extract_path(column, key)))
        raw = pick(sa.func.jsonb_extract_path_text(column, key))
        value = sa.func.jsonb_extract_path(column, key)
        empty_array = pick(
            sa.case(
                (sa.func.jsonb_typeof(value) == "array", sa.func.jsonb_array_length(value) == 0), else_=False
            )
        )
        is_text = sa.func.coalesce(typ == "string", False)
        is_number = sa.func.coalesce(typ == "number", False)
        is_bool = sa.func.coalesce(typ == "boolean", False)
        number: sa.ColumnElement[Any] = sa.case((is_number, sa.cast(raw, sa.Float)), else_=sa.null())
        flag: sa.ColumnElement[Any] = sa.case((is_bool, raw == "true"), else_=sa.null())
    else:
        path = "$." + key
        typ = pick(sa.func.json_type(column, path))
        raw = pick(sa.func.json_extract(column, path))
        empty_array = pick(sa.func.coalesce(sa.func.json_array_length(column, path) == 0, False))
        is_text = sa.func.coalesce(typ == "text", False)
        is_number = sa.func.coalesce(typ.in_(("integer", "real")), False)
        is_bool = sa.func.coalesce(typ.in_(("true", "false")), False)
        number = sa.case((is_number, raw), else_=sa.null())
        flag = sa.case((is_bool, typ == "true"), else_=sa.null())
    exists: sa.ColumnElement[bool] = typ.is_not(None)
    text: sa.ColumnElement[Any] = sa.case((is_text, raw), else_=sa.null())
    known = sa.and_(
        exists,
        typ != "null",
        sa.not_(sa.and_(is_text, raw == "")),
        sa.not_(sa.and_(typ == "array", empty_array)),
    )
    if of_org:
        exists = sa.true()  # the facts always hold the key (None without an organization)
    return _Fact(exists, known, is_text, text, is_number, number, is_bool, flag)
