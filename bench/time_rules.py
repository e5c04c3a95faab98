"""A time rules pass over 1M open tickets on PostgreSQL (issue 15; target < 60 s).

It runs on the database ``sla_recompute.py`` seeded (1M open tickets created over the last three
days, each with its SLA rows; run that first, or give ``--seed`` to seed here the same way), in its
workspace. Three rules are saved through the API, as an admin does:

- **remind**: status is new, hours since created more than 48, tags include none of ``bench-reminded``
  → add that tag and an internal note. About a third of the tickets match: the pass acts on
  ``time_rules.LIMIT`` (1,000) of them, through the tickets service, one transaction each;
- **breach soon**: hours until breach at most 1 and priority is normal → set priority high (reads
  every ticket's SLA summary);
- **custom**: a custom field's value (``custom.plan`` is ``enterprise``) and hours since updated more
  than 24 → tag: no index helps, every open ticket's JSON is read.

Then ``time_rules.run_pass`` for that workspace is timed end to end (wall, this process's CPU and
the ``postgres`` processes' CPU) and what it did is counted. One JSON line. Run it again: the
reminded tickets no longer match, the next 1,000 do.

    .venv/bin/python bench/sla_recompute.py --tickets 1000000   # seeds bench_sla_1m
    .venv/bin/python bench/time_rules.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import async_url, emit, log
from loadgen import CpuMeter
from sla_common import Desk, platform_for
from sla_recompute import DEFAULT_URL, STATE

from helpline.app import create_app
from helpline.db.migrate import upgrade
from helpline.domains.automation import time_rules

RULES: list[dict[str, Any]] = [
    {
        "name": "Bench: remind",
        "conditions": {
            "all": [
                {"field": "status", "operator": "is", "value": "new"},
                {"field": "hours_since_created", "operator": "gt", "value": 48},
                {"field": "tags", "operator": "includes_none", "value": ["bench-reminded"]},
            ]
        },
        "actions": [
            {"type": "add_tags", "value": ["bench-reminded"]},
            {"type": "add_note", "value": "Reminded by the bench."},
        ],
    },
    {
        "name": "Bench: breach soon",
        "conditions": {
            "all": [
                {"field": "hours_until_breach", "operator": "lte", "value": 1},
                {"field": "priority", "operator": "is", "value": "normal"},
            ]
        },
        "actions": [{"type": "set_priority", "value": "high"}],
    },
    {
        "name": "Bench: custom",
        "conditions": {
            "all": [
                {"field": "custom.plan", "operator": "is", "value": "enterprise"},
                {"field": "hours_since_updated", "operator": "gt", "value": 24},
            ]
        },
        "actions": [{"type": "add_tags", "value": ["bench-enterprise"]}],
    },
]


async def run(a: argparse.Namespace) -> None:
    if a.seed:
        from sla_recompute import seeded

        platform = platform_for(a.database_url)
        await seeded(
            argparse.Namespace(again=False, database_url=a.database_url, tickets=a.tickets), platform
        )
        await platform.close()
    saved = json.loads(STATE.read_text())
    await asyncio.to_thread(upgrade, async_url(saved["url"]))  # seeded by an older version, maybe
    platform = platform_for(saved["url"])
    try:
        d = Desk(platform, create_app(platform=platform), *saved["desk"])
        async with d.client("admin") as c:
            for rule in (await c.get("/time-rules")).json():  # the last run's
                assert (await c.delete(f"/time-rules/{rule['id']}")).status_code == 204
            r = await c.post("/custom-fields", json={"key": "plan", "label": "Plan", "type": "text"})
            assert r.status_code in (201, 409), r.text  # the third rule names it
            for rule in RULES:
                r = await c.post("/time-rules", json=rule)
                assert r.status_code == 201, r.text
        open_tickets = await _count(platform, d.ws)
        load = os.getloadavg()
        meter = CpuMeter()
        meter.start()
        cpu0, t0 = time.process_time(), time.perf_counter()
        acted = await time_rules.run_pass(platform, workspace_id=d.ws)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        used = meter.stop(requests=1)
        emit(
            bench="time_rules.pass",
            db="postgresql",
            open_tickets=open_tickets,
            rules=len(RULES),
            acted=acted,
            limit_per_rule=time_rules.LIMIT,
            seconds=round(wall, 2),
            cpu_s_process=round(cpu, 2),
            cpu_s_db=round(used["cpu_ms_per_req_db"] / 1000, 2),
            ms_per_action=round(wall * 1000 / max(acted, 1), 2),
            target_s=60,
            load1_before=round(load[0], 2),
            load1_after=round(os.getloadavg()[0], 2),
            cores=os.cpu_count(),
        )
    finally:
        await platform.close()


async def _count(platform: Any, ws: int) -> int:
    async with platform.db.read() as conn:
        return int(
            (
                await conn.execute(
                    sa.text("SELECT count(*) FROM tickets WHERE workspace_id = :w AND status <> 'closed'"),
                    {"w": ws},
                )
            ).scalar_one()
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", action="store_true", help="seed the database first (as sla_recompute.py does)")
    p.add_argument("--database-url", default=DEFAULT_URL, help="with --seed: dropped and created again")
    p.add_argument("--tickets", type=int, default=1_000_000, help="with --seed")
    log("time rules pass")
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
