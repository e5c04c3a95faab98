"""The demo's business hours and service levels, set up through the configuration services as an
admin would, before any ticket exists, so that each ticket's clocks run as its story is told.

- One default schedule: weekdays 09:00-17:00 with a lunch break (12:30-13:30) in the workspace's
  time zone (the demo gives a workspace without one :data:`DEMO_TIMEZONE`), with the country's
  public holidays from ``holiday_import`` for the years the demo's history and the coming year
  span. The holidays are part of the schedule's first version, so they count backwards over the
  whole history (a later import would count from its own moment on).
- Two SLA policies: "Enterprise plan" (tickets whose Plan field is Enterprise) with tighter
  targets, and the fallback "Standard". Both warn the team before a target is missed and, on a
  breach, raise the priority to urgent and tag the ticket ``sla-breached``.
- :func:`showcase`: four stories told after the random ones, so that the inbox always shows a
  target at risk, one breached, one running and one paused while the customer is asked for more.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from helpline.demo.people import Ctx, Person, make_principal
from helpline.demo.tickets import Plan, Step
from helpline.domains.accounts.models import Role, Workspace
from helpline.domains.accounts.principal import Principal
from helpline.domains.automation import calendar, holiday_import, schedules, sla_policies
from helpline.domains.automation.sla import jobs as _sla_jobs  # registers the engine and its jobs
from helpline.domains.tickets.models import Channel
from helpline.domains.tickets.schemas import TicketCreate
from helpline.platform.feed import REGISTRY, FeedWorker
from helpline.platform.jobs import JobRunner
from helpline.platform.runtime import Platform

_ = _sla_jobs

DEMO_TIMEZONE = "Europe/Berlin"
#: The country whose public holidays a time zone's office keeps (the zones the demo knows).
COUNTRY_OF_ZONE = {
    "Europe/Berlin": "DE",
    "Europe/London": "GB",
    "Europe/Paris": "FR",
    "Europe/Madrid": "ES",
    "Europe/Rome": "IT",
    "Europe/Amsterdam": "NL",
    "Europe/Vienna": "AT",
    "Europe/Zurich": "CH",
    "Europe/Dublin": "IE",
    "America/New_York": "US",
    "America/Chicago": "US",
    "America/Denver": "US",
    "America/Los_Angeles": "US",
    "America/Toronto": "CA",
    "Australia/Sydney": "AU",
    "Asia/Tokyo": "JP",
    "Asia/Kolkata": "IN",
}
SCHEDULE = "Office hours"
DAY = [["09:00", "12:30"], ["13:30", "17:00"]]
TEAMS = ("Billing", "Technical", "Sales")
BREACH_TAG = "sla-breached"


def _t(minutes: int, warn: int, *, business: bool = True) -> dict[str, Any]:
    return {"minutes": minutes, "business": business, "warn": warn}


#: Targets per priority (business minutes unless said; one business day is 7 hours = 420 minutes).
STANDARD = {
    "urgent": {
        "first_reply": _t(60, 15, business=False),
        "next_reply": _t(120, 30, business=False),
        "resolution": _t(480, 120, business=False),
    },
    "high": {
        "first_reply": _t(120, 30),
        "next_reply": _t(240, 60),
        "resolution": _t(1260, 240),
        "requester_wait": _t(840, 120),
    },
    "normal": {
        "first_reply": _t(240, 60),
        "next_reply": _t(420, 90),
        "resolution": _t(2100, 420),
        "requester_wait": _t(1260, 240),
    },
    "low": {
        "first_reply": _t(420, 120),
        "next_reply": _t(840, 120),
        "resolution": _t(4200, 420),
    },
}
ENTERPRISE = {
    "urgent": {
        "first_reply": _t(30, 10, business=False),
        "next_reply": _t(60, 15, business=False),
        "resolution": _t(240, 60, business=False),
    },
    "high": {"first_reply": _t(60, 15), "next_reply": _t(120, 30), "resolution": _t(840, 120)},
    "normal": {"first_reply": _t(120, 30), "next_reply": _t(240, 60), "resolution": _t(1260, 240)},
    "low": {"first_reply": _t(240, 60), "next_reply": _t(420, 90), "resolution": _t(2100, 420)},
}


def escalations(group_ids: list[int]) -> list[dict[str, Any]]:
    return [
        {"on": "warn", "actions": [{"type": "notify", "group_ids": group_ids}]},
        {
            "on": "breach",
            "actions": [{"type": "priority", "value": "urgent"}, {"type": "tag", "tag": BREACH_TAG}],
        },
    ]


def schedule_body(tz: str, now: datetime) -> dict[str, Any]:
    """The demo's business hours in ``tz``, with its country's holidays for the years the demo's
    history and the coming year span."""
    holidays: list[dict[str, Any]] = []
    country = COUNTRY_OF_ZONE.get(tz)
    if country:
        years = sorted({(now - timedelta(days=91)).year, now.year, now.year + 1})
        days = holiday_import.preview(country, None, years)
        source = holiday_import.source_of(country, None)
        holidays, _added = holiday_import.merge([], days, source=source, off=set())
    week = {d: DAY for d in ("mon", "tue", "wed", "thu", "fri")}
    return {"timezone": tz, "week": week, "holidays": holidays}


def policies(team_ids: list[int]) -> list[dict[str, Any]]:
    """The demo's SLA policies as the API takes them, in match order (the fallback last)."""
    return [
        {
            "name": "Enterprise plan",
            "description": "Customers on the Enterprise plan: answers within the hour when it is urgent.",
            "conditions": {"all": [{"field": "custom.plan", "operator": "is", "value": "Enterprise"}]},
            "targets": ENTERPRISE,
            "escalations": escalations(team_ids),
        },
        {
            "name": "Standard",
            "description": "Every other ticket.",
            "is_fallback": True,
            "targets": STANDARD,
            "escalations": escalations(team_ids),
        },
    ]


