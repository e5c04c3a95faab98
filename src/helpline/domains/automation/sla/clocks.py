"""The SLA clocks of one ticket: which run, pause and stop when, with no I/O.

Every ticket has one clock per metric (:data:`METRICS`); a policy may give a clock a *target*
(seconds, in business or calendar time, with a warning margin). The rules (``docs/sla.md``, with
Zendesk's SLA semantics as the reference):

- **first reply** starts when the ticket is created and is fulfilled by the first public reply of
  an agent. A ticket an agent opens with a public message has nothing to measure (``n/a``).
- **next reply** starts when the customer writes in public (any channel) after an agent has
  replied, and only while the customer spoke last; the next public agent reply fulfils it. Each
  start is a new *cycle*. Before the first reply it never runs, so a shorter next-reply target
  cannot override the first-reply clock.
- **periodic update** starts at each public agent reply and is fulfilled by the next one (a cycle
  each).
- **resolution** runs in every unsolved status. **requester wait** pauses in *pending*. **agent
  work** pauses in *pending* and *on-hold*.
- Solving fulfils the reply clocks and freezes the others; a reopened ticket resumes the frozen
  clocks where they stopped (their time keeps adding up). Closing is final.

:class:`Machine` folds ticket happenings into clocks and records each change as an SLA event (the
append-only stream, ``sla_events``). :func:`replay` folds a recorded stream into the same clocks:
every due time and every report is a function of the stream and of the schedules' versions
(:class:`Hours`). Times are UTC-aware datetimes; durations are seconds.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from helpline.domains.automation import calendar
from helpline.domains.automation.schemas import METRICS

__all__ = ["METRICS", "Clock", "Facts", "Hours", "Machine", "Recorded", "Target", "plan", "replay"]

#: Clocks a reply fulfils for good (their cycle ends); the others freeze on solve and resume on reopen.
REPLY_METRICS = frozenset({"first_reply", "next_reply", "periodic_update"})

UNSOLVED = frozenset({"new", "open", "pending", "on-hold"})
DONE = frozenset({"solved", "closed"})
#: The statuses in which each clock runs while active (outside them it is paused).
RUNS_IN: dict[str, frozenset[str]] = {
    "first_reply": UNSOLVED,
    "next_reply": UNSOLVED,
    "periodic_update": UNSOLVED,
    "resolution": UNSOLVED,
    "requester_wait": frozenset({"new", "open", "on-hold"}),
    "agent_work": frozenset({"new", "open"}),
}

IDLE, RUNNING, PAUSED, STOPPED = "idle", "running", "paused", "stopped"


@dataclass(frozen=True)
class Target:
    """A clock's target: ``seconds`` of business (or calendar) time, warned ``warn`` seconds before."""

    seconds: int
    business: bool = True
    warn: int = 0

    def as_json(self) -> dict[str, Any]:
        return {"seconds": self.seconds, "business": self.business, "warn": self.warn}

    @classmethod
    def of(cls, data: Mapping[str, Any] | None) -> Target | None:
        if not data:
            return None
        return cls(int(data["seconds"]), bool(data.get("business", True)), int(data.get("warn", 0)))


