"""A schedule's recompute against the engine running at the same time: a page is read and planned
while the previous one is written, so a ticket can change between its page's read and write. The
write must then leave that ticket to the engine's own plan (its clocks and summary are the engine's)
and still write the others; and whatever happened, every clock ends where ``clocks.plan`` puts it
and every summary agrees with its clocks (what the sweep and the inbox read)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
import time_machine

from helpline.domains.automation.sla import clocks, recompute, store
from helpline.platform.models import Job
from tests.conftest import WS, drain
from tests.sla_setup import OFFICE, configure

DAYS = ("mon", "tue", "wed", "thu", "fri")
jobs_t = Job.__table__
s_t = store.summary_t


def at(day: int, hh: int, mm: int = 0) -> datetime:
    return datetime(2026, 12, day, hh, mm, tzinfo=UTC)


async def _ticket(ws: WS, customer: Any, subject: str) -> int:
    async with ws.client(customer) as c:
        r = await c.post("/tickets", json={"subject": subject, "body": "Help!"})
        assert r.status_code == 201, r.text
    await drain(ws.platform)
    return int(r.json()["id"])


async def _stored(ws: WS, ids: list[int]) -> tuple[dict[int, store.State], clocks.Hours]:
    async with ws.platform.db.read() as conn:
        states = await store.load(conn, ids)
        hours = await store.hours(conn, {s.schedule_id for s in states.values()})
    return states, hours


async def _summary(ws: WS, tid: int) -> tuple[Any, ...]:
    async with ws.platform.db.read() as conn:
        row = (
            await conn.execute(
                sa.select(s_t.c.next_due_at, s_t.c.next_warn_at, s_t.c.next_alert_at).where(
                    s_t.c.ticket_id == tid
                )
            )
        ).one()
    return tuple(row)


async def test_a_ticket_changed_between_a_pages_read_and_write_keeps_the_engines_plan(ws: WS) -> None:
    sid, _ = await configure(
        ws,
        body=OFFICE,
        targets={"normal": {"first_reply": {"minutes": 240, "warn": 30}, "resolution": {"minutes": 600}}},
    )
    agent, customer, admin = await ws.person("agent"), await ws.person("customer"), await ws.person("admin")
    with time_machine.travel(at(1, 9), tick=False):  # Tuesday 10:00 Berlin
        changed = await _ticket(ws, customer, "Answered while the recompute runs")
        other = await _ticket(ws, customer, "Left alone")
    with time_machine.travel(at(1, 11), tick=False):  # 2 h counted; the days get shorter
        short = dict(OFFICE, week={d: [["09:00", "13:00"]] for d in DAYS})
        async with ws.client(admin) as c:
            r = await c.patch(f"/schedules/{sid}", json={"body": short})
            assert r.status_code == 200, r.text
        async with ws.platform.db.transaction() as uow:  # this test runs the recompute itself
            await uow.execute(sa.delete(jobs_t).where(jobs_t.c.kind == "sla.recompute"))
        # The recompute reads its page (both tickets) ...
        last, plans = await recompute._read(ws.platform, sid, 0, 100)
        assert last == other and {c[0] for c in plans.clocks} == {changed, other}
        # ... an agent answers one of them, and the engine folds that with the new hours ...
        async with ws.client(agent) as c:
            r = await c.post(f"/tickets/{changed}/messages", json={"body": "On it", "public": True})
            assert r.status_code == 201, r.text
        await drain(ws.platform)
        # ... then the page is written.
        written = await recompute._write(ws.platform, plans)
        states, hours = await _stored(ws, [changed, other])
    answered = states[changed].clocks["first_reply"]
    assert answered.state == "stopped" and answered.due_at is None and answered.achieved is True
    for state in states.values():
        summary = store.summary_row(state)
        assert await _summary(ws, state.ticket_id) == (
            summary["next_due_at"],
            summary["next_warn_at"],
            summary["next_alert_at"],
        )
        for c in state.clocks.values():
            mine = (c.due_at, c.warn_at)
            clocks.plan(c, hours)
            assert (c.due_at, c.warn_at) == mine, (state.ticket_id, c, mine)
    # The other ticket got the shorter days: 2 h counted, then Tuesday 12-13 and Wednesday 09-10.
    assert states[other].clocks["first_reply"].due_at == at(2, 9)
    assert states[other].clocks["first_reply"].warn_at == at(2, 8, 30)
    assert await _summary(ws, other) == (at(2, 9), at(2, 8, 30), at(2, 8, 30))
    assert written >= 2
