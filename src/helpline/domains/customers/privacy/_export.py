"""Everything held about a contact, as one JSON document (:data:`FORMAT_VERSION`; the schema is
documented in docs/customers.md, "Privacy: export and erase"), and as a ZIP with their files."""

from __future__ import annotations

import contextlib
import email.header
from datetime import datetime
from email.parser import BytesHeaderParser
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.db.base import utcnow
from helpline.domains.accounts.models import WebSession, Workspace
from helpline.domains.channels.chat.models import ChatMessage
from helpline.domains.channels.email.models import AddressStatus, Mailbox
from helpline.domains.customers.models import Organization, OrganizationDomain
from helpline.domains.customers.privacy._scope import (
    Subject,
    attachments,
    chat_sessions,
    contacts,
    feedback,
    feedback_rows,
    inbound,
    messages,
    outbound,
    search_log,
    search_log_rows,
    their_texts,
    tickets,
    visitors,
)

#: Raised when a field is added or renamed; a field's meaning never changes within a version.
FORMAT_VERSION = 1

sessions_t = WebSession.__table__
workspaces_t = Workspace.__table__
chat_lines = ChatMessage.__table__
address_status = AddressStatus.__table__
mailboxes = Mailbox.__table__
orgs = Organization.__table__
org_domains = OrganizationDomain.__table__

#: Header fields of a stored email beyond this many are left out of the export (the .eml has them all).
_MAX_HEADERS = 200


def _t(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _pick(row: Any, *names: str) -> dict[str, Any]:
    return {n: _t(row[n]) if isinstance(row[n], datetime) else row[n] for n in names}


async def _rows(conn: AsyncConnection, stmt: sa.Select[Any]) -> list[dict[str, Any]]:
    return [dict(r) for r in (await conn.execute(stmt)).mappings()]


def attachment_path(a: dict[str, Any]) -> str:
    """Where the ZIP keeps an attachment: ``attachments/<id>/<file name>``."""
    name = a["filename"].replace("/", "_").replace("\\", "_").lstrip(".") or "file"
    return f"attachments/{a['id']}/{name}"


def eml_path(inbound_id: int) -> str:
    return f"emails/{inbound_id}.eml"


def headers_of(raw: bytes) -> list[list[str]]:
    """The header fields of a stored email as ``[name, decoded value]`` pairs, in order."""
    msg = BytesHeaderParser().parsebytes(raw)
    out: list[list[str]] = []
    for name, value in msg.items()[:_MAX_HEADERS]:
        text = str(value)
        with contextlib.suppress(ValueError, LookupError, UnicodeError):
            text = str(email.header.make_header(email.header.decode_header(text)))
        out.append([name, " ".join(text.split())])
    return out


async def _contact_part(conn: AsyncConnection, s: Subject) -> dict[str, Any]:
    c = s.contact
    merged = await _rows(
        conn,
        sa.select(contacts.c.id, contacts.c.name, contacts.c.created_at)
        .where(contacts.c.id.in_([i for i in s.contact_ids if i != c["id"]]))
        .order_by(contacts.c.id),
    )
    item = _pick(
        c, "id", "name", "organization_id", "notes", "tags", "attributes", "created_at", "updated_at"
    )
    item["erased_at"] = _t(c.get("erased_at"))
    item["merged_contacts"] = [_pick(m, "id", "name", "created_at") for m in merged]
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
        sess = await _rows(
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
                "member_since": _t(m["created_at"]),
                "sessions": [_pick(x, "created_at", "expires_at", "revoked_at", "method") for x in sess],
            }
        )
    return out