async def load_sla(platform: Platform, ctx: Ctx, now: datetime) -> dict[str, Any]:
    """Create the schedule and the policies, and give the feed's consumers (the SLA engine) their
    cursors before the tickets are written; the schedule's body."""
    admin = ctx.admin.principal
    ws_t = Workspace.__table__
    async with platform.db.transaction() as uow:
        settings: dict[str, Any] | None = (
            await uow.execute(sa.select(ws_t.c.settings).where(ws_t.c.id == ctx.ws))
        ).scalar_one()
        tz = (settings or {}).get("timezone") or None
        if tz is None:
            tz = DEMO_TIMEZONE
            await uow.execute(
                ws_t.update().where(ws_t.c.id == ctx.ws).values(settings={**(settings or {}), "timezone": tz})
            )
        body = schedule_body(tz, now)
        await schedules.do_create(
            uow, admin, schedules.ScheduleChanges(name=SCHEDULE, body=body, is_default=True)
        )
        for p in policies([ctx.groups[g] for g in TEAMS if g in ctx.groups]):
            await sla_policies.do_create(uow, admin, sla_policies.PolicyChanges(**p))
    await FeedWorker(platform, REGISTRY).setup()
    # Apply them now (the recompute and re-choice they queued find no ticket yet), so each ticket's
    # clocks are computed once, as its story is told.
    await JobRunner(platform).drain()
    return calendar.normalize_body(body)


def business_ago(body: dict[str, Any], now: datetime, minutes: float) -> datetime:
    """The instant from which ``minutes`` business minutes have passed by ``now`` (to the second)."""
    cal = calendar.Calendar.from_body(body)
    want = minutes * 60
    lo, hi = now - timedelta(days=60), now  # business time from lo is more than wanted, from hi none
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if calendar.business_seconds_between(cal, mid, now) >= want:
            lo = mid
        else:
            hi = mid
    return lo


def showcase(ctx: Ctx, body: dict[str, Any]) -> Callable[[datetime], list[Plan]]:
    """The stories that show each state of a target (planned for the same ``now`` as the rest)."""

    def plans(now: datetime) -> list[Plan]:
        agent = next(a for a in ctx.agents if "Technical" in a.groups)
        biller = next(a for a in ctx.agents if "Billing" in a.groups)
        people = [r for r in ctx.requesters if r.plan != "Enterprise"] or ctx.requesters

        def customer(i: int) -> Principal:
            r = people[i % len(people)]
            return r.signin or make_principal(
                ctx.ws, None, Role.customer, r.email or "", r.name, contact_id=r.contact_id
            )

        def triage(at: datetime, who: Person, group: str, priority: str) -> Step:
            changes = {"group_id": ctx.groups[group], "assignee_id": who.user_id, "priority": priority}
            return Step(at, who.principal, "update", changes=changes)

        out: list[Plan] = []
        # At risk: a normal ticket waiting 200 of its 240 business minutes for a first reply.
        t0 = business_ago(body, now, 200)
        out.append(
            (
                TicketCreate(
                    subject="Webhook deliveries fail since this morning",
                    body="Our endpoint gets nothing since about 8am; the dashboard shows retries.",
                    channel=Channel.email,
                ),
                customer(0),
                [triage(t0 + timedelta(minutes=1), agent, "Technical", "normal")],
                t0,
            )
        )
        # Breached: a high ticket with no reply after 150 of its 120 business minutes.
        t0 = business_ago(body, now, 150)
        out.append(
            (
                TicketCreate(
                    subject="Charged twice for the annual plan",
                    body="The card statement shows two charges of 480.00 on the same day. Please refund one.",
                    channel=Channel.web,
                ),
                customer(1),
                [triage(t0 + timedelta(minutes=1), biller, "Billing", "high")],
                t0,
            )
        )
        # Running: the customer wrote again 30 business minutes ago; the next reply is due.
        t0 = business_ago(body, now, 600)
        t1 = business_ago(body, now, 540)
        t2 = business_ago(body, now, 30)
        out.append(
            (
                TicketCreate(
                    subject="Export to CSV drops the last column",
                    body="When I export the contacts list the Region column is missing.",
                    channel=Channel.email,
                ),
                customer(2),
                [
                    triage(t0 + timedelta(minutes=1), agent, "Technical", "normal"),
                    Step(t1, agent.principal, "message", "Thanks, I can reproduce it. Which browser is it?"),
                    Step(t2, customer(2), "message", "Firefox 128 on Windows."),
                ],
                t0,
            )
        )
        # Paused: the agent asked for the order number and set the ticket pending.
        ask = "Sorry about that! Could you send the order number?"
        pending = {"status": "pending"}
        t0 = business_ago(body, now, 300)
        t1 = business_ago(body, now, 240)
        out.append(
            (
                TicketCreate(
                    subject="Parcel marked delivered but not here",
                    body="Tracking says it was delivered yesterday, nothing arrived.",
                    channel=Channel.email,
                ),
                customer(3),
                [
                    triage(t0 + timedelta(minutes=1), biller, "Billing", "high"),
                    Step(t1, biller.principal, "message", ask),
                    Step(t1 + timedelta(minutes=1), biller.principal, "update", changes=pending),
                ],
                t0,
            )
        )
        return out

    return plans
