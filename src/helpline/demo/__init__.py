"""``helpline demo``: fill the default workspace with a help desk that looks lived in.

Everything is created through the domain services, as the API would, so the demo has the same events
and jobs as real use; only the timestamps are moved afterwards, to spread the history over the last 90
days. Sign in with any demo login and the password :data:`DEMO_PASSWORD`.
"""

from __future__ import annotations

import csv
import random
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from helpline.db.base import utcnow
from helpline.demo import help as help_demo
from helpline.demo.texts import (
    CANNED,
    CATEGORY,
    CLOSING,
    CUSTOM_FIELDS,
    FIRST,
    FOLLOW_UPS,
    GROUPS,
    LAST,
    MONTHS,
    NOTES,
    ORGS,
    PLANS,
    REPLIES,
    STAFF,
    TEMPLATES,
)
from helpline.domains.accounts import service as accounts
from helpline.domains.accounts.models import Membership, Role, User
from helpline.domains.accounts.principal import Principal
from helpline.domains.accounts.security import hash_password
from helpline.domains.automation import service as canned
from helpline.domains.customers import service as customers
from helpline.domains.customers.models import Contact
from helpline.domains.tickets import jobs as _ticket_jobs  # registers the search.index handler
from helpline.domains.tickets import service as tickets
from helpline.domains.tickets.models import Channel, CustomField, Event, Message, Ticket
from helpline.domains.tickets.schemas import MessageCreate, TicketCreate, TicketUpdate
from helpline.errors import Invalid
from helpline.platform.db import UnitOfWork
from helpline.platform.jobs import JobRunner
from helpline.platform.models import Job
from helpline.platform.runtime import Platform, build_platform
from helpline.settings import Settings

_ = _ticket_jobs

# Handles on the tables this module writes directly (timestamps, field definitions, jobs).
TICKETS = Ticket.__table__
MESSAGES = Message.__table__
EVENTS = Event.__table__
JOBS = Job.__table__
FIELDS = CustomField.__table__
CONTACTS = Contact.__table__
USERS = User.__table__
MEMBERS = Membership.__table__

#: The password of every demo login (documented in the README and printed by ``helpline demo``).

DEMO_PASSWORD = "helpline-demo"  # noqa: S105 - public by design: it is a demo
ADMIN_EMAIL = "admin@example.com"
#: Optional extra ticket text (a public data set) used when the project checkout has it.
CSV_PATH = Path(__file__).resolve().parents[4] / "shared" / "data" / "load" / "customer_support_tickets.csv"


@dataclass
class Person:
    user_id: int
    principal: Principal
    groups: list[str] = field(default_factory=list)


@dataclass
class Requester:
    contact_id: int
    name: str
    email: str | None
    org_id: int | None
    org_name: str | None
    plan: str | None
    phone: bool
    signin: Principal | None = None


@dataclass
class Ctx:
    ws: int
    admin: Person
    agents: list[Person]
    light: list[Person]
    groups: dict[str, int]
    requesters: list[Requester]
    weights: list[float]
    csv_rows: list[tuple[str, str]]


def _principal(
    ws: int,
    user_id: int | None,
    role: Role,
    email: str,
    name: str,
    *,
    group_ids: frozenset[int] = frozenset(),
    contact_id: int | None = None,
) -> Principal:
    # A customer writing in by email has no sign-in: their messages carry only the contact, as an
    # inbound email will. The services accept a customer principal without a user for that.
    return Principal(
        user_id=cast(int, user_id),
        workspace_id=ws,
        role=role,
        email=email,
        name=name,
        group_ids=group_ids,
        contact_id=contact_id,
    )