async def _tickets(conn: AsyncConnection, s: Subject) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Their tickets with the messages the export holds; and every attachment listed (for the ZIP)."""
    ids = sorted({*s.requested, *s.cc_only})
    msgs = await _rows(
        conn,
        sa.select(messages)
        .where(messages.c.workspace_id == s.workspace_id, s.exported_messages())
        .order_by(messages.c.id),
    )
    # A message of theirs on a ticket that is neither theirs nor one they are CC'd on (a ticket
    # merged into another's) brings that ticket along, with that message only.
    ids = sorted({*ids, *(m["ticket_id"] for m in msgs)})
    rows = await _rows(
        conn,
        sa.select(tickets)
        .where(tickets.c.workspace_id == s.workspace_id, tickets.c.id.in_(ids))
        .order_by(tickets.c.id),
    )
    files: dict[int, list[dict[str, Any]]] = {}
    all_files: list[dict[str, Any]] = []
    if msgs:
        for a in await _rows(
            conn,
            sa.select(attachments)
            .where(attachments.c.message_id.in_(sa.select(messages.c.id).where(s.exported_messages())))
            .order_by(attachments.c.id),
        ):
            files.setdefault(a["message_id"], []).append(a)
            all_files.append(a)
    by_ticket: dict[int, list[dict[str, Any]]] = {}
    for m in msgs:
        item = _pick(
            m,
            "id",
            "public",
            "author_kind",
            "author_user_id",
            "author_contact_id",
            "channel",
            "body_text",
            "body_html",
            "created_at",
            "redacted_at",
        )
        item["by_this_contact"] = m["author_contact_id"] in s.contact_ids
        item["attachments"] = [
            {
                **_pick(a, "id", "filename", "content_type", "size", "sha256"),
                "download": f"/api/v1/attachments/{a['id']}",
                "file": attachment_path(a),
            }
            for a in files.get(m["id"], [])
        ]
        by_ticket.setdefault(m["ticket_id"], []).append(item)
    requested = set(s.requested)
    out = []
    for t in rows:
        item = _pick(
            t,
            "id",
            "number",
            "subject",
            "status",
            "priority",
            "type",
            "channel",
            "organization_id",
            "created_at",
            "updated_at",
            "solved_at",
        )
        item["relation"] = "requester" if t["id"] in requested else "cc" if t["id"] in s.cc_only else "author"
        item["custom_fields"] = t["custom"] or {}
        item["messages"] = by_ticket.get(t["id"], [])
        out.append(item)
    return out, all_files


async def _chats(conn: AsyncConnection, s: Subject) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    sess = await _rows(conn, sa.select(chat_sessions).where(s.sessions()).order_by(chat_sessions.c.id))
    lines: dict[int, list[dict[str, Any]]] = {}
    if sess:
        for r in await _rows(
            conn,
            sa.select(chat_lines)
            .where(chat_lines.c.ticket_id.in_([x["ticket_id"] for x in sess]))
            .order_by(chat_lines.c.ticket_id, chat_lines.c.seq),
        ):
            lines.setdefault(r["ticket_id"], []).append(
                _pick(r, "message_id", "seq", "pseq", "public", "created_at")
            )
    chats = [
        {
            **_pick(
                x,
                "id",
                "ticket_id",
                "widget_id",
                "visitor_id",
                "state",
                "origin",
                "queued_at",
                "accepted_at",
                "ended_at",
            ),
            "lines": lines.get(x["ticket_id"], []),
        }
        for x in sess
    ]
    vis = await _rows(
        conn,
        sa.select(visitors)
        .where(
            visitors.c.workspace_id == s.workspace_id,
            visitors.c.id.in_(sorted({*s.visitor_ids, *(x["visitor_id"] for x in sess)})),
        )
        .order_by(visitors.c.id),
    )
    return chats, [
        _pick(v, "id", "widget_id", "name", "email", "external_id", "created_at", "last_seen_at") for v in vis
    ]


async def _email(conn: AsyncConnection, storage: Any, s: Subject) -> dict[str, Any]:
    rows = await _rows(
        conn,
        sa.select(inbound, mailboxes.c.address.label("mailbox_address"))
        .join(mailboxes, mailboxes.c.id == inbound.c.mailbox_id)
        .where(s.inbound_mail())
        .order_by(inbound.c.id),
    )
    received = []
    for r in rows:
        item = _pick(
            r,
            "id",
            "mailbox_id",
            "mailbox_address",
            "message_key",
            "source",
            "envelope_from",
            "from_address",
            "subject",
            "state",
            "outcome",
            "reason",
            "ticket_id",
            "message_id",
            "auth",
            "size",
            "raw_sha256",
            "received_at",
            "processed_at",
        )
        try:
            item["headers"] = headers_of(await storage.get(r["raw_sha256"]))
        except (FileNotFoundError, ValueError):
            item["headers"] = None  # the stored bytes are gone (the row says what was received)
        item["download"] = f"/api/v1/email/inbound/{r['id']}/raw"
        item["file"] = eml_path(r["id"])
        received.append(item)
    sent = await _rows(
        conn,
        sa.select(outbound).where(s.outbound_mail()).order_by(outbound.c.id),
    )
    bounces: list[dict[str, Any]] = []
    if s.emails:
        bounces = await _rows(
            conn,
            sa.select(address_status).where(
                address_status.c.workspace_id == s.workspace_id,
                sa.func.lower(address_status.c.address).in_(sorted(s.emails)),
            ),
        )
    return {
        "inbound": received,
        "outbound": [
            _pick(o, "id", "ticket_id", "message_id", "kind", "recipients", "state", "sent_at", "created_at")
            for o in sent
        ],
        "bounces": [_pick(b, "address", "bounces", "last_reason", "updated_at") for b in bounces],
    }


async def _knowledge(conn: AsyncConnection, s: Subject) -> dict[str, Any]:
    texts = await their_texts(conn, s)
    searches = await _rows(
        conn, sa.select(search_log).where(search_log_rows(s, texts)).order_by(search_log.c.id)
    )
    notes = await _rows(conn, sa.select(feedback).where(feedback_rows(s)).order_by(feedback.c.id))
    return {
        "searches": [_pick(r, "id", "query", "locale", "source", "results", "created_at") for r in searches],
        "feedback": [
            _pick(r, "id", "article_id", "locale", "helpful", "comment", "created_at") for r in notes
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
    ticket_items, files = await _tickets(conn, s)
    chats, chat_visitors = await _chats(conn, s)
    mail = await _email(conn, storage, s)
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