class Hours:
    """Business time under each schedule's versions: a version counts from its ``valid_from`` until
    the next one begins (the first also backwards), so time counted before an edit stays counted
    under the hours then in force. ``None`` as a schedule means around the clock."""

    def __init__(self, versions: Mapping[int, Sequence[tuple[datetime, calendar.Calendar]]]):
        self._versions = {sid: sorted(vs, key=lambda v: v[0]) for sid, vs in versions.items()}
        self._starts = {sid: [v[0] for v in vs] for sid, vs in self._versions.items()}
        self._starts_ts = {sid: [calendar.timestamp(v[0]) for v in vs] for sid, vs in self._versions.items()}
        #: The business time left in each version before the next begins, from one instant on:
        #: (schedule, instant) and {(version index, from): seconds}.
        self._room_of: tuple[int | None, float] = (None, 0.0)
        self._rooms: dict[tuple[int, float], float] = {}

    def known(self, schedule_id: int | None) -> bool:
        return schedule_id is None or schedule_id in self._versions

    def _segments(self, sid: int, a: datetime) -> Iterable[tuple[datetime | None, calendar.Calendar]]:
        """From ``a`` on: (end of the version's time or None, its calendar)."""
        vs, starts = self._versions[sid], self._starts[sid]
        i = max(bisect.bisect_right(starts, a) - 1, 0)
        for j in range(i, len(vs)):
            yield (vs[j + 1][0] if j + 1 < len(vs) else None), vs[j][1]

    def between(self, sid: int | None, a: datetime, b: datetime) -> float:
        if b <= a:
            return 0.0
        if sid is None or sid not in self._versions:
            return (b - a).total_seconds()
        total, t = 0.0, a
        for end, cal in self._segments(sid, a):
            stop = b if end is None or end > b else end
            if stop > t:
                total += calendar.business_seconds_between(cal, t, stop)
                t = stop
            if t >= b:
                break
        return total

    def add_ts(self, sid: int | None, t: float, seconds: float) -> float | None:
        """The instant (a POSIX timestamp, as :func:`calendar.timestamp` gives) ``seconds`` of
        business time after ``t``, across versions (``None`` past the calendar's horizon); calendar
        time where ``sid`` is ``None``. The business time left in a version before the next one
        begins is kept for the next call from the same instant (a clock's due and warning times
        start at the same one)."""
        if seconds <= 0:
            return t
        if sid is None or sid not in self._versions:
            return t + seconds
        vs, starts_ts = self._versions[sid], self._starts_ts[sid]
        j0 = max(bisect.bisect_right(starts_ts, t) - 1, 0)
        if j0 + 1 == len(vs):  # the latest version: no other to cross
            return calendar.add_business_seconds_ts(vs[j0][1], t, seconds)
        if self._room_of != (sid, t):
            self._room_of, self._rooms = (sid, t), {}
        rooms, left = self._rooms, float(seconds)
        for j in range(j0, len(vs)):
            cal = vs[j][1]
            if j + 1 < len(vs):
                end = starts_ts[j + 1]
                if end <= t:
                    continue
                room = rooms.get((j, t))
                if room is None:
                    room = rooms[j, t] = calendar.business_seconds_between_ts(cal, t, end)
                if room < left:
                    left -= room
                    t = end
                    continue
            return calendar.add_business_seconds_ts(cal, t, left)
        return None


CALENDAR_ONLY = Hours({})


@dataclass
class Clock:
    """One metric's clock (its latest cycle). ``elapsed_*`` count up to ``since``; a running clock
    runs from ``since`` on."""

    metric: str
    cycle: int = 0
    state: str = IDLE
    target: Target | None = None
    schedule_id: int | None = None
    started_at: datetime | None = None
    since: datetime | None = None
    elapsed_business: float = 0.0
    elapsed_calendar: float = 0.0
    due_at: datetime | None = None
    warn_at: datetime | None = None
    warned_at: datetime | None = None
    breached_at: datetime | None = None
    stopped_at: datetime | None = None
    achieved: bool | None = None

    @property
    def alert_at(self) -> datetime | None:
        """The next warning or breach still to fire (the sweep's index)."""
        if self.state != RUNNING or self.target is None:
            return None
        if self.warn_at is not None and self.warned_at is None and self.breached_at is None:
            return self.warn_at
        return self.due_at if self.breached_at is None else None

    def used(self, hours: Hours, now: datetime) -> tuple[float, float]:
        """Business and calendar seconds counted up to ``now``."""
        if self.state != RUNNING or self.since is None or now <= self.since:
            return self.elapsed_business, self.elapsed_calendar
        return (
            self.elapsed_business + hours.between(self.schedule_id, self.since, now),
            self.elapsed_calendar + (now - self.since).total_seconds(),
        )

    def status(self, now: datetime) -> str:
        """What the API says: ``active``, ``paused``, ``fulfilled`` or ``breached``."""
        if self.breached_at is not None or self.achieved is False:
            return "breached"
        if self.state == STOPPED:
            return "fulfilled"
        if self.state == PAUSED:
            return "paused"
        if self.due_at is not None and now >= self.due_at:
            return "breached"
        return "active"


@dataclass
class Facts:
    """What the rules need to know of the ticket between events."""

    status: str = "new"
    agent_replied: bool = False
    customer_last: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "agent_replied": self.agent_replied,
            "customer_last": self.customer_last,
        }

    @classmethod
    def of(cls, data: Mapping[str, Any] | None) -> Facts:
        data = data or {}
        return cls(
            str(data.get("status", "new")),
            bool(data.get("agent_replied", False)),
            bool(data.get("customer_last", False)),
        )


@dataclass(frozen=True)
class Recorded:
    """One SLA event as the stream stores it."""

    kind: str
    at: datetime
    metric: str | None = None
    cycle: int = 0
    data: dict[str, Any] = field(default_factory=dict)


