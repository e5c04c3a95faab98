"""The SLA clocks' rules (docs/sla.md), on the pure machine: what runs, pauses and stops when, and
where each due time falls. Every scenario also checks that replaying the recorded stream gives the
same clocks (the stream is the record; the stored clocks are its cache)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from helpline.domains.automation.calendar import Calendar
from helpline.domains.automation.sla.clocks import Hours, Machine, Target, replay

BERLIN = {
    "timezone": "Europe/Berlin",
    "week": {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
    "holidays": [{"name": "Christmas Day", "start": "2026-12-25"}],
}
OPEN_HOURS = Hours({1: [(datetime(2020, 1, 1, tzinfo=UTC), Calendar.from_body(BERLIN))]})
ALWAYS = Hours({})


def t(day: int, hh: int, mm: int = 0, month: int = 12) -> datetime:
    """A UTC instant in December 2026 (Berlin is UTC+1 then)."""
    return datetime(2026, month, day, hh, mm, tzinfo=UTC)


def minutes(n: float) -> Target:
    return Target(int(n * 60), business=False)


def biz(n: float, warn: float = 0) -> Target:
    return Target(int(n * 60), business=True, warn=int(warn * 60))


def same_as_replay(m: Machine, hours: Hours) -> None:
    again = replay(m.recorded, hours)
    for metric, c in m.clocks.items():
        r = again.clocks[metric]
        assert (r.state, r.cycle, r.due_at, r.achieved) == (c.state, c.cycle, c.due_at, c.achieved), metric
        assert r.elapsed_business == pytest.approx(c.elapsed_business), metric
        assert r.elapsed_calendar == pytest.approx(c.elapsed_calendar), metric


def started(at: datetime, hours: Hours = ALWAYS, schedule: int | None = None, **targets: Target) -> Machine:
    m = Machine(hours)
    m.created(at, "new")
    m.apply(at, 1, targets, schedule)
    return m


def test_first_reply_is_not_overridden_by_a_shorter_next_reply_target_before_any_reply() -> None:
    m = started(t(7, 9), first_reply=minutes(60), next_reply=minutes(10))
    m.message(t(7, 9, 5), "customer", True)  # the customer writes again before anyone answered
    assert m.clocks["next_reply"].state == "idle"
    assert m.clocks["first_reply"].due_at == t(7, 10)
    m.message(t(7, 9, 30), "agent", True)
    fr = m.clocks["first_reply"]
    assert (fr.state, fr.achieved, fr.elapsed_calendar) == ("stopped", True, 1800)
    same_as_replay(m, ALWAYS)


def test_next_reply_runs_only_while_the_customer_spoke_last() -> None:
    m = started(t(7, 9), next_reply=minutes(10))
    m.message(t(7, 9, 30), "agent", True)
    m.message(t(7, 9, 35), "agent", True)  # the agent again: nothing to answer
    assert m.clocks["next_reply"].state == "idle"
    m.message(t(7, 9, 40), "customer", True)
    nr = m.clocks["next_reply"]
    assert (nr.state, nr.cycle, nr.due_at) == ("running", 1, t(7, 9, 50))
    m.message(t(7, 9, 45), "customer", True)  # a second message does not restart the wait
    assert m.clocks["next_reply"].due_at == t(7, 9, 50) and m.clocks["next_reply"].cycle == 1
    m.message(t(7, 9, 47), "agent", False)  # an internal note answers no one
    assert m.clocks["next_reply"].state == "running"
    m.message(t(7, 9, 48), "agent", True)
    assert m.clocks["next_reply"].state == "stopped" and m.clocks["next_reply"].achieved is True
    m.message(t(7, 10, 30), "customer", True)  # any channel's customer message starts a new cycle
    nr = m.clocks["next_reply"]
    assert (nr.state, nr.cycle, nr.due_at) == ("running", 2, t(7, 10, 40))
    same_as_replay(m, ALWAYS)


def test_pending_then_solved_directly_deducts_the_pause() -> None:
    m = started(t(7, 9), requester_wait=minutes(120), agent_work=minutes(120), resolution=minutes(240))
    m.status(t(7, 9, 10), "open")
    m.status(t(7, 9, 30), "pending")
    assert m.clocks["requester_wait"].state == "paused" and m.clocks["requester_wait"].due_at is None
    m.status(t(7, 11), "solved")
    rw, aw, res = (m.clocks[k] for k in ("requester_wait", "agent_work", "resolution"))
    assert rw.elapsed_calendar == 30 * 60 and rw.state == "stopped" and rw.achieved is True
    assert aw.elapsed_calendar == 30 * 60
    assert res.elapsed_calendar == 120 * 60  # resolution does not pause in pending
    same_as_replay(m, ALWAYS)


def test_on_hold_pauses_agent_work_but_not_requester_wait() -> None:
    m = started(t(7, 9), requester_wait=minutes(60), agent_work=minutes(60))
    m.status(t(7, 9, 0), "open")
    m.status(t(7, 9, 20), "on-hold")
    assert m.clocks["agent_work"].state == "paused"
    assert m.clocks["requester_wait"].state == "running" and m.clocks["requester_wait"].due_at == t(7, 10)
    m.status(t(7, 9, 50), "open")
    assert m.clocks["agent_work"].due_at == t(7, 10, 30)  # 20 used, 40 left from 09:50
    same_as_replay(m, ALWAYS)


def test_solve_then_reopen_resumes_the_frozen_clocks_and_keeps_the_reply_cycles() -> None:
    m = started(t(7, 9), resolution=minutes(120), first_reply=minutes(30), next_reply=minutes(30))
    m.message(t(7, 9, 10), "agent", True)
    m.status(t(7, 9, 10), "solved")
    res = m.clocks["resolution"]
    assert (res.state, res.elapsed_calendar, res.achieved) == ("stopped", 600, True)
    m.message(t(7, 12), "customer", True)  # the customer writes back: reopened
    m.status(t(7, 12), "open")
    res = m.clocks["resolution"]
    assert res.state == "running" and res.cycle == 1 and res.due_at == t(7, 13, 50)
    assert m.clocks["first_reply"].state == "stopped"
    nr = m.clocks["next_reply"]
    assert nr.state == "running" and nr.due_at == t(7, 12, 30)
    m.status(t(7, 14), "solved")
    res = m.clocks["resolution"]
    assert res.elapsed_calendar == 130 * 60 and res.achieved is False  # 10 + 120 minutes > 120
    assert m.clocks["next_reply"].state == "stopped"
    same_as_replay(m, ALWAYS)


def test_a_policy_change_keeps_elapsed_and_paused_time_and_applies_to_the_same_start() -> None:
    m = started(t(7, 9), requester_wait=minutes(240))
    m.status(t(7, 9), "open")
    m.status(t(7, 9, 30), "pending")  # 30 used
    m.status(t(7, 10, 30), "open")  # an hour paused
    # The priority goes up at 10:40: the target is now 60 minutes from the same start.
    m.apply(t(7, 10, 40), 2, {"requester_wait": minutes(60)}, None)
    rw = m.clocks["requester_wait"]
    assert rw.elapsed_calendar == 40 * 60
    assert rw.due_at == t(7, 11, 0)  # 20 minutes left from 10:40
    # Lowered to a target already used up: due at once.
    m.apply(t(7, 10, 50), 3, {"requester_wait": minutes(30)}, None)
    assert m.clocks["requester_wait"].due_at == t(7, 10, 50)
    same_as_replay(m, ALWAYS)


def test_business_hours_friday_evening_runs_into_monday() -> None:
    # Friday 4 Dec 2026, 16:00 Berlin = 15:00 UTC; 120 business minutes: one hour Friday, one Monday.
    m = started(t(4, 15), OPEN_HOURS, 1, first_reply=biz(120, warn=30))
    fr = m.clocks["first_reply"]
    assert fr.due_at == t(7, 9)  # Monday 10:00 Berlin
    assert fr.warn_at == t(7, 8, 30)  # Monday 09:30 Berlin
    same_as_replay(m, OPEN_HOURS)


def test_a_due_time_may_equal_the_end_of_the_day() -> None:
    m = started(t(7, 8), OPEN_HOURS, 1, resolution=biz(480))  # Monday 09:00 Berlin
    assert m.clocks["resolution"].due_at == t(7, 16)  # Monday 17:00 Berlin, not Tuesday 09:00


def test_a_ticket_created_on_a_holiday_starts_counting_on_the_next_working_day() -> None:
    m = started(t(25, 10), OPEN_HOURS, 1, first_reply=biz(60))  # Christmas Day (a Friday)
    assert m.clocks["first_reply"].due_at == t(28, 9)  # Monday 10:00 Berlin
    m.message(t(28, 8, 30), "agent", True)
    assert m.clocks["first_reply"].elapsed_business == 30 * 60
    assert m.clocks["first_reply"].elapsed_calendar == (t(28, 8, 30) - t(25, 10)).total_seconds()


def test_a_schedule_edit_moves_the_due_time_and_keeps_what_was_counted() -> None:
    v1 = Calendar.from_body(BERLIN)
    m = started(t(7, 8), OPEN_HOURS, 1, resolution=biz(600))  # Monday 09:00 Berlin, 10 h
    assert m.clocks["resolution"].due_at == t(8, 10)  # Tuesday 11:00 Berlin
    # At Monday 12:00 Berlin the team shortens Monday-Friday to 09:00-13:00.
    short = dict(BERLIN, week={d: [["09:00", "13:00"]] for d in ("mon", "tue", "wed", "thu", "fri")})
    edited = Hours({1: [(datetime(2020, 1, 1, tzinfo=UTC), v1), (t(7, 11), Calendar.from_body(short))]})
    m.hours = edited
    m.replan()
    rc = m.clocks["resolution"]
    # 3 h counted before the edit under the old hours stay counted; then 1 h on Monday (12-13),
    # 4 h on Tuesday and 2 h on Wednesday: due Wednesday 11:00 Berlin.
    assert edited.between(1, t(7, 8), t(7, 11)) == 3 * 3600
    assert rc.due_at == t(9, 10)
    same_as_replay(m, edited)


def test_warnings_and_breaches_are_planned_in_the_targets_own_time() -> None:
    m = started(t(7, 9), first_reply=minutes(60))
    m.apply(t(7, 9), 1, {"first_reply": Target(3600, business=False, warn=600)}, None)
    fr = m.clocks["first_reply"]
    assert (fr.warn_at, fr.due_at, fr.alert_at) == (t(7, 9, 50), t(7, 10), t(7, 9, 50))
    m.alerted("first_reply", "warn", t(7, 9, 50))
    assert m.clocks["first_reply"].alert_at == t(7, 10)
    m.alerted("first_reply", "breach", t(7, 10))
    assert m.clocks["first_reply"].alert_at is None
    assert m.clocks["first_reply"].status(t(7, 10, 1)) == "breached"


def test_an_agent_opening_the_ticket_in_public_leaves_no_first_reply_to_measure() -> None:
    m = started(t(7, 9), first_reply=minutes(60), next_reply=minutes(30))
    m.message(t(7, 9), "agent", True)
    assert m.clocks["first_reply"].started_at is None  # nothing measured, no row stored
    m.message(t(7, 9, 20), "customer", True)
    assert m.clocks["next_reply"].due_at == t(7, 9, 50)


def test_closed_is_final() -> None:
    m = started(t(7, 9), resolution=minutes(60))
    m.status(t(7, 9, 30), "solved")
    m.status(t(7, 10), "closed")
    assert m.clocks["resolution"].state == "stopped" and m.clocks["resolution"].elapsed_calendar == 1800
