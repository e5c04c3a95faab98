"""Contacts and their identities: create, find, update, merge."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from helpline.db.base import utcnow
from helpline.domains.customers.models import (
    IdentityKind,
)
from helpline.domains.customers.service._tables import contacts, identities, org_domains, orgs
from helpline.errors import Conflict, Invalid
from helpline.platform.db import UnitOfWork


def normalise_identity(kind: str, value: str) -> str:
    value = value.strip()
    if kind == IdentityKind.email:
        if "@" not in value or value.startswith("@") or value.endswith("@"):
            raise Invalid("email", "not an email address")
        return value.lower()
    if kind in (IdentityKind.phone, IdentityKind.whatsapp):
        digits = "".join(c for c in value if c.isdigit())
        if len(digits) < 5:
            raise Invalid(kind, "not a phone number")
        return ("+" if value.startswith("+") else "") + digits
    return value.lstrip("@").lower()


def _domain(email: str) -> str:
    return email.rsplit("@", 1)[-1].lower()


async def organizations_for_emails(
    uow: UnitOfWork, workspace_id: int, emails: Iterable[str]
) -> dict[str, int]:
    """The organization each address's domain belongs to, keyed by domain (unknown domains left out)."""
    domains = sorted({_domain(e) for e in emails})
    if not domains:
        return {}
    rows = await uow.execute(
        sa.select(org_domains.c.domain, org_domains.c.organization_id).where(
            org_domains.c.workspace_id == workspace_id, org_domains.c.domain.in_(domains)
        )
    )
    return {r[0]: int(r[1]) for r in rows}


async def organization_for_email(uow: UnitOfWork, workspace_id: int, email: str) -> int | None:
    return (await organizations_for_emails(uow, workspace_id, [email])).get(_domain(email))


# Built once: every ticket create looks its requester up, and building a statement per call (its
# cache key included) cost more CPU than the driver's round trip.
_BY_IDENTITY = sa.select(identities.c.contact_id).where(
    identities.c.workspace_id == sa.bindparam("ws"),
    identities.c.kind == sa.bindparam("kind"),
    identities.c.value == sa.bindparam("value"),
)
#: One new contact with its email identity's organization (by domain) read inside the INSERT.
_NEW_EMAIL_CONTACT = (
    contacts.insert()
    .values(
        workspace_id=sa.bindparam("ws"),
        name=sa.bindparam("name"),
        organization_id=sa.select(org_domains.c.organization_id)
        .where(org_domains.c.workspace_id == sa.bindparam("ws"), org_domains.c.domain == sa.bindparam("dom"))
        .scalar_subquery(),
        notes="",
        tags=[],
        attributes={},
        created_at=sa.bindparam("now"),
        updated_at=sa.bindparam("now"),
    )
    .returning(contacts.c.id)
)
_NEW_PRIMARY_EMAIL = identities.insert().values(
    workspace_id=sa.bindparam("ws"),
    contact_id=sa.bindparam("contact_id"),
    kind=IdentityKind.email.value,
    value=sa.bindparam("value"),
    is_primary=True,
)


async def contact_by_identity(uow: UnitOfWork, workspace_id: int, kind: str, value: str) -> int | None:
    params = {"ws": workspace_id, "kind": str(kind), "value": normalise_identity(kind, value)}
    row = (await uow.execute(_BY_IDENTITY, params)).first()
    return int(row[0]) if row else None


async def create_contact(
    uow: UnitOfWork,
    workspace_id: int,
    *,
    name: str = "",
    email: str | None = None,
    identities_in: list[tuple[str, str]] | None = None,
    organization_id: int | None = None,
    notes: str = "",
    tags: list[str] | None = None,
    attributes: dict[str, Any] | None = None,
) -> int:
    """A new contact. A new email at an organization's domain joins that organization."""
    wanted: list[tuple[str, str]] = []
    if email:
        wanted.append((IdentityKind.email.value, normalise_identity("email", email)))
    for kind, value in identities_in or []:
        pair = (kind, normalise_identity(kind, value))
        if pair not in wanted:
            wanted.append(pair)
    for kind, value in wanted:
        if await contact_by_identity(uow, workspace_id, kind, value) is not None:
            raise Conflict(
                f"a contact with {kind} {value} exists",
                errors=[{"field": "email" if kind == "email" else "identities", "message": "already in use"}],
            )
    if organization_id is None and email:
        organization_id = await organization_for_email(uow, workspace_id, email)
    elif organization_id is not None:
        await _check_org(uow, workspace_id, organization_id)
    now = utcnow()
    contact_id = int(
        (
            await uow.execute(
                contacts.insert()
                .values(
                    workspace_id=workspace_id,
                    name=name.strip() or (email.split("@")[0] if email else ""),
                    organization_id=organization_id,
                    notes=notes,
                    tags=sorted(set(tags or [])),
                    attributes=attributes or {},
                    created_at=now,
                    updated_at=now,
                )
                .returning(contacts.c.id)
            )
        ).scalar_one()
    )
    if wanted:
        await uow.execute(
            identities.insert(),
            [
                {
                    "workspace_id": workspace_id,
                    "contact_id": contact_id,
                    "kind": k,
                    "value": v,
                    "is_primary": i == 0,
                }
                for i, (k, v) in enumerate(wanted)
            ],
        )
    return contact_id


