"""HTTP API of time rules (``/api/v1/time-rules``): the routes every kind of rule has
(``rules_api``) and the dry run. The rules are ``time_rules.py``'s."""

from __future__ import annotations

from fastapi import APIRouter

from helpline.domains.automation import actions as acts
from helpline.domains.automation import time_rules
from helpline.domains.automation.rules_api import rule_routes
from helpline.domains.automation.schemas import TimeRuleDryRun, TimeRuleDryRunResult
from helpline.domains.automation.sla_policies import check_conditions
from helpline.web.deps import CurrentPrincipal, PlatformDep
from helpline.web.responses import JSON

router = APIRouter(tags=["time-rules"])


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


rule_routes(
    router,
    time_rules.BOOK,
    "/time-rules",
    create_note="Refused (422 naming `actions`) unless the actions make one of the `all` conditions "
    "false, so the rule acts once per ticket.",
)
