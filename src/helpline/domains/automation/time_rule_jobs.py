"""The time rules' job: a pass over every workspace's rules (``time_rules.run_pass``), then the next
pass queued at the next boundary while any rule is active (a rule saved queues one too)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from helpline.domains.automation import time_rules
from helpline.platform.jobs import job_handler

if TYPE_CHECKING:
    from helpline.platform.runtime import Platform


@job_handler("automation.time_rules")
async def run(platform: Platform, batch: list[dict[str, Any]]) -> None:
    await time_rules.run_pass(platform)
    async with platform.db.transaction() as uow:
        active = (
            await uow.execute(
                sa.select(time_rules.rules_t.c.id).where(time_rules.rules_t.c.active.is_(True)).limit(1)
            )
        ).first()
        if active is not None:
            await time_rules.schedule_pass(uow)