async def contacts_by_emails(uow: UnitOfWork, workspace_id: int, emails: Iterable[str]) -> dict[str, int]:
    """The contact of each address that has one (addresses already normalised), in one query."""
    wanted = sorted(set(emails))
    if not wanted:
        return {}
    rows = await uow.execute(
        sa.select(identities.c.value, identities.c.contact_id).where(
            identities.c.workspace_id == workspace_id,
            identities.c.kind == IdentityKind.email.value,
            identities.c.value.in_(wanted),
        )
    )
    return {r[0]: int(r[1]) for r in rows}


async def create_email_contacts(uow: UnitOfWork, workspace_id: int, names: dict[str, str]) -> dict[str, int]:
    """New contacts for addresses (normalised) that have none, each with its email identity and the
    organization of its domain, in three statements whatever their number. A unique identity that
    another transaction took first raises ``IntegrityError``; see :func:`find_or_create_contact` for
    the one-at-a-time form that resolves that race."""
    if not names:
        return {}
    orgs_by_domain = await organizations_for_emails(uow, workspace_id, names)
    now = utcnow()
    emails = list(names)
    ids = (
        await uow.execute(
            contacts.insert().returning(contacts.c.id, sort_by_parameter_order=True),
            [
                {
                    "workspace_id": workspace_id,
                    "name": names[e].strip() or e.split("@")[0],
                    "organization_id": orgs_by_domain.get(_domain(e)),
                    "notes": "",
                    "tags": [],
                    "attributes": {},
                    "created_at": now,
                    "updated_at": now,
                }
                for e in emails
            ],
        )
    ).scalars()
    created = dict(zip(emails, (int(i) for i in ids), strict=True))
    await uow.execute(
        identities.insert(),
        [
            {"workspace_id": workspace_id, "contact_id": c, "kind": "email", "value": e, "is_primary": True}
            for e, c in created.items()
        ],
    )
    return created


async def find_or_create_contact(uow: UnitOfWork, workspace_id: int, *, email: str, name: str = "") -> int:
    """The contact with this email, created (and matched to an organization by domain) if new."""
    email = normalise_identity(IdentityKind.email, email)
    found = await contact_by_identity(uow, workspace_id, IdentityKind.email, email)
    if found is not None:
        return found
    try:
        # Two requests may create the same new contact at once; the unique identity decides, and
        # the loser takes the winner's contact instead of failing.
        async with uow.conn.begin_nested():
            return await _create_email_contact(uow, workspace_id, email, name)
    except IntegrityError:
        found = await contact_by_identity(uow, workspace_id, IdentityKind.email, email)
        if found is None:
            raise
        return found


async def _create_email_contact(uow: UnitOfWork, workspace_id: int, email: str, name: str) -> int:
    """:func:`create_email_contacts` for one address, in two statements (the organization is read
    inside the first)."""
    params = {
        "ws": workspace_id,
        "name": name.strip() or email.split("@")[0],
        "dom": _domain(email),
        "now": utcnow(),
    }
    contact_id = int((await uow.execute(_NEW_EMAIL_CONTACT, params)).scalar_one())
    await uow.execute(_NEW_PRIMARY_EMAIL, {"ws": workspace_id, "contact_id": contact_id, "value": email})
    return contact_id


async def _check_org(uow: UnitOfWork, workspace_id: int, organization_id: int) -> None:
    row = (
        await uow.execute(
            sa.select(orgs.c.id).where(orgs.c.id == organization_id, orgs.c.workspace_id == workspace_id)
        )
    ).first()
    if row is None:
        raise Invalid("organization_id", f"no organization {organization_id}")


