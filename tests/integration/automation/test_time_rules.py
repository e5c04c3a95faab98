"""Time rules through the API and the job runner's pass, with a controllable clock (time-machine):
a reminder tag after three days pending and closing seven days after solved, each once; two
workers and a pass cut short then run again act once per ticket; saving refuses a rule that
would act again and again, naming the part; admins only, one workspace; the dry run."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
import time_machine

from helpline.domains.automation import time_rules
from helpline.domains.tickets.history_text import Names, describe
from helpline.platform.models import Job
from helpline.platform.runtime import build_platform
from tests.conftest import WS, drain, problem

DAY0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday
REMIND = {
    "name": "Remind pending",
    "conditions": {
        "all": [
            {"field": "status", "operator": "is", "value": "pending"},
            {"field": "hours_since_updated", "operator": "gt", "value": 72},
            {"field": "tags", "operator": "includes_none", "value": ["reminded"]},
        ]
    },
    "actions": [
        {"type": "add_tags", "value": ["reminded"]},
        {"type": "add_note", "value": "Waiting three days for the customer: reminded."},
    ],
}
CLOSE = {
    "name": "Close after 7 days",
    "conditions": {
        "all": [
            {"field": "status", "operator": "is", "value": "solved"},
            {"field": "hours_since_solved", "operator": "gt", "value": 168},
        ]
    },
    "actions": [{"type": "set_status", "value": "closed"}],
}


def travel(when: datetime) -> Any:
    return time_machine.travel(when, tick=False)


async def _rule(ws: WS, admin: Any, body: dict[str, Any]) -> int:
    async with ws.client(admin) as c:
        r = await c.post("/time-rules", json=body)
        assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def _ticket(ws: WS, customer: Any, subject: str = "Where is my order?") -> int:
    async with ws.client(customer) as c:
        r = await c.post("/tickets", json={"subject": subject, "body": "Hello"})
        assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def _set(ws: WS, agent: Any, tid: int, **fields: Any) -> None:
    async with ws.client(agent) as c:
        r = await c.patch(f"/tickets/{tid}", json=fields)
        assert r.status_code == 200, r.text


async def _history(ws: WS, agent: Any, tid: int) -> list[str]:
    async with ws.client(agent) as c:
        r = await c.get(f"/tickets/{tid}/events")
        assert r.status_code == 200, r.text
    return [describe(e, Names()) for e in r.json()["items"]]


async def _ticket_read(ws: WS, agent: Any, tid: int) -> dict[str, Any]:
    async with ws.client(agent) as c:
        r = await c.get(f"/tickets/{tid}")
        assert r.status_code == 200, r.text
    return dict(r.json())


async def test_remind_after_three_days_pending_and_close_seven_days_after_solved_once(ws: WS) -> None:
    admin, agent, customer = await ws.person("admin"), await ws.person("agent"), await ws.person("customer")
    with travel(DAY0):
        await _rule(ws, admin, REMIND)
        await _rule(ws, admin, CLOSE)
        tid = await _ticket(ws, customer)
        await _set(ws, agent, tid, status="pending")
    with travel(DAY0 + timedelta(days=2)):
        assert await time_rules.run_pass(ws.platform, workspace_id=ws.id) == 0  # two days: nothing yet
    with travel(DAY0 + timedelta(days=3, minutes=5)):
        assert await time_rules.run_pass(ws.platform, workspace_id=ws.id) == 1
        assert await time_rules.run_pass(ws.platform, workspace_id=ws.id) == 0  # the tag stops it: once
    t = await _ticket_read(ws, agent, tid)
    assert "reminded" in t["tags"] and t["status"] == "pending"
    history = await _history(ws, agent, tid)
    assert any(
        "Time rule “Remind pending”: tagged it reminded, added an internal note" in h for h in history
    ), history
    with travel(DAY0 + timedelta(days=4)):
        await _set(ws, agent, tid, status="solved")
    with travel(DAY0 + timedelta(days=10, hours=23)):  # 6 days 23 h after solved
        assert await time_rules.run_pass(ws.platform, workspace_id=ws.id) == 0
    with travel(DAY0 + timedelta(days=11, minutes=1)):
        assert await time_rules.run_pass(ws.platform, workspace_id=ws.id) == 1
        assert await time_rules.run_pass(ws.platform, workspace_id=ws.id) == 0  # closed is final
    assert (await _ticket_read(ws, agent, tid))["status"] == "closed"
    history = await _history(ws, agent, tid)
    assert any("Time rule “Close after 7 days”: set the status to closed" in h for h in history), history


async def test_two_workers_and_a_pass_cut_short_then_run_again_act_once_per_ticket(ws: WS) -> None:
    admin, agent, customer = await ws.person("admin"), await ws.person("agent"), await ws.person("customer")
    with travel(DAY0):
        await _rule(ws, admin, REMIND)
        ids = [await _ticket(ws, customer, f"Ticket {i}") for i in range(12)]
        for tid in ids:
            await _set(ws, agent, tid, status="pending")
    other = build_platform(ws.platform.settings)
    try:
        with travel(DAY0 + timedelta(days=3, hours=1)):
            cut = await time_rules.run_pass(
                ws.platform, limit=4, workspace_id=ws.id
            )  # a worker stopped after 4 tickets
            both = await asyncio.gather(
                time_rules.run_pass(ws.platform, workspace_id=ws.id),
                time_rules.run_pass(other, workspace_id=ws.id),
            )
            again = await time_rules.run_pass(other, workspace_id=ws.id)  # after a restart
    finally:
        await other.close()
    assert cut == 4 and sum(both) == 8 and again == 0, (cut, both, again)
    async with ws.platform.db.read() as conn:
        applied = list(
            (
                await conn.execute(
                    sa.text("SELECT ticket_id FROM events WHERE kind = 'rule_applied' AND workspace_id = :w"),
                    {"w": ws.id},
                )
            ).scalars()
        )
    assert sorted(applied) == sorted(ids)


async def test_saving_checks_every_part_and_refuses_a_rule_that_would_act_again_and_again(ws: WS) -> None:
    admin = await ws.person("admin")
    cases = [
        (
            {
                **REMIND,
                "actions": [{"type": "add_note", "value": "hi"}],
                "conditions": {"all": [{"field": "status", "operator": "is", "value": "pending"}]},
            },
            "actions",
        ),
        (
            {
                **REMIND,
                "conditions": {"all": [{"field": "hours_since_nothing", "operator": "gt", "value": 1}]},
            },
            "conditions.all[0].field",
        ),
        (
            {
                **REMIND,
                "conditions": {"all": [{"field": "hours_since_updated", "operator": "contains", "value": 1}]},
            },
            "conditions.all[0].operator",
        ),
        ({**REMIND, "actions": [{"type": "explode", "value": 1}]}, "actions[0].type"),
        ({**REMIND, "actions": [{"type": "set_status", "value": "new"}]}, "actions[0].value"),
        ({**REMIND, "actions": [{"type": "set_group", "value": 999_999}]}, "actions[0].value"),
        ({**REMIND, "actions": [{"type": "add_tags", "value": ["two words"]}]}, "actions[0].value[0]"),
    ]
    async with ws.client(admin) as c:
        for body, field in cases:
            found = problem(await c.post("/time-rules", json=body), 422)
            assert found["errors"][0]["field"] == field, (field, found)
        assert (await c.post("/time-rules", json=REMIND)).status_code == 201
        taken = problem(await c.post("/time-rules", json=REMIND), 409)
        assert taken["errors"][0]["field"] == "name"


async def test_only_admins_change_rules_and_each_workspace_sees_its_own(ws: WS, make_ws: Any) -> None:
    admin, agent, customer = await ws.person("admin"), await ws.person("agent"), await ws.person("customer")
    rule = await _rule(ws, admin, REMIND)
    async with ws.client(agent) as c:
        problem(await c.post("/time-rules", json={**REMIND, "name": "Mine"}), 403)
        problem(await c.patch(f"/time-rules/{rule}", json={"active": False}), 403)
        assert [r["id"] for r in (await c.get("/time-rules")).json()] == [rule]
    async with ws.client(customer) as c:
        problem(await c.get("/time-rules"), 403)
    other = await make_ws("Other desk")
    their_admin = await other.person("admin")
    async with other.client(their_admin) as c:
        assert (await c.get("/time-rules")).json() == []
        problem(await c.get(f"/time-rules/{rule}"), 404)
        problem(await c.patch(f"/time-rules/{rule}", json={"active": False}), 404)
        problem(await c.delete(f"/time-rules/{rule}"), 404)
    async with ws.client(admin) as c:
        assert (await c.get(f"/time-rules/{rule}")).json()["active"] is True


async def test_a_pass_acts_only_on_its_workspaces_tickets(ws: WS, make_ws: Any) -> None:
    admin, agent, customer = await ws.person("admin"), await ws.person("agent"), await ws.person("customer")
    other = await make_ws("Other desk")
    their_agent, their_customer = await other.person("agent"), await other.person("customer")
    with travel(DAY0):
        await _rule(ws, admin, REMIND)
        mine = await _ticket(ws, customer)
        await _set(ws, agent, mine, status="pending")
        theirs = await _ticket(other, their_customer)
        await _set(other, their_agent, theirs, status="pending")
    with travel(DAY0 + timedelta(days=4)):
        assert await time_rules.run_pass(ws.platform) >= 1  # every workspace's rules, as the job runs them
    assert "reminded" in (await _ticket_read(ws, agent, mine))["tags"]
    assert "reminded" not in (await _ticket_read(other, their_agent, theirs))["tags"]


async def test_the_dry_run_shows_what_a_rule_would_do_and_saving_queues_the_pass(ws: WS) -> None:
    admin, agent, customer = await ws.person("admin"), await ws.person("agent"), await ws.person("customer")
    with travel(DAY0):
        waiting = await _ticket(ws, customer, "Waiting")
        await _set(ws, agent, waiting, status="pending")
        await _ticket(ws, customer, "Fresh")
    with travel(DAY0 + timedelta(days=5)):
        async with ws.client(agent) as c:
            r = await c.post(
                "/time-rules/dry-run", json={"conditions": REMIND["conditions"], "actions": REMIND["actions"]}
            )
            assert r.status_code == 200, r.text
            found = r.json()
            assert [t["id"] for t in found["tickets"]] == [waiting] and found["matches"] == 1
            assert (
                found["would"] == ["tagged it reminded", "added an internal note"] and found["stops"] is True
            )
            r = await c.post("/time-rules/dry-run", json={"actions": [{"type": "add_note", "value": "x"}]})
            assert r.json()["stops"] is False and r.json()["matches"] == 2
        async with ws.platform.db.read() as conn:
            saved = sa.text("SELECT 1 FROM time_rules WHERE workspace_id = :w")
            assert not (await conn.execute(saved, {"w": ws.id})).first()  # nothing saved
        await _rule(ws, admin, REMIND)
        jobs_t = Job.__table__
        async with ws.platform.db.read() as conn:
            queued = (
                (
                    await conn.execute(
                        sa.select(jobs_t.c.run_at).where(jobs_t.c.kind == "automation.time_rules")
                    )
                )
                .scalars()
                .all()
            )
        assert queued, "saving a rule queues the pass"
        with travel(max(queued) + timedelta(seconds=1)):
            await drain(ws.platform)
        assert "reminded" in (await _ticket_read(ws, agent, waiting))["tags"]


async def test_a_ticket_that_changes_between_the_match_and_the_act_is_left_for_the_next_pass(ws: WS) -> None:
    admin, agent, customer = await ws.person("admin"), await ws.person("agent"), await ws.person("customer")
    with travel(DAY0):
        rule_id = await _rule(ws, admin, REMIND)
        tid = await _ticket(ws, customer)
        await _set(ws, agent, tid, status="pending")
    async with ws.platform.db.read() as conn:
        rule = dict(
            (await conn.execute(sa.select(time_rules.rules_t).where(time_rules.rules_t.c.id == rule_id)))
            .mappings()
            .one()
        )
    with travel(DAY0 + timedelta(days=3, hours=1)):
        found = await time_rules._matching(ws.platform, rule, DAY0 + timedelta(days=3, hours=1), 10)
        assert [t for t, _ in found] == [tid]
        async with ws.client(customer) as c:  # the customer answers: the ticket is open again
            r = await c.post(f"/tickets/{tid}/messages", json={"body": "Here you go"})
            assert r.status_code == 201, r.text
        assert await time_rules._act(ws.platform, rule, tid, found[0][1]) is False
    t = await _ticket_read(ws, agent, tid)
    assert "reminded" not in t["tags"] and t["status"] == "open"


async def test_a_broken_rule_does_not_stop_the_others(ws: WS) -> None:
    admin, agent, customer = await ws.person("admin"), await ws.person("agent"), await ws.person("customer")
    with travel(DAY0):
        await _rule(ws, admin, REMIND)
        tid = await _ticket(ws, customer)
        await _set(ws, agent, tid, status="pending")
        async with ws.platform.db.transaction() as uow:  # a rule row no version could have saved
            await uow.execute(
                time_rules.rules_t.insert().values(
                    workspace_id=ws.id,
                    name="Broken",
                    description="",
                    position=0,
                    active=True,
                    conditions={"all": [{"field": "no_such_field", "operator": "is", "value": "x"}]},
                    actions=[{"type": "add_tags", "value": ["x"]}],
                    created_at=DAY0,
                    updated_at=DAY0,
                )
            )
    with travel(DAY0 + timedelta(days=4)):
        assert await time_rules.run_pass(ws.platform, workspace_id=ws.id) == 1
    assert "reminded" in (await _ticket_read(ws, agent, tid))["tags"]
