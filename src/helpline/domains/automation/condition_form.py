"""The condition rows of an admin form (SLA policies, time rules) as data, with no web code: a
condition set from the submitted ``c_part_N`` / ``c_field_N`` / ``c_op_N`` / ``c_value_N`` fields
(and which input each part came from, so an error shows under it), and the rows a saved set shows
as, with :data:`SPARE` empty ones to add to."""

from __future__ import annotations

from typing import Any

from helpline.domains.automation import conditions as cond

SPARE = 2


OPERATOR_LABELS = {
    "is": "is",
    "is_not": "is not",
    "in": "is one of",
    "not_in": "is none of",
    "present": "is set",
    "absent": "is not set",
    "includes_any": "include any of",
    "includes_all": "include all of",
    "includes_none": "include none of",
    "contains": "contains",
    "not_contains": "does not contain",
    "lt": "is less than",
    "lte": "is at most",
    "gt": "is more than",
    "gte": "is at least",
}


def typed(spec: cond.FieldSpec | None, op: str, text: str) -> Any:
    """A condition's value as the form's text gives it (lists comma-separated), typed by its field
    where the text allows; what does not parse goes on as text for ``validate`` to name."""
    if op in cond.NO_VALUE:
        return None
    if op in cond.LIST_VALUE:
        return [scalar(spec, p.strip()) for p in text.split(",") if p.strip()]
    return scalar(spec, text.strip())


def scalar(spec: cond.FieldSpec | None, text: str) -> Any:
    kind = spec.kind if spec else "text"
    if kind == "id" and text.isdigit() and len(text) < 19:
        return int(text)
    if kind in ("number", "hours"):
        try:
            return int(text) if text.lstrip("-").isdigit() and len(text) < 16 else float(text)
        except ValueError:
            return text
    if kind == "bool" and text.lower() in ("true", "false", "yes", "no"):
        return text.lower() in ("true", "yes")
    return text


def conditions_of(form: dict[str, Any], custom: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    out: dict[str, list[Any]] = {"all": [], "any": []}
    where: dict[str, str] = {}
    for i in range(100):
        if f"c_field_{i}" not in form:
            break
        field, op = str(form.get(f"c_field_{i}", "")), str(form.get(f"c_op_{i}", ""))
        part = "any" if form.get(f"c_part_{i}") == "any" else "all"
        if not field:
            continue
        base = f"conditions.{part}[{len(out[part])}]"
        for key in ("field", "operator", "value"):
            where[f"{base}.{key}"] = f"c_{ {'operator': 'op'}.get(key, key) }_{i}"
        where[base] = f"c_field_{i}"
        value = typed(cond.spec_of(field, custom), op, str(form.get(f"c_value_{i}", "")))
        out[part].append({"field": field, "operator": op, "value": value})
    return out, where


def condition_rows(conditions: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for part in ("all", "any"):
        for c in conditions.get(part, []):
            value = c.get("value")
            text = (
                ", ".join(map(str, value))
                if isinstance(value, list)
                else ("" if value is None else str(value))
            )
            if isinstance(value, bool):
                text = "true" if value else "false"
            rows.append(
                {"part": part, "field": c.get("field", ""), "op": c.get("operator", ""), "value": text}
            )
    return rows + [{"part": "all", "field": "", "op": "", "value": ""}] * SPARE