async def load_demo(settings: Settings, *, contacts: int, tickets: int, seed: int) -> list[str]:
    """Create the demo in the default workspace; the lines to print (URL, logins, an API token).

    If ``admin@example.com`` is already there, nothing is created and the logins are returned.
    """
    platform = build_platform(settings)
    console = Console(stderr=True)
    try:
        async with platform.db.transaction() as uow:
            ws = await accounts.default_workspace(uow)
            exists = (
                await uow.execute(
                    sa.select(USERS.c.id)
                    .join(MEMBERS, MEMBERS.c.user_id == USERS.c.id)
                    .where(USERS.c.email == ADMIN_EMAIL, MEMBERS.c.workspace_id == ws)
                )
            ).first()
        if exists:
            console.print("The demo is already loaded; nothing was changed.", highlight=False)
            return _lines(settings, await _customer_email(platform, ws), None)
        rng = random.Random(seed)
        with Progress(
            TextColumn("{task.description:<24}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            people = progress.add_task("people & organizations", total=contacts + len(ORGS) + len(STAFF) + 1)
            ctx, token = await _people(platform, rng, contacts, progress, people)
            work = progress.add_task("tickets", total=tickets)
            await _tickets(platform, ctx, rng, tickets, progress, work)
            await _index(platform, progress)
            await help_demo.load_help(platform, ctx.admin.principal)
            await help_demo.load_chat_widget(platform, ctx.admin.principal)
        return _lines(settings, next((r.email for r in ctx.requesters if r.signin), None), token)
    finally:
        await platform.close()


def _lines(settings: Settings, customer: str | None, token: str | None) -> list[str]:
    out = [
        f"Helpline is at {settings.base_url}  (start it with `helpline serve`)",
        f"  agent console   {settings.base_url}/login",
        f"  customer portal {settings.base_url}/portal",
        f"  help centre     {settings.base_url}/help/{accounts.DEFAULT_WORKSPACE}",
        f"  chat widget     {settings.base_url}/admin/chat-widgets (its snippet, for your site's pages)",
        f"  admin     {ADMIN_EMAIL} / {DEMO_PASSWORD}",
        f"  agent     {STAFF[0][1]} / {DEMO_PASSWORD}",
        f"  customer  {customer or '(none)'} / {DEMO_PASSWORD}",
    ]
    if token:
        out.append(f"  API token (admin)  {token}")
    else:
        out.append(f"  API token: `helpline tokens create --email {ADMIN_EMAIL}`")
    return out


async def _customer_email(platform: Platform, ws: int) -> str | None:
    m, u = MEMBERS, USERS
    async with platform.db.read() as conn:
        return (
            await conn.execute(
                sa.select(u.c.email)
                .join(m, m.c.user_id == u.c.id)
                .where(m.c.workspace_id == ws, m.c.role == Role.customer.value)
                .order_by(u.c.id)
                .limit(1)
            )
        ).scalar()


async def _people(
    platform: Platform, rng: random.Random, n_contacts: int, progress: Progress, task: TaskID
) -> tuple[Ctx, str]:
    now = utcnow()
    async with platform.db.transaction() as uow:
        ws = await accounts.default_workspace(uow)
        groups: dict[str, int] = {}
        for name, description in GROUPS.items():
            try:
                groups[name] = await accounts.group_id_for(uow, ws, name)
            except Invalid:
                groups[name] = await accounts.create_group(uow, ws, name, description)
        admin_id = await accounts.create_user(uow, ws, email=ADMIN_EMAIL, role=Role.admin, name="Avery Admin")
        await accounts.set_operator(uow, ADMIN_EMAIL, True)  # the demo's admin also runs the instance
        logins = [admin_id]
        admin = Person(admin_id, _principal(ws, admin_id, Role.admin, ADMIN_EMAIL, "Avery Admin"))
        _, token = await accounts.create_token(uow, ws, admin_id, name="demo")
        progress.advance(task)
        agents: list[Person] = []
        light: list[Person] = []
        for name, email, role, member_of in STAFF:
            uid = await accounts.create_user(
                uow, ws, email=email, role=role, name=name, group_names=member_of
            )
            logins.append(uid)
            gids = frozenset(groups[g] for g in member_of)
            person = Person(uid, _principal(ws, uid, role, email, name, group_ids=gids), member_of)
            (light if role is Role.light_agent else agents).append(person)
            progress.advance(task)
        await _custom_fields(uow, ws)
        for title, body, group in CANNED:
            await canned.do_create_canned(
                uow,
                admin.principal,
                canned.CannedInput(title=title, body=body, group_id=groups[group] if group else None),
            )
        orgs: list[tuple[int, str, str, str]] = []
        for name in ORGS:
            domain = re.sub(r"[^a-z0-9]+", "-", name.lower()) + ".example"
            plan = rng.choices(PLANS[1:], weights=[5, 4, 2])[0]
            org_id = await customers.create_organization(
                uow,
                ws,
                name=name,
                domains=[domain],
                shared_tickets=rng.random() < 0.3,
                tags=["enterprise"] if plan == "Enterprise" else (["vip"] if rng.random() < 0.15 else []),
                attributes={"plan": plan, "region": rng.choice(["EMEA", "AMER", "APAC"])},
            )
            orgs.append((org_id, domain, plan, name))
            progress.advance(task)
        requesters: list[Requester] = []
        used: set[str] = set()
        for i in range(n_contacts):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            at_org = rng.random() < 0.85
            org = rng.choice(orgs) if at_org else None
            domain = org[1] if org else rng.choice(["example.net", "example.org", "mail.example"])
            local = f"{first}.{last}".lower().replace("ü", "ue")
            email = f"{local}@{domain}"
            n = 2
            while email in used:
                email, n = f"{local}{n}@{domain}", n + 1
            used.add(email)
            phone = rng.random() < 0.25
            ids = [("phone", f"+1 555 01{i // 10000 % 100:02d} {i % 10000:04d}")] if phone else []
            cid = await customers.create_contact(
                uow,
                ws,
                name=f"{first} {last}",
                email=email,
                identities_in=ids,
                tags=["vip"] if rng.random() < 0.05 else [],
            )
            requesters.append(
                Requester(
                    cid,
                    f"{first} {last}",
                    email,
                    org[0] if org else None,
                    org[3] if org else None,
                    org[2] if org else None,
                    phone,
                )
            )
            progress.advance(task)
        for r in [r for r in requesters if r.org_id][:3]:
            assert r.email is not None
            uid = await accounts.create_user(uow, ws, email=r.email, role=Role.customer, name=r.name)
            logins.append(uid)
            r.signin = _principal(ws, uid, Role.customer, r.email, r.name, contact_id=r.contact_id)
        # One argon2 hash for every demo login instead of one each (about a second saved): the
        # password is public anyway, so a shared salt protects nothing less.
        accounts.check_password(DEMO_PASSWORD)
        await uow.execute(
            USERS.update().where(USERS.c.id.in_(logins)).values(password_hash=hash_password(DEMO_PASSWORD))
        )
        # Customers existed before their first ticket.
        c = CONTACTS
        await uow.execute(
            c.update()
            .where(c.c.id == sa.bindparam("cid"))
            .values(created_at=sa.bindparam("at"), updated_at=sa.bindparam("at")),
            [{"cid": r.contact_id, "at": now - timedelta(days=rng.uniform(91, 700))} for r in requesters],
        )
    # A few customers write in often; the ones who can sign in have a history to show on the portal.
    weights = [12.0 if r.signin else rng.paretovariate(1.4) for r in requesters]
    ctx = Ctx(ws, admin, agents, light, groups, requesters, weights, _csv_rows(rng))
    return ctx, token


async def _custom_fields(uow: UnitOfWork, ws: int) -> None:
    # There is no service for custom-field definitions yet: write the rows the admin API will.
    have = {r[0] for r in await uow.execute(sa.select(FIELDS.c.key).where(FIELDS.c.workspace_id == ws))}
    for position, (key, label, kind, options, visible) in enumerate(CUSTOM_FIELDS):
        if key not in have:
            await uow.execute(
                FIELDS.insert().values(
                    workspace_id=ws,
                    key=key,
                    label=label,
                    type=kind,
                    options=options,
                    required=False,
                    customer_visible=visible,
                    position=position,
                    created_at=utcnow(),
                )
            )


def _csv_rows(rng: random.Random, limit: int = 400) -> list[tuple[str, str]]:
    """(subject, body) pairs from the optional CSV; empty when the file is not there."""
    if not CSV_PATH.is_file():
        return []
    rows: list[tuple[str, str]] = []
    try:
        with CSV_PATH.open(newline="", encoding="utf-8") as fh:
            for i, row in enumerate(csv.DictReader(fh)):
                if i >= 5000:
                    break
                product = row.get("Product Purchased") or "device"
                body = (row.get("Ticket Description") or "").replace("{product_purchased}", product).strip()
                subject = f"{row.get('Ticket Subject') or 'Problem'}: {product}"
                if body:
                    rows.append((subject[:200], body[:4000]))
    except (OSError, csv.Error, UnicodeDecodeError):
        return []
    return rng.sample(rows, min(limit, len(rows)))


# --- tickets ------------------------------------------------------------------------------------


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


def _plan(
    ctx: Ctx, rng: random.Random, now: datetime
) -> tuple[TicketCreate, Principal, list[Step], datetime]:
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
    contact_actor = _principal(
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


async def _tickets(
    platform: Platform, ctx: Ctx, rng: random.Random, n: int, progress: Progress, task: TaskID
) -> None:
    """Create ``n`` tickets in transactions of 25, then move their history back in time.

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
    for start in range(0, n, batch):
        async with platform.db.transaction() as uow:
            marks: list[dict[str, Any]] = []
            finals: list[dict[str, Any]] = []
            for _ in range(start, min(n, start + batch)):
                await _one_ticket(uow, platform, ctx, rng, now, marks, finals)
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
    ctx: Ctx,
    rng: random.Random,
    now: datetime,
    marks: list[dict[str, Any]],
    finals: list[dict[str, Any]],
) -> None:
    data, opener, steps, t0 = _plan(ctx, rng, now)
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


async def _index(platform: Platform, progress: Progress) -> None:
    jobs = JOBS
    async with platform.db.read() as conn:
        queued = (await conn.execute(sa.select(sa.func.count()).where(jobs.c.state == "queued"))).scalar_one()
    task = progress.add_task("search index", total=queued or 1)
    runner = JobRunner(platform)
    while n := await runner.run_once():
        progress.advance(task, n)
    progress.update(task, completed=queued or 1)
