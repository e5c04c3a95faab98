"""The SLA policy admin form as data, with no web code: conditions, targets and escalations from the
submitted fields (and where each part came from), and the rows a saved policy shows as."""

from __future__ import annotations

from typing import Any

from helpline.domains.automation import conditions as cond
from helpline.domains.automation.schemas import METRICS, PRIORITIES

SPARE = 2


METRIC_LABELS = {
    "first_reply": "First reply",
    "next_reply": "Next reply",
    "periodic_update": "Periodic update",
    "resolution": "Resolution",
    "requester_wait": "Requester wait",
    "agent_work": "Agent work",
}


ACTIONS = [
    ("notify", "Notify"),
    ("assign", "Assign to"),
    ("priority", "Set priority"),
    ("tag", "Add tag"),
    ("webhook", "Call webhook"),
]


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


def _typed(spec: cond.FieldSpec | None, op: str, text: str) -> Any:
    """A condition's value as the form's text gives it (lists comma-separated), typed by its field
    where the text allows; what does not parse goes on as text for ``validate`` to name."""
    if op in cond.NO_VALUE:
        return None
    if op in cond.LIST_VALUE:
        return [_scalar(spec, p.strip()) for p in text.split(",") if p.strip()]
    return _scalar(spec, text.strip())


def _scalar(spec: cond.FieldSpec | None, text: str) -> Any:
    kind = spec.kind if spec else "text"
    if kind == "id" and text.isdigit() and len(text) < 19:
        return int(text)
    if kind == "number":
        try:
            return int(text) if text.lstrip("-").isdigit() and len(text) < 16 else float(text)
        except ValueError:
            return text
    if kind == "bool" and text.lower() in ("true", "false", "yes", "no"):
        return text.lower() in ("true", "yes")
    return text


def _conditions(form: dict[str, Any], custom: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
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
        value = _typed(cond.spec_of(field, custom), op, str(form.get(f"c_value_{i}", "")))
        out[part].append({"field": field, "operator": op, "value": value})
    return out, where


def _targets(form: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    out: dict[str, Any] = {}
    where: dict[str, str] = {}
    for p in PRIORITIES:
        for m in METRICS:
            minutes = str(form.get(f"t_{p}_{m}_minutes", "")).strip()
            if not minutes:
                continue
            name = f"t_{p}_{m}"
            for part in ("minutes", "business", "warn"):
                where[f"targets.{p}.{m}.{part}"] = f"{name}_{part}"
            where[f"targets.{p}.{m}"] = f"{name}_minutes"
            warn = str(form.get(f"{name}_warn", "")).strip() or "0"
            out.setdefault(p, {})[m] = {
                "minutes": int(minutes) if minutes.isdigit() and len(minutes) < 10 else minutes,
                "business": form.get(f"{name}_business", "business") != "calendar",
                "warn": int(warn) if warn.isdigit() and len(warn) < 10 else warn,
            }
    return out, where


def _escalations(form: dict[str, Any]) -> tuple[list[Any], dict[str, str]]:
    out: list[Any] = []
    where: dict[str, str] = {}
    for i in range(100):
        if f"x_action_{i}" not in form:
            break
        kind = str(form.get(f"x_action_{i}", ""))
        target, text = str(form.get(f"x_target_{i}", "")), str(form.get(f"x_text_{i}", "")).strip()
        if not kind:
            continue
        metric = str(form.get(f"x_metric_{i}", ""))
        n = len(out)
        base = f"escalations[{n}]"
        where[f"{base}.on"], where[f"{base}.metrics"] = f"x_on_{i}", f"x_metric_{i}"
        for key in ("user_ids", "group_ids", "user_id", "group_id"):
            where[f"{base}.actions[0].{key}"] = f"x_target_{i}"
        for key in ("value", "tag", "url", "secret"):
            where[f"{base}.actions[0].{key}"] = f"x_text_{i}"
        where[f"{base}.actions[0]"] = where[f"{base}.actions[0].type"] = f"x_action_{i}"
        who, _, ident = target.partition(":")
        ref = int(ident) if ident.isdigit() and len(ident) < 19 else None
        action: dict[str, Any] = {"type": kind}
        if kind == "notify":
            action["user_ids" if who == "user" else "group_ids"] = [ref] if ref else []
        elif kind == "assign" and ref:
            action["user_id" if who == "user" else "group_id"] = ref
        elif kind == "priority":
            action["value"] = text
        elif kind == "tag":
            action["tag"] = text
        elif kind == "webhook":
            action["url"] = text
        out.append(
            {
                "on": str(form.get(f"x_on_{i}", "breach")),
                "metrics": [metric] if metric else None,
                "actions": [action],
            }
        )
    return out, where


def _condition_rows(conditions: dict[str, Any]) -> list[dict[str, Any]]:
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


def _escalation_rows(escalations: list[Any]) -> list[dict[str, Any]]:
    rows = []
    for esc in escalations:
        metrics = esc.get("metrics") or list(METRICS)
        for metric in [""] if set(metrics) == set(METRICS) else metrics:
            for a in esc.get("actions", []):
                target, text = "", ""
                if a.get("type") in ("notify", "assign"):
                    ids = [("user", u) for u in a.get("user_ids", [])] + [
                        ("group", g) for g in a.get("group_ids", [])
                    ]
                    ids += [("user", a["user_id"])] if a.get("user_id") else []
                    ids += [("group", a["group_id"])] if a.get("group_id") else []
                    for who, ident in ids or [("", "")]:
                        rows.append(
                            {
                                "on": esc.get("on"),
                                "metric": metric,
                                "action": a["type"],
                                "target": f"{who}:{ident}",
                                "text": "",
                            }
                        )
                    continue
                text = a.get("value") or a.get("tag") or a.get("url") or ""
                rows.append(
                    {
                        "on": esc.get("on"),
                        "metric": metric,
                        "action": a["type"],
                        "target": target,
                        "text": text,
                    }
                )
    return rows + [{"on": "breach", "metric": "", "action": "", "target": "", "text": ""}] * SPARE
