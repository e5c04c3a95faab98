"""The time rule admin form as data, with no web code: the actions from the submitted ``a_type_N`` /
``a_target_N`` / ``a_value_N`` fields (and which input each part came from), and the rows a saved
rule's actions show as."""

from __future__ import annotations

from typing import Any

from helpline.domains.automation.condition_form import SPARE

#: The actions a form offers, in the order it lists them.
ACTION_LABELS = [
    ("set_status", "Set status"),
    ("set_priority", "Set priority"),
    ("set_type", "Set type"),
    ("set_group", "Set group"),
    ("set_assignee", "Set assignee"),
    ("add_tags", "Add tags"),
    ("remove_tags", "Remove tags"),
    ("add_note", "Add internal note"),
]
#: Actions whose value is a person or a group (the form's "person or group" select).
_WHO = {"set_group": "group", "set_assignee": "user"}


def actions_of(form: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The actions a form sends (a row without a type is skipped), and ``actions[i].value`` ->
    the input it came from."""
    out: list[dict[str, Any]] = []
    where: dict[str, str] = {}
    for i in range(100):
        if f"a_type_{i}" not in form:
            break
        kind = str(form.get(f"a_type_{i}", ""))
        if not kind:
            continue
        base = f"actions[{len(out)}]"
        text = str(form.get(f"a_value_{i}", "")).strip()
        value: Any = text
        if kind in _WHO:
            who, _, ident = str(form.get(f"a_target_{i}", "")).partition(":")
            value = int(ident) if who == _WHO[kind] and ident.isdigit() and len(ident) < 19 else None
            where[f"{base}.value"] = f"a_target_{i}"
        else:
            where[f"{base}.value"] = f"a_value_{i}"
        if kind in ("add_tags", "remove_tags"):
            value = [t.strip() for t in text.split(",") if t.strip()]
            for j in range(len(value)):
                where[f"{base}.value[{j}]"] = f"a_value_{i}"
        elif kind == "set_type" and not text:
            value = None
        where[f"{base}.type"] = where[base] = f"a_type_{i}"
        out.append({"type": kind, "value": value})
    return out, where


def action_rows(actions: list[Any]) -> list[dict[str, Any]]:
    rows = []
    for a in actions:
        kind, value = a.get("type", ""), a.get("value")
        target, text = "", ""
        if kind in _WHO:
            target = f"{_WHO[kind]}:{value}" if value is not None else ""
        elif isinstance(value, list):
            text = ", ".join(map(str, value))
        else:
            text = "" if value is None else str(value)
        rows.append({"type": kind, "target": target, "value": text})
    return rows + [{"type": "", "target": "", "value": ""}] * SPARE
