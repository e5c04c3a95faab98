"""The demo's tickets: each one's story (who opens it, triage, the conversation, where it ends), told
through the tickets service and then moved back in time; and the search index built at the end."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from rich.progress import Progress, TaskID

from helpline.db.base import utcnow
from helpline.demo.people import Ctx, make_principal
from helpline.demo.texts import CATEGORY, CLOSING, FOLLOW_UPS, MONTHS, NOTES, REPLIES, TEMPLATES
from helpline.domains.accounts.models import Role
from helpline.domains.accounts.principal import Principal
from helpline.domains.automation.sla import alerts
from helpline.domains.tickets import jobs as _ticket_jobs  # registers the search.index handler
from helpline.domains.tickets import service as tickets
from helpline.domains.tickets.models import Channel, Event, Message, Ticket
from helpline.domains.tickets.schemas import MessageCreate, TicketCreate, TicketUpdate
from helpline.platform.db import UnitOfWork
from helpline.platform.jobs import JobRunner
from helpline.platform.models import Job
from helpline.platform.runtime import Platform

_ = _ticket_jobs

# Handles on the tables whose timestamps are moved back, and on the job queue.
TICKETS = Ticket.__table__
MESSAGES = Message.__table__
EVENTS = Event.__table__
JOBS = Job.__table__


@dataclass
class Step:
    at: datetime
    actor: Principal
    kind: str  # "message" | "update"
    body: str = ""
    public: bool = True
    changes: dict[str, Any] = field(default_factory=dict)


def _status_for(rng: random.Random, age_days: float) -> str:
    if age_days < 2:
        weights = {"new": 30, "open": 35, "pending": 20, "on-hold": 5, "solved": 10}
    elif age_days < 14:
        weights = {"new": 5, "open": 25, "pending": 20, "on-hold": 10, "solved": 35, "closed": 5}
    else:
        weights = {"open": 5, "pending": 5, "on-hold": 5, "solved": 30, "closed": 55}
    return rng.choices(list(weights), weights=list(weights.values()))[0]


#: A ticket's story: what opens it, who, the steps that follow, and when it began.
Plan = tuple[TicketCreate, Principal, list[Step], datetime]


def _plan(ctx: Ctx, rng: random.Random, now: datetime) -> Plan:
    """One ticket's story: who opens it, the triage, the conversation and where it ends."""
    req = rng.choices(ctx.requesters, weights=ctx.weights)[0]
    if ctx.csv_rows and rng.random() < 0.15:
        category, (subject, body) = "product", rng.choice(ctx.csv_rows)
    else:
        category, subject, body = rng.choice(TEMPLATES)
    group_name, types, tags = CATEGORY[category]
    agent = rng.choice([a for a in ctx.agents if group_name in a.groups])
    first = req.name.split()[0]
    values = {
        "first": first,
        "order": f"HL-{rng.randint(100000, 999999)}",
        "amount": f"{rng.randint(9, 480)}.00",
        "invoice": f"INV-{rng.randint(20000, 99999)}",
        "plan": req.plan or "Starter",
        "month": rng.choice(MONTHS),
        "company": req.org_name or "our company",
    }
    if category != "product":  # the CSV's text is used as it is
        subject, body = subject.format_map(values), body.format_map(values)
    age = 90 * rng.random() ** 1.4
    t0 = now - timedelta(days=age)
    status = _status_for(rng, age)
    # Who opens it, and through which channel.
    contact_actor = make_principal(
        ctx.ws, None, Role.customer, req.email or "", req.name, contact_id=req.contact_id
    )
    if req.signin is not None and rng.random() < 0.7:
        opener = req.signin
        data = TicketCreate(subject=subject, body=body, channel=Channel.portal)
    elif req.phone and rng.random() < 0.4:
        opener = agent.principal
        data = TicketCreate(
            subject=subject,
            body=f"Logged from a phone call with {req.name}.\n\n{body}",
            channel=Channel.phone,
            requester_id=req.contact_id,
        )
    else:
        channel = rng.choices(["email", "web", "chat", "api"], weights=[60, 20, 15, 5])[0]
        opener = contact_actor
        data = TicketCreate(subject=subject, body=body, channel=Channel(channel))
    customer = req.signin or contact_actor
    steps: list[Step] = []
    t = t0
    # Triage: group, assignee, priority, type, tags and custom fields.
    custom: dict[str, Any] = {}
    if req.plan:
        custom["plan"] = req.plan
    if category in ("refund", "shipping"):
        custom["order_number"] = values["order"]
    if category == "refund":
        custom["refund_amount"] = float(values["amount"])
    triage: dict[str, Any] = {
        "group_id": ctx.groups[group_name],
        "type": rng.choice(types),
        "custom_fields": custom,
        "priority": rng.choices(["low", "normal", "high", "urgent"], weights=[20, 50, 22, 8])[0],
        "add_tags": rng.sample(tags, k=rng.randint(1, min(2, len(tags)))),
    }
    if status != "new" or rng.random() < 0.5:
        if status != "new":
            triage["assignee_id"] = agent.user_id
        if rng.random() < 0.15:
            others = [a.user_id for a in ctx.agents if a.user_id != agent.user_id]
            triage["follower_ids"] = [rng.choice(others)]
        t += timedelta(minutes=rng.uniform(2, 180))
        steps.append(Step(t, agent.principal, "update", changes=triage))
    if status == "new":
        return data, opener, steps, t0
    target = rng.choice([2, 2, 3, 3, 4, 4, 5, 6, 7])
    roles = ["C"]
    while len(roles) < target or roles[-1] != ("C" if status == "open" else "A"):
        if roles[-1] == "C":
            if rng.random() < 0.25:
                roles.append("N")
            roles.append("A")
        else:
            roles.append("C")
    replies = REPLIES[category]
    sign = f"\n\n{agent.principal.name}"
    for i, role in enumerate(roles[1:], 1):
        if role == "N":
            t += timedelta(minutes=rng.uniform(5, 120))
            author = (
                rng.choice(ctx.light)
                if ctx.light and group_name == "Technical" and rng.random() < 0.5
                else agent
            )
            steps.append(Step(t, author.principal, "message", rng.choice(NOTES), public=False))
        elif role == "A":
            t += timedelta(minutes=rng.uniform(10, 1200))
            last = i == len(roles) - 1
            text = (
                CLOSING if last and status in ("solved", "closed") else replies[min(i // 2, len(replies) - 1)]
            )
            steps.append(Step(t, agent.principal, "message", text.format_map(values) + sign))
            if not last and rng.random() < 0.5:
                steps.append(Step(t, agent.principal, "update", changes={"status": "pending"}))
        else:
            t += timedelta(minutes=rng.uniform(20, 2880))
            steps.append(Step(t, customer, "message", rng.choice(FOLLOW_UPS)))
    if status in ("pending", "on-hold", "solved", "closed"):
        t += timedelta(minutes=1)
        steps.append(
            Step(t, agent.principal, "update", changes={"status": "solved" if status == "closed" else status})
        )
    if status == "closed":
        steps.append(Step(t + timedelta(days=4), agent.principal, "update", changes={"status": "closed"}))
    # Squeeze the story into the time since it began (the last step a few minutes ago at the latest).
    end = steps[-1].at
    room = (now - timedelta(minutes=5)) - t0
    if end - t0 > room:
        scale = max(room, timedelta(0)) / (end - t0)
        for s in steps:
            s.at = t0 + (s.at - t0) * scale
    return data, opener, steps, t0


async def load_tickets(
    platform: Platform,
    ctx: Ctx,
    rng: random.Random,
    n: int,
    progress: Progress,
    task: TaskID,
    extra: Callable[[datetime], list[Plan]] | None = None,
) -> None:
    """Create ``n`` tickets in transactions of 25 (the last of them the ``extra`` stories, planned
    for the same ``now``), each transaction moving its tickets' history back in time before it commits: the
    SLA engine, which reads the events from the feed after commit, only ever sees them at the
    story's times.

    The services stamp everything with the current time. Each step of a ticket's story remembers
    when it really ran and when it should appear to have happened; events and messages written from
    that moment on get the story's time. Steps are applied latest first: a restamped row lies in the
    past, so an earlier step's ``created_at >= real`` no longer matches it.
    """
    now = utcnow()
    batch = 25
    t, m, e, jobs = TICKETS, MESSAGES, EVENTS, JOBS
    restamp = {
        table: table.update()
        .where(table.c.ticket_id == sa.bindparam("tid"), table.c.created_at >= sa.bindparam("real"))
        .values(created_at=sa.bindparam("sim"))
        for table in (m, e)
    }
    finish = (
        t.update()
        .where(t.c.id == sa.bindparam("tid"))
        .values(
            created_at=sa.bindparam("created"),
            updated_at=sa.bindparam("updated"),
            solved_at=sa.case(
                (
                    sa.or_(t.c.status == "solved", t.c.status == "closed"),
                    sa.bindparam("solved", type_=t.c.solved_at.type),
                ),
                else_=None,
            ),
        )
    )
    extras = (extra(now) if extra else [])[:n]
    stories = itertools.chain((_plan(ctx, rng, now) for _ in range(n - len(extras))), extras)
    while chunk := list(itertools.islice(stories, batch)):
        async with platform.db.transaction() as uow:
            marks: list[dict[str, Any]] = []
            finals: list[dict[str, Any]] = []
            for plan in chunk:
                await _one_ticket(uow, platform, plan, marks, finals)
                progress.advance(task)
            marks.reverse()
            for stmt in restamp.values():
                await uow.execute(stmt, marks)
            await uow.execute(finish, finals)
            # The demo's people are made up: drop the notifications it would send them.
            await uow.execute(
                jobs.delete().where(
                    jobs.c.kind.like("notify.%"),
                    jobs.c.state == "queued",
                    jobs.c.args["ticket_id"].as_integer().in_([f["tid"] for f in finals]),
                )
            )


async def _one_ticket(
    uow: UnitOfWork,
    platform: Platform,
    plan: Plan,
    marks: list[dict[str, Any]],
    finals: list[dict[str, Any]],
) -> None:
    data, opener, steps, t0 = plan
    real = utcnow()
    tid = await tickets.create_ticket(uow, platform.pubsub, opener, data)
    marks.append({"tid": tid, "real": real, "sim": t0})
    solved_at: datetime | None = None
    for step in steps:
        ticket = dict((await uow.execute(sa.select(TICKETS).where(TICKETS.c.id == tid))).mappings().one())
        marks.append({"tid": tid, "real": utcnow(), "sim": step.at})
        if step.kind == "update":
            await tickets.update_ticket(
                uow, platform.pubsub, step.actor, ticket, TicketUpdate(**step.changes)
            )
            if step.changes.get("status") in ("solved", "closed"):
                solved_at = solved_at or step.at
        else:
            channel = ticket["channel"] if step.public else "web"
            message = MessageCreate(body=step.body, public=step.public)
            await tickets.add_message(uow, platform.pubsub, step.actor, ticket, message, channel=channel)
    last = steps[-1].at if steps else t0
    finals.append({"tid": tid, "created": t0, "updated": last, "solved": solved_at or last})


async def index_jobs(platform: Platform, progress: Progress, ws: int) -> None:
    """Run the queued jobs and the event feed until both are done: the search index, and the SLA
    engine's clocks with the warnings and breaches they have come to (the escalations' changes
    are made; the mails they and the ticket changes would send the demo's made-up people are
    dropped)."""
    jobs = JOBS
    async with platform.db.read() as conn:
        queued = (await conn.execute(sa.select(sa.func.count()).where(jobs.c.state == "queued"))).scalar_one()
    task = progress.add_task("search index & SLAs", total=queued or 1)
    runner = JobRunner(platform)
    mine = sa.select(TICKETS.c.id).where(TICKETS.c.workspace_id == ws)
    mails = sa.and_(
        sa.or_(jobs.c.kind.like("notify.%"), jobs.c.kind == "sla.notify"),
        jobs.c.state == "queued",
        jobs.c.args["ticket_id"].as_integer().in_(mine),
    )
    for sweep in (True, False):
        while True:
            async with platform.db.transaction() as uow:
                await uow.execute(jobs.delete().where(mails))
            n = await runner.run_once()
            if not n:
                if not runner.feed.held_back:
                    break
                await asyncio.sleep(0.01)  # committed feed rows wait behind an older transaction
            progress.advance(task, n)
        if sweep:  # the warnings and breaches due by now, without waiting for the sweep's second
            await alerts.sweep(platform)
    progress.update(task, completed=queued or 1)
