"""HTTP API of time rules (``/api/v1/time-rules``). The rules are ``time_rules.py``'s."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from helpline.domains.automation import actions as acts
from helpline.domains.automation import time_rules
from helpline.domains.automation.rule_book import RuleChanges
from helpline.domains.automation.schemas import (
    TimeRuleCreate,
    TimeRuleDryRun,
    TimeRuleDryRunResult,
    TimeRuleOrder,
    TimeRuleRead,
    TimeRuleUpdate,
)
from helpline.domains.automation.sla_policies import check_conditions
from helpline.web.deps import CurrentPrincipal, PlatformDep
from helpline.web.responses import JSON
from helpline.web.types import IdPath

router = APIRouter(tags=["time-rules"])


def _changes(body: TimeRuleCreate | TimeRuleUpdate) -> RuleChanges:
    sent: dict[str, Any] = body.model_dump(exclude_unset=True, exclude_none=True, mode="json")
    return RuleChanges(**{k: sent[k] for k in RuleChanges.__dataclass_fields__ if k in sent})


@router.get("/time-rules", response_model=list[TimeRuleRead], summary="Time rules in the order they run")
async def list_rules(actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    async with platform.db.read() as conn:
        return JSON(await time_rules.list_rules(conn, actor))


@router.post(
    "/time-rules",
    status_code=201,
    response_model=TimeRuleRead,
    summary="Create a time rule (admins)",
    description="Refused (422 naming `actions`) unless the actions make one of the `all` conditions "
    "false, so the rule acts once per ticket.",
)
async def create_rule(body: TimeRuleCreate, actor: CurrentPrincipal, platform: PlatformDep) -> Response:
    async with platform.db.transaction() as uow:
        rule_id = await time_rules.do_create(uow, actor, _changes(body))
        item = await time_rules.access_rule(uow.conn, actor, rule_id)
    return JSON(item, status_code=201, headers={"Location": f"/api/v1/time-rules/{rule_id}"})


@router.post(
    "/time-rules/dry-run",
    response_model=TimeRuleDryRunResult,
    summary="Which of the latest 1,000 tickets a rule would act on now, and what it would do",
)
async def dry_run(body: TimeRuleDryRun, actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    async with platform.db.read() as conn:
        data = body.model_dump(mode="json")
        conds = await check_conditions(conn, actor.workspace_id, data["conditions"], timed=True)
        checked = acts.validate(data["actions"])
        result = await time_rules.dry_run(conn, actor, conds, checked)
    return JSON(result | {"stops": acts.stops(conds, checked)})


@router.post("/time-rules/order", response_model=list[TimeRuleRead], summary="Set the run order (admins)")
async def order_rules(body: TimeRuleOrder, actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    async with platform.db.transaction() as uow:
        await time_rules.do_reorder(uow, actor, body.ids)
        return JSON(await time_rules.list_rules(uow.conn, actor))


@router.get("/time-rules/{rule_id}", response_model=TimeRuleRead, summary="One time rule")
async def get_rule(rule_id: IdPath, actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    async with platform.db.read() as conn:
        return JSON(await time_rules.access_rule(conn, actor, rule_id))


@router.patch("/time-rules/{rule_id}", response_model=TimeRuleRead, summary="Change a time rule (admins)")
async def update_rule(
    rule_id: IdPath, body: TimeRuleUpdate, actor: CurrentPrincipal, platform: PlatformDep
) -> JSON:
    async with platform.db.transaction() as uow:
        await time_rules.do_update(uow, actor, rule_id, _changes(body))
        return JSON(await time_rules.access_rule(uow.conn, actor, rule_id))


@router.delete("/time-rules/{rule_id}", status_code=204, summary="Delete a time rule (admins)")
async def delete_rule(rule_id: IdPath, actor: CurrentPrincipal, platform: PlatformDep) -> Response:
    async with platform.db.transaction() as uow:
        await time_rules.do_delete(uow, actor, rule_id)
    return Response(status_code=204)
