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
from helpline.domains.automation.condition_form import OPERATOR_LABELS, condition_rows, conditions_of
from helpline.domains.automation.schemas import METRICS, PRIORITIES
from helpline.domains.automation.sla_form import (
    ACTIONS,
    METRIC_LABELS,
    _escalation_rows,
    _escalations,
    _targets,
)
from helpline.domains.automation.sla_policies import PolicyChanges
from helpline.domains.tickets import fields
from helpline.errors import Problem
from helpline.web.deps import PlatformDep
from helpline.web.forms import errors_of, flash_of, form_of
from helpline.web.pages import redirect
from helpline.web.templating import render
from helpline.web.types import IdPath

router = APIRouter(include_in_schema=False)


# --- form -> policy ----------------------------------------------------------------------------------


# --- policy -> form rows -------------------------------------------------------------------------------


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
    field_opts = [(k, s.label) for k, s in cond.FIELDS.items() if k not in cond.TIMED | cond.TRIGGER]
    field_opts += [(f"{cond.CUSTOM_PREFIX}{k}", f"Custom: {d['label']}") for k, d in defs.items()]
    ops = list(dict.fromkeys(op for kind, some in cond.OPERATORS.items() if kind != "hours" for op in some))
    return render(
        request,
        "automation/sla_policy_edit.html",
        {
            "title": f"SLA policy {item['name']}" if item else "New SLA policy",
            "item": item,
            "values": shown,
            "conditions": condition_rows(shown["conditions"]),
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
    conditions, w1 = conditions_of(form, {k: str(d["type"]) for k, d in defs.items()})
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
            request, actor, platform, item, shown=shown, errors=errors_of(exc, {**w1, **w2, **w3}), status=422
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
