"""Conditions over ticket facts (interim: replaced by the full condition language)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _value(facts: Mapping[str, Any], name: str) -> Any:
    if name.startswith("custom."):
        return (facts.get("custom") or {}).get(name[7:])
    return facts.get(name)


def _one(cond: Mapping[str, Any], facts: Mapping[str, Any]) -> bool:
    have, op, want = _value(facts, cond["field"]), cond["operator"], cond.get("value")
    if op == "is":
        return bool(have == want)
    if op == "is_not":
        return bool(have != want)
    if op == "in":
        return have in (want or [])
    if op == "not_in":
        return have not in (want or [])
    if op == "includes_any":
        return bool(set(have or []) & set(want or []))
    return False


def matches(conditions: Mapping[str, Any], facts: Mapping[str, Any]) -> bool:
    all_ = conditions.get("all") or []
    any_ = conditions.get("any") or []
    return all(_one(c, facts) for c in all_) and (not any_ or any(_one(c, facts) for c in any_))