class Machine:
    """A ticket's clocks, folding what happens to the ticket (``created``, ``message``, ``status``,
    ``apply``) and recording every change in :attr:`recorded`."""

    def __init__(
        self,
        hours: Hours,
        clocks: Mapping[str, Clock] | None = None,
        facts: Facts | None = None,
    ):
        self.hours = hours
        self.clocks = {m: (clocks or {}).get(m) or Clock(m) for m in METRICS}
        self.facts = facts or Facts()
        self.recorded: list[Recorded] = []

    # --- what happens to the ticket -------------------------------------------------------------

    def created(self, at: datetime, status: str) -> None:
        self.facts = Facts(status="new")
        for m in ("first_reply", "resolution", "requester_wait", "agent_work"):
            self._activate(m, at)
        if status != "new":
            self.status(at, status)

    def message(self, at: datetime, author_kind: str | None, public: bool) -> None:
        if not public:
            return
        if author_kind == "customer":
            self.facts.customer_last = True
            nr = self.clocks["next_reply"]
            # A customer's message reopens a solved ticket (its status change follows at once).
            if self.facts.agent_replied and nr.state in (IDLE, STOPPED) and self.facts.status != "closed":
                self._activate("next_reply", at)
        elif author_kind == "agent":
            fr = self.clocks["first_reply"]
            if fr.state == RUNNING:
                if fr.started_at == at and fr.cycle == 1:
                    self._not_applicable("first_reply", at)  # an agent opened it in public
                else:
                    self._fulfil("first_reply", at)
            self.facts.agent_replied, self.facts.customer_last = True, False
            if self.clocks["next_reply"].state in (RUNNING, PAUSED):
                self._fulfil("next_reply", at)
            if self.clocks["periodic_update"].state in (RUNNING, PAUSED):
                self._fulfil("periodic_update", at)
            if self.facts.status in UNSOLVED:
                self._activate("periodic_update", at)

    def status(self, at: datetime, new: str) -> None:
        old, self.facts.status = self.facts.status, new
        if old == new:
            return
        for m, c in self.clocks.items():
            if new in DONE:
                if c.state in (RUNNING, PAUSED):
                    (self._fulfil if m in REPLY_METRICS else self._stop)(m, at)
            elif old in DONE and c.state == STOPPED and m not in REPLY_METRICS and c.cycle:
                self._resume(m, at) if new in RUNS_IN[m] else self._pause(m, at)
            elif c.state == RUNNING and new not in RUNS_IN[m]:
                self._pause(m, at)
            elif c.state == PAUSED and new in RUNS_IN[m]:
                self._resume(m, at)

    def apply(
        self,
        at: datetime,
        policy_id: int | None,
        targets: Mapping[str, Target | None],
        schedule_id: int | None,
    ) -> None:
        """Apply a policy's targets (for the ticket's priority) and the ticket's schedule from
        ``at`` on: counted time stays counted, the new target applies from the same start."""
        data = {
            "policy_id": policy_id,
            "schedule_id": schedule_id,
            "targets": {m: t.as_json() for m, t in targets.items() if t is not None},
        }
        self._record("apply", at, None, 0, data)
        self._do_apply(at, data)

    # --- the primitives (each recorded; replay calls them from the stream) ----------------------

    def _record(self, kind: str, at: datetime, metric: str | None, cycle: int, data: dict[str, Any]) -> None:
        self.recorded.append(Recorded(kind, at, metric, cycle, data))

    def _advance(self, c: Clock, at: datetime) -> None:
        if c.state == RUNNING and c.since is not None and at > c.since:
            c.elapsed_business += self.hours.between(c.schedule_id, c.since, at)
            c.elapsed_calendar += (at - c.since).total_seconds()
        if c.since is None or at > c.since or c.state != RUNNING:
            c.since = at

    def _activate(self, m: str, at: datetime) -> None:
        c = self.clocks[m]
        cycle = c.cycle + 1
        self._record("activate", at, m, cycle, {})
        self._do_activate(m, at, cycle)

    def _do_activate(self, m: str, at: datetime, cycle: int) -> None:
        old = self.clocks[m]
        c = self.clocks[m] = Clock(m, cycle=cycle, target=old.target, schedule_id=old.schedule_id)
        c.state, c.started_at, c.since = RUNNING, at, at
        self._plan(c)

    def _pause(self, m: str, at: datetime) -> None:
        c = self.clocks[m]
        self._record("pause", at, m, c.cycle, {})
        self._advance(c, at)
        c.state, c.stopped_at, c.achieved = PAUSED, None, None
        self._plan(c)

    def _resume(self, m: str, at: datetime) -> None:
        c = self.clocks[m]
        self._record("resume", at, m, c.cycle, {})
        self._advance(c, at)
        c.state, c.stopped_at, c.achieved = RUNNING, None, None
        self._plan(c)

    def _fulfil(self, m: str, at: datetime) -> None:
        self._end(m, at, "fulfil")

    def _stop(self, m: str, at: datetime) -> None:
        self._end(m, at, "stop")

    def _end(self, m: str, at: datetime, kind: str) -> None:
        c = self.clocks[m]
        self._advance(c, at)
        c.state, c.stopped_at = STOPPED, at
        c.achieved = None if c.target is None else (c.breached_at is None and left(c) >= 0)
        c.due_at = c.warn_at = None
        self._record(
            kind,
            at,
            m,
            c.cycle,
            {
                "achieved": c.achieved,
                "business_seconds": round(c.elapsed_business, 3),
                "calendar_seconds": round(c.elapsed_calendar, 3),
            },
        )

    def _not_applicable(self, m: str, at: datetime) -> None:
        c = self.clocks[m]
        self._record("fulfil", at, m, c.cycle, {"achieved": None, "not_applicable": True})
        self.clocks[m] = Clock(m, cycle=c.cycle, state=STOPPED, target=c.target, schedule_id=c.schedule_id)
        self.clocks[m].stopped_at = at

    def _do_apply(self, at: datetime, data: Mapping[str, Any]) -> None:
        targets = data.get("targets") or {}
        for m, c in self.clocks.items():
            self._advance(c, at)
            c.target = Target.of(targets.get(m))
            c.schedule_id = data.get("schedule_id")
            if c.state == STOPPED and c.target is not None and c.stopped_at is not None and c.cycle:
                c.achieved = left(c) >= 0 and c.breached_at is None
            self._plan(c)

    # --- due times --------------------------------------------------------------------------------

    def _plan(self, c: Clock) -> None:
        plan(c, self.hours)

    def replan(self) -> None:
        """Plan every clock again (after the schedule behind them changed)."""
        for c in self.clocks.values():
            self._plan(c)

    # --- alerts (written by the sweep) ------------------------------------------------------------

    def alerted(self, m: str, kind: str, at: datetime) -> None:
        c = self.clocks[m]
        if kind == "warn":
            c.warned_at = at
        else:
            c.breached_at = at