async def update_contact(
    uow: UnitOfWork, workspace_id: int, contact_id: int, changes: dict[str, Any]
) -> None:
    if "organization_id" in changes and changes["organization_id"] is not None:
        await _check_org(uow, workspace_id, changes["organization_id"])
    if "tags" in changes:
        changes["tags"] = sorted(set(changes["tags"]))
    if changes:
        await uow.execute(
            contacts.update()
            .where(contacts.c.id == contact_id, contacts.c.workspace_id == workspace_id)
            .values(**changes, updated_at=utcnow())
        )


async def add_identity(uow: UnitOfWork, workspace_id: int, contact_id: int, kind: str, value: str) -> int:
    value = normalise_identity(kind, value)
    if await contact_by_identity(uow, workspace_id, kind, value) is not None:
        raise Conflict(
            f"{kind} {value} belongs to a contact already", errors=[{"field": "value", "message": "in use"}]
        )
    return int(
        (
            await uow.execute(
                identities.insert()
                .values(
                    workspace_id=workspace_id, contact_id=contact_id, kind=kind, value=value, is_primary=False
                )
                .returning(identities.c.id)
            )
        ).scalar_one()
    )


async def merge_contacts(uow: UnitOfWork, workspace_id: int, *, source_id: int, target_id: int) -> None:
    """Fold ``source`` into ``target``: identities, tickets, messages and sign-ins move; the source
    stays as a pointer (``merged_into_id``) so old links still resolve."""
    from helpline.domains.accounts.models import Membership
    from helpline.domains.tickets.events import SYSTEM, FieldChanged, record_many
    from helpline.domains.tickets.models import Message, Ticket, TicketCC

    if source_id == target_id:
        raise Invalid("source_id", "cannot merge a contact into itself")
    tickets, messages, ccs = Ticket.__table__, Message.__table__, TicketCC.__table__
    members = Membership.__table__
    await uow.execute(
        identities.update()
        .where(identities.c.contact_id == source_id)
        .values(contact_id=target_id, is_primary=False)
    )
    # Tickets change requester: each gets its event (rule 6) and the target's organization.
    moved: Sequence[int] = (
        (await uow.execute(sa.select(tickets.c.id).where(tickets.c.requester_id == source_id)))
        .scalars()
        .all()
    )
    target_org = (
        await uow.execute(sa.select(contacts.c.organization_id).where(contacts.c.id == target_id))
    ).scalar()
    now = utcnow()
    await uow.execute(
        tickets.update()
        .where(tickets.c.requester_id == source_id)
        .values(
            requester_id=target_id, organization_id=target_org, updated_at=now, version=tickets.c.version + 1
        )
    )
    if moved:
        change = FieldChanged("requester_id", source_id, target_id)
        ref = {"workspace_id": workspace_id}
        await record_many(uow, [({**ref, "id": tid}, SYSTEM, change) for tid in moved], at=now)
    # A CC of both would collide on the primary key: drop the source's duplicates first.
    both = sa.select(ccs.c.ticket_id).where(ccs.c.contact_id == target_id).scalar_subquery()
    await uow.execute(ccs.delete().where(ccs.c.contact_id == source_id, ccs.c.ticket_id.in_(both)))
    await uow.execute(ccs.update().where(ccs.c.contact_id == source_id).values(contact_id=target_id))
    await uow.execute(members.update().where(members.c.contact_id == source_id).values(contact_id=target_id))
    src = (await uow.execute(sa.select(contacts).where(contacts.c.id == source_id))).mappings().one()
    tgt = (await uow.execute(sa.select(contacts).where(contacts.c.id == target_id))).mappings().one()
    await uow.execute(
        contacts.update()
        .where(contacts.c.id == target_id)
        .values(
            organization_id=tgt["organization_id"] or src["organization_id"],
            tags=sorted(set(tgt["tags"]) | set(src["tags"])),
            attributes={**src["attributes"], **tgt["attributes"]},
            notes="\n\n".join(n for n in (tgt["notes"], src["notes"]) if n),
            updated_at=utcnow(),
        )
    )
    await uow.execute(
        contacts.update()
        .where(contacts.c.id == source_id)
        .values(merged_into_id=target_id, updated_at=utcnow())
    )
    _ = messages  # messages keep their author_contact_id: the history of who wrote what is not rewritten


async def require_contact(
    uow: UnitOfWork, workspace_id: int, contact_id: int, field: str = "contact_id"
) -> None:
    row = (
        await uow.execute(
            sa.select(contacts.c.id).where(
                contacts.c.id == contact_id, contacts.c.workspace_id == workspace_id
            )
        )
    ).first()
    if row is None:
        raise Invalid(field, f"no contact {contact_id}")
