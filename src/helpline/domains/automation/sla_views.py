"""Admin pages of SLA policies: the ordered list (move up/down, the fallback marked), a new policy and
one policy: name, description, active, fallback, conditions (rows of all/any, field, operator, value),
targets (priority by metric: minutes, business or calendar, warn before) and escalations (rows of
warn/breach, metric, action and its value). Admins only. Works without JavaScript: each list shows
its rows and two empty ones (clear a row to remove it).

Writes go through :mod:`helpline.domains.automation.sla_policies`; an error is shown under the input
it names (``targets.urgent.first_reply.warn`` under that cell, ``conditions.all[0].value`` under
that row's value).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from helpline.domains.accounts.admin_views import FLASHES, AdminPage, workspace_groups, workspace_people
from helpline.domains.accounts.principal import Principal
from helpline.domains.automation import conditions as cond
from helpline.domains.automation import sla_policies
from helpline.domains.automation.schemas import METRICS, PRIORITIES
from helpline.domains.automation.sla_policies import PolicyChanges
from helpline.domains.tickets import fields
from helpline.errors import Problem
from helpline.web.deps import PlatformDep
from helpline.web.forms import errors_of, flash_of, form_of
from helpline.web.pages import redirect
from helpline.web.templating import render
from helpline.web.types import IdPath

router = APIRouter(include_in_schema=False)
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


# --- form -> policy ----------------------------------------------------------------------------------


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


def _errors(exc: Problem, where: dict[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for err in exc.errors:
        field = str(err.get("field", "_"))
        name = where.get(field)
        while name is None and ("." in field or "[" in field):
            field = field[: max(field.rfind("."), field.rfind("["))]
            name = where.get(field)
        out.setdefault(name or field.split(".")[0].split("[")[0], str(err.get("message", exc.detail)))
    return out or errors_of(exc)


# --- policy -> form rows -------------------------------------------------------------------------------


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


async def _page(
    request: Request,
    actor: Principal,
    platform: Any,
    item: dict[str, Any] | None,
    *,
    shown: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    async with platform.db.read() as conn:
        defs = await fields.definitions(conn, actor.workspace_id)
        groups = await workspace_groups(conn, actor)
        people = await workspace_people(conn, actor, staff_only=True)
    shown = shown or {
        k: (item or {}).get(k, d)
        for k, d in (
            ("name", ""),
            ("description", ""),
            ("active", True),
            ("is_fallback", False),
            ("conditions", {}),
            ("targets", {}),
            ("escalations", []),
        )
    }
    field_opts = [(k, s.label) for k, s in cond.FIELDS.items()]
    field_opts += [(f"{cond.CUSTOM_PREFIX}{k}", f"Custom: {d['label']}") for k, d in defs.items()]
    ops = list(dict.fromkeys(op for kind in cond.OPERATORS.values() for op in kind))
    return render(
        request,
        "automation/sla_policy_edit.html",
        {
            "title": f"SLA policy {item['name']}" if item else "New SLA policy",
            "item": item,
            "values": shown,
            "conditions": _condition_rows(shown["conditions"]),
            "escalations": _escalation_rows(shown["escalations"]),
            "field_options": [("", "—"), *field_opts],
            "operator_options": [("", "—"), *((o, OPERATOR_LABELS[o]) for o in ops)],
            "priorities": PRIORITIES,
            "metrics": [(m, METRIC_LABELS[m]) for m in METRICS],
            "actions": [("", "—"), *ACTIONS],
            "targets_of": [("", "—")]
            + [(f"user:{p['id']}", p["name"] or p["email"]) for p in people if p["is_active"]]
            + [(f"group:{g['id']}", f"Group: {g['name']}") for g in groups],
            "errors": errors or {},
            "flash": flash_of(request, FLASHES),
            "section": "sla",
        },
        status=status,
    )


async def _save(request: Request, actor: Principal, platform: Any, policy_id: int | None) -> Response:
    form = await form_of(request)
    async with platform.db.read() as conn:
        defs = await fields.definitions(conn, actor.workspace_id)
    conditions, w1 = _conditions(form, {k: str(d["type"]) for k, d in defs.items()})
    targets, w2 = _targets(form)
    escalations, w3 = _escalations(form)
    changes = PolicyChanges(
        name=str(form.get("name", "")),
        description=str(form.get("description", "")),
        active=bool(form.get("active")),
        is_fallback=bool(form.get("is_fallback")),
        conditions=conditions,
        targets=targets,
        escalations=escalations,
    )
    try:
        async with platform.db.transaction() as uow:
            if policy_id is None:
                policy_id = await sla_policies.do_create(uow, actor, changes)
            else:
                await sla_policies.do_update(uow, actor, policy_id, changes)
    except Problem as exc:
        if exc.status in (403, 404):
            raise
        item = None
        if policy_id is not None:
            async with platform.db.read() as conn:
                item = await sla_policies.access_policy(conn, actor, policy_id)
        shown = {**changes.__dict__, "name": form.get("name", "")}
        return await _page(
            request, actor, platform, item, shown=shown, errors=_errors(exc, {**w1, **w2, **w3}), status=422
        )
    return redirect(f"/admin/sla-policies/{policy_id}?done=saved")


# --- routes -----------------------------------------------------------------------------------------


@router.get("/admin/sla-policies")
async def policies_page(request: Request, actor: AdminPage, platform: PlatformDep) -> HTMLResponse:
    async with platform.db.read() as conn:
        items = await sla_policies.list_policies(conn, actor)
    for p in items:
        p["n_targets"] = sum(len(m) for m in p["targets"].values())
        p["n_conditions"] = len(p["conditions"].get("all", [])) + len(p["conditions"].get("any", []))
    return render(
        request,
        "automation/sla_policies.html",
        {"title": "SLA policies", "items": items, "flash": flash_of(request, FLASHES), "section": "sla"},
    )


@router.get("/admin/sla-policies/new")
async def new_policy_page(request: Request, actor: AdminPage, platform: PlatformDep) -> HTMLResponse:
    return await _page(request, actor, platform, None)


@router.post("/admin/sla-policies/new")
async def create_policy(request: Request, actor: AdminPage, platform: PlatformDep) -> Response:
    return await _save(request, actor, platform, None)


@router.get("/admin/sla-policies/{policy_id}")
async def policy_page(
    request: Request, policy_id: IdPath, actor: AdminPage, platform: PlatformDep
) -> HTMLResponse:
    async with platform.db.read() as conn:
        item = await sla_policies.access_policy(conn, actor, policy_id)
    return await _page(request, actor, platform, item)


@router.post("/admin/sla-policies/{policy_id}")
async def update_policy(
    request: Request, policy_id: IdPath, actor: AdminPage, platform: PlatformDep
) -> Response:
    return await _save(request, actor, platform, policy_id)


@router.post("/admin/sla-policies/{policy_id}/move")
async def move_policy(
    request: Request, policy_id: IdPath, actor: AdminPage, platform: PlatformDep
) -> Response:
    form = await form_of(request)
    async with platform.db.transaction() as uow:
        await sla_policies.do_move(uow, actor, policy_id, -1 if form.get("direction") == "up" else 1)
    return redirect("/admin/sla-policies?done=saved")


@router.post("/admin/sla-policies/{policy_id}/delete")
async def delete_policy(policy_id: IdPath, actor: AdminPage, platform: PlatformDep) -> Response:
    async with platform.db.transaction() as uow:
        await sla_policies.do_delete(uow, actor, policy_id)
    return redirect("/admin/sla-policies?done=deleted")
