"""Permission-checked reads of contacts and organizations.

Every function takes the acting principal and scopes by workspace and by the actor's rights: staff
see every contact and organization of their workspace, a customer only their own contact and their
own organization. Anything else is reported exactly like a row that does not exist.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.domains.accounts.principal import Principal
from helpline.domains.customers.models import (
    Contact,
    ContactIdentity,
    IdentityKind,
    Organization,
    OrganizationDomain,
)
from helpline.errors import Invalid, NotFound

contacts = Contact.__table__
identities = ContactIdentity.__table__
orgs = Organization.__table__
org_domains = OrganizationDomain.__table__

CONTACT_FIELDS = (
    "id",
    "name",
    "organization_id",
    "notes",
    "tags",
    "attributes",
    "merged_into_id",
    "created_at",
    "updated_at",
    "erased_at",
)
ORG_FIELDS = ("id", "name", "shared_tickets", "notes", "tags", "attributes", "created_at", "updated_at")


def _own_org(actor: Principal) -> sa.ScalarSelect[Any]:
    """The organization of the customer's own contact, as a scalar subquery."""
    return sa.select(contacts.c.organization_id).where(contacts.c.id == actor.contact_id).scalar_subquery()


def contacts_visible(actor: Principal) -> sa.ColumnElement[bool]:
    in_ws = contacts.c.workspace_id == actor.workspace_id
    if actor.is_staff:
        return in_ws
    if actor.contact_id is None:
        return sa.false()
    return sa.and_(in_ws, contacts.c.id == actor.contact_id)


def orgs_visible(actor: Principal) -> sa.ColumnElement[bool]:
    in_ws = orgs.c.workspace_id == actor.workspace_id
    if actor.is_staff:
        return in_ws
    if actor.contact_id is None:
        return sa.false()
    return sa.and_(in_ws, orgs.c.id == _own_org(actor))


async def access_contact(conn: AsyncConnection, actor: Principal, contact_id: int) -> dict[str, Any]:
    row = (
        (await conn.execute(sa.select(contacts).where(contacts.c.id == contact_id, contacts_visible(actor))))
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"contact {contact_id} not found")
    return dict(row)


async def access_organization(conn: AsyncConnection, actor: Principal, org_id: int) -> dict[str, Any]:
    row = (
        (await conn.execute(sa.select(orgs).where(orgs.c.id == org_id, orgs_visible(actor))))
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"organization {org_id} not found")
    return dict(row)


# --- rendering ------------------------------------------------------------------------------------


def contact_item(row: dict[str, Any], idents: list[dict[str, Any]]) -> dict[str, Any]:
    """A contact row and its identities as a ContactRead dict; ``email`` is the primary email, if any."""
    ordered = sorted(idents, key=lambda i: (not i["is_primary"], i["id"]))
    emails = [i["value"] for i in ordered if i["kind"] == IdentityKind.email]
    item = {k: row[k] for k in CONTACT_FIELDS}
    item["email"] = emails[0] if emails else None
    item["identities"] = [
        {"id": i["id"], "kind": i["kind"], "value": i["value"], "primary": bool(i["is_primary"])}
        for i in ordered
    ]
    return item


async def render_contacts(conn: AsyncConnection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_contact: dict[int, list[dict[str, Any]]] = {r["id"]: [] for r in rows}
    if rows:
        for i in (
            await conn.execute(sa.select(identities).where(identities.c.contact_id.in_(list(by_contact))))
        ).mappings():
            by_contact[i["contact_id"]].append(dict(i))
    return [contact_item(r, by_contact[r["id"]]) for r in rows]


async def contact_detail(conn: AsyncConnection, actor: Principal, contact_id: int) -> dict[str, Any]:
    row = await access_contact(conn, actor, contact_id)
    (item,) = await render_contacts(conn, [row])
    return item


async def render_organizations(conn: AsyncConnection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_org: dict[int, list[str]] = {r["id"]: [] for r in rows}
    if rows:
        for d in (
            await conn.execute(
                sa.select(org_domains.c.organization_id, org_domains.c.domain)
                .where(org_domains.c.organization_id.in_(list(by_org)))
                .order_by(org_domains.c.domain)
            )
        ).mappings():
            by_org[d["organization_id"]].append(d["domain"])
    return [{**{k: r[k] for k in ORG_FIELDS}, "domains": by_org[r["id"]]} for r in rows]


async def organization_detail(conn: AsyncConnection, actor: Principal, org_id: int) -> dict[str, Any]:
    (item,) = await render_organizations(conn, [await access_organization(conn, actor, org_id)])
    return item


# --- listing --------------------------------------------------------------------------------------


def after_cursor(cursor: str | None) -> int | None:
    """Cursors are the last id of the previous page (lists are in id order)."""
    if cursor is None:
        return None
    if not cursor.isdigit() or len(cursor) > 18:
        raise Invalid("cursor", "not a cursor from this list (use next_cursor as given)")
    return int(cursor)


def _page(rows: list[dict[str, Any]], limit: int) -> tuple[list[dict[str, Any]], str | None]:
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, str(rows[-1]["id"])
    return rows, None


async def list_contacts(
    conn: AsyncConnection,
    actor: Principal,
    *,
    q: str | None,
    organization_id: int | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[dict[str, Any]], str | None]:
    """Contacts in id order; ``q`` matches the name or any identity (case-insensitive substring).

    Merged contacts are left out. A customer's list holds only their own contact.
    """
    where: list[sa.ColumnElement[bool]] = [contacts_visible(actor), contacts.c.merged_into_id.is_(None)]
    if organization_id is not None:
        where.append(contacts.c.organization_id == organization_id)
    q = (q or "").strip()
    if q:
        by_identity = sa.select(identities.c.contact_id).where(
            identities.c.workspace_id == actor.workspace_id,
            identities.c.value.icontains(q, autoescape=True),
        )
        where.append(sa.or_(contacts.c.name.icontains(q, autoescape=True), contacts.c.id.in_(by_identity)))
    after = after_cursor(cursor)
    if after is not None:
        where.append(contacts.c.id > after)
    stmt = sa.select(contacts).where(*where).order_by(contacts.c.id).limit(limit + 1)
    rows, nxt = _page([dict(r) for r in (await conn.execute(stmt)).mappings()], limit)
    return await render_contacts(conn, rows), nxt


async def list_organizations(
    conn: AsyncConnection,
    actor: Principal,
    *,
    q: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[dict[str, Any]], str | None]:
    """Organizations in id order; ``q`` matches the name or a domain. A customer sees only their own."""
    where: list[sa.ColumnElement[bool]] = [orgs_visible(actor)]
    q = (q or "").strip()
    if q:
        by_domain = sa.select(org_domains.c.organization_id).where(
            org_domains.c.workspace_id == actor.workspace_id,
            org_domains.c.domain.icontains(q, autoescape=True),
        )
        where.append(sa.or_(orgs.c.name.icontains(q, autoescape=True), orgs.c.id.in_(by_domain)))
    after = after_cursor(cursor)
    if after is not None:
        where.append(orgs.c.id > after)
    stmt = sa.select(orgs).where(*where).order_by(orgs.c.id).limit(limit + 1)
    rows, nxt = _page([dict(r) for r in (await conn.execute(stmt)).mappings()], limit)
    return await render_organizations(conn, rows), nxt


async def organization_contacts(
    conn: AsyncConnection, actor: Principal, org_id: int, *, cursor: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    """The members of an organization the actor may see (for a customer: only themself)."""
    await access_organization(conn, actor, org_id)
    return await list_contacts(conn, actor, q=None, organization_id=org_id, cursor=cursor, limit=limit)
