"""Admin pages of time rules: the ordered list (move up/down), a new rule and one rule: name,
description, active, conditions (the rows SLA policies use, with the timed fields), actions (rows of
type, person or group, value) and a dry run ("Try it") that lists the tickets it would act on now.
Admins only. Works without JavaScript: each list shows its rows and two empty ones.

Writes go through :mod:`helpline.domains.automation.time_rules`; an error shows under the input it
names (``actions[0].value`` under that row's value)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from helpline.domains.accounts.admin_views import FLASHES, AdminPage, workspace_groups, workspace_people
from helpline.domains.accounts.principal import Principal
from helpline.domains.automation import actions as acts
from helpline.domains.automation import conditions as cond
from helpline.domains.automation import time_rules
from helpline.domains.automation.condition_form import OPERATOR_LABELS, condition_rows, conditions_of
from helpline.domains.automation.rule_book import RuleChanges
from helpline.domains.automation.time_rule_form import ACTION_LABELS, action_rows, actions_of
from helpline.domains.tickets import fields
from helpline.errors import Problem
from helpline.web.deps import PlatformDep
from helpline.web.forms import errors_of, flash_of, form_of
from helpline.web.pages import redirect
from helpline.web.templating import render
from helpline.web.types import IdPath

router = APIRouter(include_in_schema=False)
_HINT = (
    'Time fields ("Hours since updated"…) take a number of hours. The rule must make itself false: '
    "add a tag the conditions exclude, change the status they require, or require hours since updated."
)


def _summary(item: dict[str, Any]) -> str:
    return ", ".join(acts.describe(a) for a in item["actions"])


async def _page(
    request: Request,
    actor: Principal,
    platform: Any,
    item: dict[str, Any] | None,
    *,
    shown: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    tried: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    async with platform.db.read() as conn:
        defs = await fields.definitions(conn, actor.workspace_id)
        groups = await workspace_groups(conn, actor)
        people = await workspace_people(conn, actor, staff_only=True)
    shown = shown or {
        k: (item or {}).get(k, d)
        for k, d in (("name", ""), ("description", ""), ("active", True), ("conditions", {}), ("actions", []))
    }
    field_opts = [(k, s.label) for k, s in cond.FIELDS.items() if k not in cond.TRIGGER]
    field_opts += [(f"{cond.CUSTOM_PREFIX}{k}", f"Custom: {d['label']}") for k, d in defs.items()]
    ops = list(dict.fromkeys(op for kind in cond.OPERATORS.values() for op in kind))
    return render(
        request,
        "automation/time_rule_edit.html",
        {
            "title": f"Time rule {item['name']}" if item else "New time rule",
            "item": item,
            "values": shown,
            "conditions": condition_rows(shown["conditions"]),
            "conditions_hint": _HINT,
            "actions": action_rows(shown["actions"]),
            "field_options": [("", "—"), *field_opts],
            "operator_options": [("", "—"), *((o, OPERATOR_LABELS[o]) for o in ops)],
            "action_options": [("", "—"), *ACTION_LABELS],
            "targets_of": [("", "— (none)")]
            + [(f"user:{p['id']}", p["name"] or p["email"]) for p in people if p["is_active"]]
            + [(f"group:{g['id']}", f"Group: {g['name']}") for g in groups],
            "tried": tried,
            "errors": errors or {},
            "flash": flash_of(request, FLASHES),
            "section": "time_rules",
        },
        status=status,
    )


async def _save(request: Request, actor: Principal, platform: Any, rule_id: int | None) -> Response:
    form = await form_of(request)
    async with platform.db.read() as conn:
        defs = await fields.definitions(conn, actor.workspace_id)
    conditions, w1 = conditions_of(form, {k: str(d["type"]) for k, d in defs.items()})
    actions, w2 = actions_of(form)
    changes = RuleChanges(
        name=str(form.get("name", "")),
        description=str(form.get("description", "")),
        active=bool(form.get("active")),
        conditions=conditions,
        actions=actions,
    )
    item = None
    if rule_id is not None:
        async with platform.db.read() as conn:
            item = await time_rules.access_rule(conn, actor, rule_id)
    shown = {**changes.__dict__, "name": form.get("name", "")}
    try:
        if form.get("try"):  # the dry run: nothing is saved
            async with platform.db.transaction() as uow:
                conds, checked = await time_rules.check_rule(uow, actor, conditions, actions)
                tried = await time_rules.dry_run(uow.conn, actor, conds, checked)
            return await _page(request, actor, platform, item, shown=shown, tried=tried)
        async with platform.db.transaction() as uow:
            if rule_id is None:
                rule_id = await time_rules.do_create(uow, actor, changes)
            else:
                await time_rules.do_update(uow, actor, rule_id, changes)
    except Problem as exc:
        if exc.status in (403, 404):
            raise
        return await _page(
            request, actor, platform, item, shown=shown, errors=errors_of(exc, {**w1, **w2}), status=422
        )
    return redirect(f"/admin/time-rules/{rule_id}?done=saved")


@router.get("/admin/time-rules")
async def rules_page(request: Request, actor: AdminPage, platform: PlatformDep) -> HTMLResponse:
    async with platform.db.read() as conn:
        items = await time_rules.list_rules(conn, actor)
    for r in items:
        r["summary"] = _summary(r)
        r["n_conditions"] = len(r["conditions"].get("all", [])) + len(r["conditions"].get("any", []))
    return render(
        request,
        "automation/time_rules.html",
        {"title": "Time rules", "items": items, "flash": flash_of(request, FLASHES), "section": "time_rules"},
    )


@router.get("/admin/time-rules/new")
async def new_rule_page(request: Request, actor: AdminPage, platform: PlatformDep) -> HTMLResponse:
    return await _page(request, actor, platform, None)


@router.post("/admin/time-rules/new")
async def create_rule(request: Request, actor: AdminPage, platform: PlatformDep) -> Response:
    return await _save(request, actor, platform, None)


@router.get("/admin/time-rules/{rule_id}")
async def rule_page(
    request: Request, rule_id: IdPath, actor: AdminPage, platform: PlatformDep
) -> HTMLResponse:
    async with platform.db.read() as conn:
        item = await time_rules.access_rule(conn, actor, rule_id)
    return await _page(request, actor, platform, item)


@router.post("/admin/time-rules/{rule_id}")
async def update_rule(request: Request, rule_id: IdPath, actor: AdminPage, platform: PlatformDep) -> Response:
    return await _save(request, actor, platform, rule_id)


@router.post("/admin/time-rules/{rule_id}/move")
async def move_rule(request: Request, rule_id: IdPath, actor: AdminPage, platform: PlatformDep) -> Response:
    form = await form_of(request)
    async with platform.db.transaction() as uow:
        await time_rules.do_move(uow, actor, rule_id, -1 if form.get("direction") == "up" else 1)
    return redirect("/admin/time-rules?done=saved")


@router.post("/admin/time-rules/{rule_id}/delete")
async def delete_rule(rule_id: IdPath, actor: AdminPage, platform: PlatformDep) -> Response:
    async with platform.db.transaction() as uow:
        await time_rules.do_delete(uow, actor, rule_id)
    return redirect("/admin/time-rules?done=deleted")
