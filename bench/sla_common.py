"""Shared pieces of the SLA benchmarks (issue 14): a migrated database of its own, a workspace
configured the way an admin does it (a schedule and a fallback policy through the API, in process),
people with tokens, and tickets created through the API.

The schedule is office hours in Berlin with two holidays; the policy gives *normal* tickets a
business-time first reply (4 h, warned 30 min before) and resolution (3 days, warned 4 h before):
a customer-created ticket then runs first_reply and resolution with targets and requester_wait and
agent_work without."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from common import VAR, async_url, dialect, plain_pg_url, sqlite_path

from helpline.app import create_app
from helpline.db.migrate import upgrade
from helpline.domains.accounts import service as accounts
from helpline.domains.accounts.models import Role
from helpline.platform.feed import REGISTRY, FeedWorker
from helpline.platform.jobs import JobRunner
from helpline.platform.runtime import Platform, build_platform
from helpline.settings import Settings

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
HOLIDAYS = [{"name": "New Year", "start": "2027-01-01"}, {"name": "Labour Day", "start": "2027-05-01"}]
OFFICE = {
    "timezone": "Europe/Berlin",
    "week": {d: [["09:00", "17:00"]] for d in WEEKDAYS},
    "holidays": HOLIDAYS,
}
#: The edit the recompute follows: longer days.
LONGER = {
    "timezone": "Europe/Berlin",
    "week": {d: [["08:00", "18:00"]] for d in WEEKDAYS},
    "holidays": HOLIDAYS,
}
TARGETS = {
    "normal": {
        "first_reply": {"minutes": 240, "business": True, "warn": 30},
        "resolution": {"minutes": 3 * 24 * 60, "business": True, "warn": 240},
    },
    "high": {
        "first_reply": {"minutes": 60, "business": True, "warn": 15},
        "resolution": {"minutes": 24 * 60, "business": True, "warn": 120},
    },
}


async def prepare(url: str) -> None:
    """An empty, migrated database (dropped first)."""
    if dialect(url) == "sqlite":
        path = sqlite_path(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)  # noqa: ASYNC240 - before anything runs
    else:
        base, name = plain_pg_url(url).rsplit("/", 1)
        admin = await asyncpg.connect(f"{base}/test")
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
    await asyncio.to_thread(upgrade, async_url(url))


def platform_for(url: str) -> Platform:
    return build_platform(
        Settings(
            database_url=async_url(url),
            var_dir=VAR,
            secret_key="sla-bench-secret-0123456789abcdefghij",
            mail_transport="console",
            run_jobs_in_process=False,
        )
    )


@dataclass
class Desk:
    """A configured workspace: its id, schedule, policy, and tokens of an admin, agent, customer."""

    platform: Platform
    app: Any
    ws: int
    schedule_id: int
    policy_id: int
    tokens: dict[str, str]
    contact_id: int

    def client(self, role: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url="http://bench/api/v1",
            headers={"Authorization": f"Bearer {self.tokens[role]}"},
        )

    async def drain(self) -> int:
        return await JobRunner(self.platform).drain()


async def desk(platform: Platform) -> Desk:
    """A workspace with the schedule and policy configured through the API."""
    await FeedWorker(platform, REGISTRY).setup()
    async with platform.db.transaction() as uow:
        ws = await accounts.create_workspace(uow, "SLA bench", f"sla-bench-{uuid.uuid4().hex[:8]}")
    tokens: dict[str, str] = {}
    contact_id = 0
    for role in (Role.admin, Role.agent, Role.customer):
        email = f"{role.value}@sla.bench.example.com"
        async with platform.db.transaction() as uow:
            uid = await accounts.create_user(uow, ws, email=email, role=role, name=role.value)
            _, tokens[role.value] = await accounts.create_token(uow, ws, uid, name="bench")
        if role is Role.customer:
            from helpline.domains.customers.service import contact_by_identity

            async with platform.db.transaction() as uow:
                contact_id = int(await contact_by_identity(uow, ws, "email", email))
    d = Desk(platform, create_app(platform=platform), ws, 0, 0, tokens, contact_id)
    async with d.client("admin") as c:
        r = await c.post("/schedules", json={"name": "Office hours", "body": OFFICE})
        assert r.status_code == 201, r.text
        d.schedule_id = int(r.json()["id"])
        r = await c.post("/sla-policies", json={"name": "Standard", "is_fallback": True, "targets": TARGETS})
        assert r.status_code == 201, r.text
        d.policy_id = int(r.json()["id"])
    await d.drain()
    return d


async def customer_ticket(d: Desk, subject: str = "Printer on fire") -> int:
    async with d.client("customer") as c:
        r = await c.post("/tickets", json={"subject": subject, "body": "Help!"})
        assert r.status_code == 201, r.text
    return int(r.json()["id"])
