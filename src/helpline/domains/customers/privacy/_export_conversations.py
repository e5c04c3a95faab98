"""The conversations part of a contact's export: their tickets with the messages the export holds,
their chats, and the mail received from and sent to them (with each stored email's header fields)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.domains.channels.chat.models import ChatMessage
from helpline.domains.channels.email.models import AddressStatus, Mailbox
from helpline.domains.customers.privacy._scope import (
    Subject,
    attachments,
    chat_sessions,
    inbound,
    messages,
    outbound,
    tickets,
    visitors,
)
from helpline.domains.customers.privacy._shape import attachment_path, eml_path, headers_of, pick, rows_of

chat_lines = ChatMessage.__table__
address_status = AddressStatus.__table__
mailboxes = Mailbox.__table__


async def tickets_part(
    conn: AsyncConnection, s: Subject
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Their tickets with the messages the export holds; and every attachment listed (for the ZIP)."""
    ids = sorted({*s.requested, *s.cc_only})
    msgs = await rows_of(
        conn,
        sa.select(messages)
        .where(messages.c.workspace_id == s.workspace_id, s.exported_messages())
        .order_by(messages.c.id),
    )
    # A message of theirs on a ticket that is neither theirs nor one they are CC'd on (a ticket
    # merged into another's) brings that ticket along, with that message only.
    ids = sorted({*ids, *(m["ticket_id"] for m in msgs)})
    rows = await rows_of(
        conn,
        sa.select(tickets)
        .where(tickets.c.workspace_id == s.workspace_id, tickets.c.id.in_(ids))
        .order_by(tickets.c.id),
    )
    files: dict[int, list[dict[str, Any]]] = {}
    all_files: list[dict[str, Any]] = []
    if msgs:
        for a in await rows_of(
            conn,
            sa.select(attachments)
            .where(attachments.c.message_id.in_(sa.select(messages.c.id).where(s.exported_messages())))
            .order_by(attachments.c.id),
        ):
            files.setdefault(a["message_id"], []).append(a)
            all_files.append(a)
    by_ticket: dict[int, list[dict[str, Any]]] = {}
    for m in msgs:
        item = pick(
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
                **pick(a, "id", "filename", "content_type", "size", "sha256"),
                "download": f"/api/v1/attachments/{a['id']}",
                "file": attachment_path(a),
            }
            for a in files.get(m["id"], [])
        ]
        by_ticket.setdefault(m["ticket_id"], []).append(item)
    requested = set(s.requested)
    out = []
    for t in rows:
        item = pick(
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


async def chats_part(conn: AsyncConnection, s: Subject) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    sess = await rows_of(conn, sa.select(chat_sessions).where(s.sessions()).order_by(chat_sessions.c.id))
    lines: dict[int, list[dict[str, Any]]] = {}
    if sess:
        for r in await rows_of(
            conn,
            sa.select(chat_lines)
            .where(chat_lines.c.ticket_id.in_([x["ticket_id"] for x in sess]))
            .order_by(chat_lines.c.ticket_id, chat_lines.c.seq),
        ):
            lines.setdefault(r["ticket_id"], []).append(
                pick(r, "message_id", "seq", "pseq", "public", "created_at")
            )
    chats = [
        {
            **pick(
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
    vis = await rows_of(
        conn,
        sa.select(visitors)
        .where(
            visitors.c.workspace_id == s.workspace_id,
            visitors.c.id.in_(sorted({*s.visitor_ids, *(x["visitor_id"] for x in sess)})),
        )
        .order_by(visitors.c.id),
    )
    return chats, [
        pick(v, "id", "widget_id", "name", "email", "external_id", "created_at", "last_seen_at") for v in vis
    ]


async def email_part(conn: AsyncConnection, storage: Any, s: Subject) -> dict[str, Any]:
    rows = await rows_of(
        conn,
        sa.select(inbound, mailboxes.c.address.label("mailbox_address"))
        .join(mailboxes, mailboxes.c.id == inbound.c.mailbox_id)
        .where(s.inbound_mail())
        .order_by(inbound.c.id),
    )
    received = []
    for r in rows:
        item = pick(
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
    sent = await rows_of(
        conn,
        sa.select(outbound).where(s.outbound_mail()).order_by(outbound.c.id),
    )
    bounces: list[dict[str, Any]] = []
    if s.emails:
        bounces = await rows_of(
            conn,
            sa.select(address_status).where(
                address_status.c.workspace_id == s.workspace_id,
                sa.func.lower(address_status.c.address).in_(sorted(s.emails)),
            ),
        )
    return {
        "inbound": received,
        "outbound": [
            pick(o, "id", "ticket_id", "message_id", "kind", "recipients", "state", "sent_at", "created_at")
            for o in sent
        ],
        "bounces": [pick(b, "address", "bounces", "last_reason", "updated_at") for b in bounces],
    }
