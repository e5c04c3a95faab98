"""Everything held about a contact, as one JSON document (:data:`FORMAT_VERSION`; the schema is
documented in docs/customers.md, "Privacy: export and erase"), and as a ZIP with their files.

The person (contact, organization, accounts, knowledge-base traces) is read here; their conversations
(tickets, chats, mail) in :mod:`._export_conversations`; :mod:`._shape` turns rows into JSON values."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.db.base import utcnow
from helpline.domains.accounts.models import WebSession, Workspace
from helpline.domains.customers.models import Organization, OrganizationDomain
from helpline.domains.customers.privacy._export_conversations import chats_part, email_part, tickets_part
from helpline.domains.customers.privacy._scope import (
    Subject,
    contacts,
    feedback,
    feedback_rows,
    search_log,
    search_log_rows,
    their_texts,
)
from helpline.domains.customers.privacy._shape import iso, pick, rows_of

#: Raised when a field is added or renamed; a field's meaning never changes within a version.
FORMAT_VERSION = 1

sessions_t = WebSession.__table__
workspaces_t = Workspace.__table__
orgs = Organization.__table__
org_domains = OrganizationDomain.__table__


async def _contact_part(conn: AsyncConnection, s: Subject) -> dict[str, Any]:
    c = s.contact
    merged = await rows_of(
        conn,
        sa.select(contacts.c.id, contacts.c.name, contacts.c.created_at)
        .where(contacts.c.id.in_([i for i in s.contact_ids if i != c["id"]]))
        .order_by(contacts.c.id),
    )
    item = pick(c, "id", "name", "organization_id", "notes", "tags", "attributes", "created_at", "updated_at")
    item["erased_at"] = iso(c.get("erased_at"))
    item["merged_contacts"] = [pick(m, "id", "name", "created_at") for m in merged]
    return item


async def _organization(conn: AsyncConnection, s: Subject) -> dict[str, Any] | None:
    org_id = s.contact["organization_id"]
    if org_id is None:
        return None
    row = (
        (
            await conn.execute(
                sa.select(orgs).where(orgs.c.id == org_id, orgs.c.workspace_id == s.workspace_id)
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    domains = [
        r[0]
        for r in await conn.execute(
            sa.select(org_domains.c.domain)
            .where(org_domains.c.organization_id == org_id)
            .order_by(org_domains.c.domain)
        )
    ]
    return {"id": row["id"], "name": row["name"], "domains": domains}


async def _accounts(conn: AsyncConnection, s: Subject) -> list[dict[str, Any]]:
    """Their sign-in accounts as this workspace knows them: never their other workspaces."""
    out = []
    for m in s.memberships:
        sess = await rows_of(
            conn,
            sa.select(sessions_t)
            .where(sessions_t.c.user_id == m["user_id"], sessions_t.c.workspace_id == s.workspace_id)
            .order_by(sessions_t.c.id),
        )
        out.append(
            {
                "user_id": m["user_id"],
                "email": m["user_email"],
                "name": m["user_name"],
                "role": m["role"],
                "active": bool(m["is_active"]),
                "member_since": iso(m["created_at"]),
                "sessions": [pick(x, "created_at", "expires_at", "revoked_at", "method") for x in sess],
            }
        )
    return out


async def _knowledge(conn: AsyncConnection, s: Subject) -> dict[str, Any]:
    texts = await their_texts(conn, s)
    searches = await rows_of(
        conn, sa.select(search_log).where(search_log_rows(s, texts)).order_by(search_log.c.id)
    )
    notes = await rows_of(conn, sa.select(feedback).where(feedback_rows(s)).order_by(feedback.c.id))
    return {
        "searches": [pick(r, "id", "query", "locale", "source", "results", "created_at") for r in searches],
        "feedback": [
            pick(r, "id", "article_id", "locale", "helpful", "comment", "created_at") for r in notes
        ],
    }


async def build(conn: AsyncConnection, storage: Any, s: Subject) -> tuple[dict[str, Any], dict[str, Any]]:
    """The export document of ``s``, and what the ZIP adds: ``{"attachments": [...], "inbound": [...]}``."""
    ws = (
        (
            await conn.execute(
                sa.select(workspaces_t.c.id, workspaces_t.c.slug, workspaces_t.c.name).where(
                    workspaces_t.c.id == s.workspace_id
                )
            )
        )
        .mappings()
        .one()
    )
    ticket_items, files = await tickets_part(conn, s)
    chats, chat_visitors = await chats_part(conn, s)
    mail = await email_part(conn, storage, s)
    doc = {
        "format_version": FORMAT_VERSION,
        "exported_at": utcnow().isoformat(),
        "workspace": dict(ws),
        "contact": await _contact_part(conn, s),
        "identities": [
            {"id": i["id"], "kind": i["kind"], "value": i["value"], "primary": bool(i["is_primary"])}
            for i in s.identities
        ],
        "organization": await _organization(conn, s),
        "accounts": await _accounts(conn, s),
        "tickets": ticket_items,
        "chats": chats,
        "chat_visitors": chat_visitors,
        "email": mail,
        "knowledge": await _knowledge(conn, s),
        # Sign-in and password-reset links are signed and checked against the account's state; none
        # is stored, so there is nothing to list (docs/customers.md).
        "portal_sign_in_links": [],
        # Satisfaction surveys are not built yet; the key is here so the schema does not change then.
        "satisfaction": [],
    }
    return doc, {"attachments": files, "inbound": mail["inbound"]}


def counts(doc: dict[str, Any]) -> dict[str, int]:
    """What an export held, by kind (ids and counts only: the audit entry's detail)."""
    msgs = [m for t in doc["tickets"] for m in t["messages"]]
    return {
        "tickets": len(doc["tickets"]),
        "messages": len(msgs),
        "attachments": sum(len(m["attachments"]) for m in msgs),
        "identities": len(doc["identities"]),
        "accounts": len(doc["accounts"]),
        "chats": len(doc["chats"]),
        "inbound_emails": len(doc["email"]["inbound"]),
        "outbound_emails": len(doc["email"]["outbound"]),
        "searches": len(doc["knowledge"]["searches"]),
        "feedback": len(doc["knowledge"]["feedback"]),
    }
