"""The demo's people: staff, groups, organizations, contacts and the few customers who sign in, with
the custom fields and canned responses an admin would set up first."""

from __future__ import annotations

import csv
import random
import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import cast

import sqlalchemy as sa
from rich.progress import Progress, TaskID

from helpline.db.base import utcnow
from helpline.demo.texts import CANNED, CUSTOM_FIELDS, FIRST, GROUPS, LAST, ORGS, PLANS, STAFF
from helpline.domains.accounts import service as accounts
from helpline.domains.accounts.models import Membership, Role, User
from helpline.domains.accounts.principal import Principal
from helpline.domains.accounts.security import hash_password
from helpline.domains.automation import service as canned
from helpline.domains.customers import service as customers
from helpline.domains.customers.models import Contact
from helpline.domains.tickets import catalog
from helpline.domains.tickets.models import FieldType
from helpline.domains.tickets.schemas import CustomFieldCreate
from helpline.errors import Invalid
from helpline.platform.db import UnitOfWork
from helpline.platform.runtime import Platform

# Handles on the tables written directly (passwords, timestamps) or read.
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


def make_principal(
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


async def load_people(
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
        admin = Person(admin_id, make_principal(ws, admin_id, Role.admin, ADMIN_EMAIL, "Avery Admin"))
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
            person = Person(uid, make_principal(ws, uid, role, email, name, group_ids=gids), member_of)
            (light if role is Role.light_agent else agents).append(person)
            progress.advance(task)
        await _custom_fields(uow, admin.principal)
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
            r.signin = make_principal(ws, uid, Role.customer, r.email, r.name, contact_id=r.contact_id)
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


async def _custom_fields(uow: UnitOfWork, admin: Principal) -> None:
    """The demo's custom fields, defined through the catalogue as an admin would (kept if there)."""
    have = {f["key"] for f in await catalog.list_fields(uow.conn, admin)}
    for position, (key, label, kind, options, visible) in enumerate(CUSTOM_FIELDS):
        if key not in have:
            data = CustomFieldCreate(
                key=key,
                label=label,
                type=FieldType(kind),
                options=options,
                customer_visible=visible,
                position=position,
            )
            await catalog.do_create_field(uow, admin, data)


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
