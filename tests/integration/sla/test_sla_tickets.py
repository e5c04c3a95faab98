"""SLAs on real tickets, driven the way a team works (API replies, status changes, priority
changes), with a controllable clock (time-machine): the clocks the API reads, pauses that do not
tick, reopen, the policy and schedule changes, and escalations that fire on time, once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
import time_machine

from helpline.domains.automation.models import SlaEvent
from helpline.domains.automation.sla import alerts
from helpline.platform.models import Job
from helpline.platform.runtime import build_platform
from tests.conftest import WS, Person, drain
from tests.sla_setup import ALWAYS, OFFICE, configure

UTC0 = datetime(2026, 12, 1, tzinfo=UTC)  # a Tuesday; Berlin is UTC+1 all month


def at(day: int, hh: int, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(2026, 12, day, hh, mm, ss, tzinfo=UTC)


def travel(when: datetime) -> Any:
    return time_machine.travel(when, tick=False)


async def customer_ticket(ws: WS, customer: Person) -> int:
    async with ws.client(customer) as c:
        r = await c.post("/tickets", json={"subject": "Printer on fire", "body": "Help!"})
        assert r.status_code == 201, r.text
    await drain(ws.platform)
    return int(r.json()["id"])


async def sla(ws: WS, who: Person, tid: int, when: datetime | None = None) -> dict[str, dict[str, Any]]:
    """The ticket's SLA targets by metric, as the API reads them at ``when`` (the clock's now)."""
    if when is None:
        return await _sla(ws, who, tid)
    with travel(when):
        return await _sla(ws, who, tid)


async def _sla(ws: WS, who: Person, tid: int) -> dict[str, dict[str, Any]]:
    async with ws.client(who) as c:
        r = await c.get(f"/tickets/{tid}")
    assert r.status_code == 200, r.text
    return {e["metric"]: e for e in r.json()["sla"]}


async def say(ws: WS, who: Person, tid: int, body: str = "…", public: bool = True) -> None:
    async with ws.client(who) as c:
        r = await c.post(f"/tickets/{tid}/messages", json={"body": body, "public": public})
        assert r.status_code == 201, r.text
    await drain(ws.platform)


async def change(ws: WS, who: Person, tid: int, **fields: Any) -> None:
    async with ws.client(who) as c:
        r = await c.patch(f"/tickets/{tid}", json=fields)
        assert r.status_code == 200, r.text
    await drain(ws.platform)


def iso(t: datetime) -> str:
    return t.isoformat()


async def test_first_and_next_reply_through_the_api(ws: WS) -> None:
    await configure(ws, targets={"normal": {"first_reply": {"minutes": 60}, "next_reply": {"minutes": 10}}})
    agent, customer = await ws.person("agent"), await ws.person("customer")
    with travel(at(7, 9)):
        tid = await customer_ticket(ws, customer)
    s = await sla(ws, agent, tid, at(7, 9, 1))
    assert s["first_reply"]["status"] == "active" and s["first_reply"]["due_at"] == iso(at(7, 10))
    assert "next_reply" not in s  # nothing to measure before the first reply
    with travel(at(7, 9, 5)):
        await say(ws, customer, tid, "Anyone?")  # before any reply: first reply still rules
    s = await sla(ws, agent, tid, at(7, 9, 6))
    assert "next_reply" not in s and s["first_reply"]["due_at"] == iso(at(7, 10))
    with travel(at(7, 9, 30)):
        await say(ws, agent, tid, "Turn it off.")
    with travel(at(7, 9, 31)):
        s = await sla(ws, agent, tid)
    assert s["first_reply"]["status"] == "fulfilled" and s["first_reply"]["calendar_minutes"] == 30
    with travel(at(7, 9, 40)):
        await say(ws, agent, tid, "Also unplug it.")  # the agent spoke last: no next reply runs
    assert "next_reply" not in await sla(ws, agent, tid, at(7, 9, 41))
    with travel(at(7, 9, 45)):
        await say(ws, customer, tid, "Done, still smoking")
    s = await sla(ws, agent, tid, at(7, 9, 46))
    assert s["next_reply"]["status"] == "active" and s["next_reply"]["due_at"] == iso(at(7, 9, 55))
    # The customer also wrote in the public reply's thread by email earlier; a second message
    # does not restart the wait.
    with travel(at(7, 9, 50)):
        await say(ws, customer, tid, "Hello??")
    assert (await sla(ws, agent, tid, at(7, 9, 51)))["next_reply"]["due_at"] == iso(at(7, 9, 55))


async def test_pending_then_solved_deducts_the_pause_and_reopen_resumes(ws: WS) -> None:
    await configure(
        ws,
        targets={"normal": {"requester_wait": {"minutes": 120}, "resolution": {"minutes": 240}}},
    )
    agent, customer = await ws.person("agent"), await ws.person("customer")
    with travel(at(7, 9)):
        tid = await customer_ticket(ws, customer)
    with travel(at(7, 9, 20)):
        await change(ws, agent, tid, status="pending")
    with travel(at(7, 10, 20)):
        s = await sla(ws, agent, tid)
        assert s["requester_wait"]["status"] == "paused" and s["requester_wait"]["calendar_minutes"] == 20
        assert s["requester_wait"]["due_at"] is None
        await change(ws, agent, tid, status="solved")  # straight from pending
    s = await sla(ws, agent, tid, at(7, 10, 21))
    assert s["requester_wait"]["status"] == "fulfilled" and s["requester_wait"]["calendar_minutes"] == 20
    assert s["resolution"]["status"] == "fulfilled" and s["resolution"]["calendar_minutes"] == 80
    with travel(at(7, 12)):
        await say(ws, customer, tid, "It is back")  # reopens the ticket
    with travel(at(7, 12, 10)):
        s = await sla(ws, agent, tid)
    assert s["resolution"]["status"] == "active" and s["resolution"]["calendar_minutes"] == 90
    assert s["resolution"]["due_at"] == iso(at(7, 14, 40))  # 80 used, 160 left from 12:00
    assert s["requester_wait"]["due_at"] == iso(at(7, 13, 40))  # 20 used, 100 left


async def test_a_priority_change_applies_the_new_target_to_the_same_start(ws: WS) -> None:
    await configure(
        ws,
        targets={
            "normal": {"agent_work": {"minutes": 240}},
            "urgent": {"agent_work": {"minutes": 60}},
        },
    )
    agent, customer = await ws.person("agent"), await ws.person("customer")
    with travel(at(7, 9)):
        tid = await customer_ticket(ws, customer)
    with travel(at(7, 9, 10)):
        await change(ws, agent, tid, status="on-hold")  # agent work pauses on hold
    with travel(at(7, 10, 10)):
        await change(ws, agent, tid, status="open")
    with travel(at(7, 10, 20)):
        await change(ws, agent, tid, priority="urgent")
        s = await sla(ws, agent, tid)
    # 10 + 10 minutes counted, the hour on hold not; 40 left of the urgent hour from 10:20.
    assert s["agent_work"]["target_minutes"] == 60 and s["agent_work"]["calendar_minutes"] == 20
    assert s["agent_work"]["due_at"] == iso(at(7, 11))


async def test_business_hours_a_holiday_and_a_schedule_edit_that_moves_open_tickets(ws: WS) -> None:
    office = dict(OFFICE, holidays=[{"name": "St Nicholas (test)", "start": "2026-12-07"}])
    sid, _ = await configure(ws, body=office, targets={"normal": {"resolution": {"minutes": 600}}})
    agent, customer = await ws.person("agent"), await ws.person("customer")
    with travel(at(7, 10)):  # Monday, a holiday: counting starts Tuesday 09:00 Berlin
        tid = await customer_ticket(ws, customer)
    s = await sla(ws, agent, tid, at(7, 10, 1))
    assert s["resolution"]["due_at"] == iso(at(9, 10))  # Tue 8 h + Wed 2 h: Wed 11:00 Berlin
    admin = await ws.person("admin")
    with travel(at(8, 11)):  # Tuesday 12:00 Berlin: 3 h counted; the team shortens its days
        short = dict(office, week={d: [["09:00", "13:00"]] for d in ("mon", "tue", "wed", "thu", "fri")})
        async with ws.client(admin) as c:
            r = await c.patch(f"/schedules/{sid}", json={"body": short})
            assert r.status_code == 200, r.text
        await drain(ws.platform)  # the schedule's recompute job moves the open tickets
        s = await sla(ws, agent, tid)
    # 3 h stay counted; then Tue 12-13 (1 h), Wed 4 h, Thu 2 h: Thursday 11:00 Berlin.
    assert s["resolution"]["business_minutes"] == 180
    assert s["resolution"]["due_at"] == iso(at(10, 10))


async def test_a_breach_at_friday_17_00_fires_then_once_with_its_escalation(ws: WS) -> None:
    admin, customer = await ws.person("admin"), await ws.person("customer")
    await configure(
        ws,
        body=OFFICE,
        targets={p: {"resolution": {"minutes": 60, "warn": 15}} for p in ("normal", "urgent")},
        escalations=[
            {
                "on": "breach",
                "actions": [
                    {"type": "priority", "value": "urgent"},
                    {"type": "tag", "tag": "sla-missed"},
                    {"type": "notify", "user_ids": [admin.user_id]},
                ],
            }
        ],
    )
    with travel(at(4, 15)):  # Friday 16:00 Berlin
        tid = await customer_ticket(ws, customer)
    due = at(4, 16)  # Friday 17:00 Berlin, the end of the day
    assert (await sla(ws, admin, tid, at(4, 15, 1)))["resolution"]["due_at"] == iso(due)
    with travel(due - timedelta(seconds=30)):
        await drain(ws.platform)  # the sweep runs and plans the next one at the breach's second
        async with ws.platform.db.read() as conn:
            jobs_t = Job.__table__
            queued = (
                await conn.execute(
                    sa.select(jobs_t.c.run_at).where(jobs_t.c.kind == "sla.sweep", jobs_t.c.state == "queued")
                )
            ).scalars()
            assert due in list(queued)  # to the second, not the next hour or midnight
        async with ws.client(admin) as c:
            assert (await c.get(f"/tickets/{tid}")).json()["priority"] == "normal"
    with travel(due - timedelta(seconds=1)):
        assert await alerts.sweep(ws.platform) == 0
    with travel(due):
        await drain(ws.platform)
        s = await sla(ws, admin, tid)
    assert s["resolution"]["status"] == "breached"
    async with ws.client(admin) as c:
        t = (await c.get(f"/tickets/{tid}")).json()
        events = (await c.get(f"/tickets/{tid}/events")).json()["items"]
    assert t["priority"] == "urgent" and "sla-missed" in t["tags"]
    alert = [e for e in events if e["kind"] == "sla_alert"]
    assert len(alert) == 1 and alert[0]["new"]["stage"] == "breach"
    assert "raised the priority to urgent" in alert[0]["new"]["actions"]
    sent = [m for m in ws.platform.mail.sent if m["To"] == admin.email]  # type: ignore[attr-defined]
    assert len(sent) == 1 and "Resolution target missed" in str(sent[0]["Subject"])
    with travel(due + timedelta(hours=7)):  # midnight comes and goes: nothing fires again
        assert await alerts.sweep(ws.platform) == 0
        await drain(ws.platform)
    async with ws.client(admin) as c:
        events = (await c.get(f"/tickets/{tid}/events")).json()["items"]
    assert len([e for e in events if e["kind"] == "sla_alert"]) == 1


async def test_two_workers_sweeping_at_once_fire_each_alert_once(ws: WS) -> None:
    await configure(
        ws,
        targets={"normal": {"first_reply": {"minutes": 5}}},
        escalations=[{"on": "breach", "actions": [{"type": "tag", "tag": "late"}]}],
    )
    customer = await ws.person("customer")
    with travel(at(7, 9)):
        ids = [await customer_ticket(ws, customer) for _ in range(5)]
    other = build_platform(ws.platform.settings)
    try:
        with travel(at(7, 9, 6)):
            fired = await asyncio.gather(alerts.sweep(ws.platform), alerts.sweep(other))
    finally:
        await other.close()
    e = SlaEvent.__table__
    async with ws.platform.db.read() as conn:
        breaches = (
            await conn.execute(sa.select(e.c.ticket_id).where(e.c.kind == "breach", e.c.ticket_id.in_(ids)))
        ).scalars()
        alerts_written = (
            await conn.execute(
                sa.text("SELECT ticket_id FROM events WHERE kind = 'sla_alert' AND workspace_id = :w"),
                {"w": ws.id},
            )
        ).scalars()
        assert sorted(breaches) == sorted(ids) and sorted(alerts_written) == sorted(ids), fired


async def test_customers_never_see_the_sla_and_other_workspaces_never_see_the_ticket(
    ws: WS, make_ws: Any
) -> None:
    await configure(ws, body=ALWAYS, targets={"normal": {"first_reply": {"minutes": 60}}})
    agent, customer = await ws.person("agent"), await ws.person("customer")
    tid = await customer_ticket(ws, customer)
    assert (await sla(ws, agent, tid))["first_reply"]["status"] == "active"
    async with ws.client(customer) as c:
        assert (await c.get(f"/tickets/{tid}")).json()["sla"] == []
    other = await make_ws("Other")
    stranger = await other.person("admin")
    async with other.client(stranger) as c:
        assert (await c.get(f"/tickets/{tid}")).status_code == 404
