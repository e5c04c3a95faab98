"""The SLA policy admin form as data, with no web code: conditions, targets and escalations from the
submitted fields (and where each part came from), and the rows a saved policy shows as."""

from __future__ import annotations

from typing import Any

from helpline.domains.automation.condition_form import SPARE
from helpline.domains.automation.schemas import METRICS, PRIORITIES

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
