"""Writes on behalf of an actor (what the HTTP API and the console pages call)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from helpline.db.base import utcnow
from helpline.domains.accounts.models import Role
from helpline.domains.accounts.principal import Principal
from helpline.domains.customers.models import (
    IdentityKind,
)
from helpline.domains.customers.schemas import (
    ContactCreate,
    ContactUpdate,
    IdentityCreate,
    OrganizationCreate,
    OrganizationUpdate,
)
from helpline.domains.customers.service._contacts import (
    add_identity,
    create_contact,
    merge_contacts,
    update_contact,
)
from helpline.domains.customers.service._organizations import create_organization, update_organization
from helpline.domains.customers.service._tables import contacts, identities
from helpline.errors import Conflict, Forbidden, NotFound
from helpline.platform.db import UnitOfWork

# --- actions on behalf of an actor (what the HTTP API calls) -------------------------------------
# Admins and agents change contacts and organizations; a customer may rename their own contact.


@asynccontextmanager
async def _first_wins(uow: UnitOfWork, field: str) -> AsyncIterator[None]:
    """A concurrent request can take a unique value between our check and our insert: 409, not 500."""
    try:
        async with uow.conn.begin_nested():
            yield
    except IntegrityError:
        raise Conflict(
            f"{field}: taken by a request that ran at the same time",
            errors=[{"field": field, "message": "already in use"}],
        ) from None


def check_write(actor: Principal) -> None:
    if actor.role not in (Role.admin, Role.agent):
        raise Forbidden("only admins and agents may change contacts and organizations")


def check_contact_update(actor: Principal, contact: dict[str, Any], given: dict[str, Any]) -> None:
    if actor.is_customer and contact["id"] == actor.contact_id:
        for name in given:
            if name != "name":
                raise Forbidden(
                    f"{name}: customers may change only their name",
                    errors=[{"field": name, "message": "not allowed"}],
                )
    else:
        check_write(actor)
    if contact["merged_into_id"] is not None:
        raise Conflict(
            f"contact {contact['id']} was merged into {contact['merged_into_id']}; edit that one",
            errors=[{"field": "merged_into_id", "message": "merged"}],
        )
    check_not_erased(contact)


def check_not_erased(contact: dict[str, Any], field: str = "erased_at") -> None:
    """An erased contact stays anonymous: nothing identifying is written to it again."""
    if contact.get("erased_at") is not None:
        raise Conflict(
            f"contact {contact['id']} was erased at the customer's request and cannot be changed",
            errors=[{"field": field, "message": "erased"}],
        )


async def do_create_contact(uow: UnitOfWork, actor: Principal, data: ContactCreate) -> int:
    check_write(actor)
    # An email given only among the identities is still the primary one, and picks the organization.
    email = data.email or next((i.value for i in data.identities if i.kind is IdentityKind.email), None)
    async with _first_wins(uow, "email" if email else "identities"):
        return await create_contact(
            uow,
            actor.workspace_id,
            name=data.name,
            email=email,
            organization_id=data.organization_id,
            identities_in=[(i.kind.value, i.value) for i in data.identities],
            notes=data.notes,
            tags=data.tags,
            attributes=data.attributes,
        )


async def do_update_contact(
    uow: UnitOfWork, actor: Principal, contact: dict[str, Any], data: ContactUpdate
) -> None:
    given = data.model_dump(exclude_unset=True)
    check_contact_update(actor, contact, given)
    await update_contact(uow, actor.workspace_id, contact["id"], given)


async def do_add_identity(
    uow: UnitOfWork, actor: Principal, contact: dict[str, Any], data: IdentityCreate
) -> int:
    check_contact_update(actor, contact, {"identities": True})
    async with _first_wins(uow, "value"):
        return await add_identity(uow, actor.workspace_id, contact["id"], data.kind.value, data.value)


async def do_remove_identity(
    uow: UnitOfWork, actor: Principal, contact: dict[str, Any], identity_id: int
) -> None:
    """Remove one identity; the last one stays (409). A removed primary hands over to the oldest left,
    an email first."""
    check_contact_update(actor, contact, {"identities": True})
    rows = (
        await uow.execute(
            sa.select(identities.c.id, identities.c.kind, identities.c.is_primary)
            .where(identities.c.contact_id == contact["id"])
            .order_by(identities.c.id)
        )
    ).all()
    gone = next((r for r in rows if r.id == identity_id), None)
    if gone is None:
        raise NotFound(f"contact {contact['id']} has no identity {identity_id}")
    left = [r for r in rows if r.id != identity_id]
    if not left:
        raise Conflict("a contact keeps at least one identity; add another before removing this one")
    await uow.execute(identities.delete().where(identities.c.id == identity_id))
    if gone.is_primary:
        heir = next((r for r in left if r.kind == IdentityKind.email), left[0])
        await uow.execute(identities.update().where(identities.c.id == heir.id).values(is_primary=True))
    await uow.execute(contacts.update().where(contacts.c.id == contact["id"]).values(updated_at=utcnow()))


async def do_merge_contacts(
    uow: UnitOfWork, actor: Principal, target: dict[str, Any], source: dict[str, Any]
) -> None:
    check_write(actor)
    for who, row in (("source_id", source), ("contact_id", target)):
        if row["merged_into_id"] is not None:
            raise Conflict(
                f"contact {row['id']} was already merged into {row['merged_into_id']}",
                errors=[{"field": who, "message": "already merged"}],
            )
        check_not_erased(row, who)
    await merge_contacts(uow, actor.workspace_id, source_id=source["id"], target_id=target["id"])
    # Contacts merged into the source earlier now point straight at the target: one hop to resolve.
    await uow.execute(
        contacts.update().where(contacts.c.merged_into_id == source["id"]).values(merged_into_id=target["id"])
    )


async def do_create_organization(uow: UnitOfWork, actor: Principal, data: OrganizationCreate) -> int:
    check_write(actor)
    async with _first_wins(uow, "name"):
        return await create_organization(
            uow,
            actor.workspace_id,
            name=data.name,
            domains=data.domains,
            shared_tickets=data.shared_tickets,
            notes=data.notes,
            tags=data.tags,
            attributes=data.attributes,
        )


async def do_update_organization(
    uow: UnitOfWork, actor: Principal, org: dict[str, Any], data: OrganizationUpdate
) -> None:
    check_write(actor)
    await update_organization(uow, actor.workspace_id, org["id"], data.model_dump(exclude_unset=True))