def left(c: Clock) -> float:
    """Seconds of the target still to use (negative when over), counted up to ``since``."""
    assert c.target is not None
    used = c.elapsed_business if c.target.business else c.elapsed_calendar
    return c.target.seconds - used


def due_and_warn(
    hours: Hours, sid: int | None, since: float, rest: float, warn: int
) -> tuple[float | None, float | None]:
    """Where ``rest`` seconds from ``since`` run out, and where ``warn`` seconds before that do
    (``None`` without a margin), in business time under ``sid`` or calendar time (``None``); POSIX
    timestamps (``None`` past the calendar's horizon)."""
    due = hours.add_ts(sid, since, rest)
    return due, (hours.add_ts(sid, since, rest - warn) if warn > 0 else None)


def plan(c: Clock, hours: Hours) -> None:
    """Set the due and warning times of a running clock with a target (None otherwise): where the
    time still left, counted from ``since`` in the target's kind of time, runs out."""
    if c.state != RUNNING or c.target is None or c.since is None:
        c.due_at = c.warn_at = None
        return
    sid = c.schedule_id if c.target.business else None
    due, warn = due_and_warn(hours, sid, calendar.timestamp(c.since), left(c), c.target.warn)
    c.due_at = None if due is None else datetime.fromtimestamp(due, UTC)
    c.warn_at = None if warn is None else datetime.fromtimestamp(warn, UTC)


def replay(events: Iterable[Recorded], hours: Hours) -> Machine:
    """The clocks a recorded SLA stream describes (the stream in order)."""
    m = Machine(hours)
    for e in events:
        if e.kind == "apply":
            m._do_apply(e.at, e.data)
        elif e.kind == "activate" and e.metric:
            m._do_activate(e.metric, e.at, e.cycle)
        elif e.kind == "pause" and e.metric:
            c = m.clocks[e.metric]
            m._advance(c, e.at)
            c.state, c.stopped_at, c.achieved = PAUSED, None, None
            m._plan(c)
        elif e.kind == "resume" and e.metric:
            c = m.clocks[e.metric]
            m._advance(c, e.at)
            c.state, c.stopped_at, c.achieved = RUNNING, None, None
            m._plan(c)
        elif e.kind in ("fulfil", "stop") and e.metric:
            if e.data.get("not_applicable"):
                m._not_applicable(e.metric, e.at)
            else:
                m._end(e.metric, e.at, e.kind)
        elif e.kind in ("warn", "breach") and e.metric:
            m.alerted(e.metric, e.kind, e.at)
    m.recorded.clear()
    return m
