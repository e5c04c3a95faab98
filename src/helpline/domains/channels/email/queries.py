"""Permission-checked reads of the email channel: inbound mail (failed list), deliveries, inline images."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.domains.channels.email.mailboxes import public
from helpline.domains.channels.email.models import InboundMail, Mailbox, OutboundMail
from helpline.domains.tickets import queries as ticket_queries
from helpline.domains.tickets.models import Attachment
from helpline.web.errors import Forbidden, NotFound
from helpline.web.principal import Principal

inbound = InboundMail.__table__
outbox = OutboundMail.__table__
mailboxes = Mailbox.__table__
attachments = Attachment.__table__

INBOUND_COLUMNS = [c for c in inbound.c if c.name not in ("workspace_id",)]


def require_staff(actor: Principal) -> None:
    if not actor.is_staff:
        raise Forbidden("only staff see mail")


async def list_inbound(
    conn: AsyncConnection,
    actor: Principal,
    *,
    state: str | None,
    mailbox_id: int | None,
    cursor: int | None,
    limit: int,
) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first; admins see every mailbox's mail, agents only what reached a ticket they may see."""
    require_staff(actor)
    q = sa.select(*INBOUND_COLUMNS).where(inbound.c.workspace_id == actor.workspace_id)
    if not actor.is_admin:
        q = q.where(
            inbound.c.ticket_id.in_(
                sa.select(ticket_queries.tickets.c.id).where(ticket_queries.visible(actor))
            )
        )
    if state:
        q = q.where(inbound.c.state == state)
    if mailbox_id:
        q = q.where(inbound.c.mailbox_id == mailbox_id)
    if cursor:
        q = q.where(inbound.c.id < cursor)
    rows = [
        dict(r) for r in (await conn.execute(q.order_by(inbound.c.id.desc()).limit(limit + 1))).mappings()
    ]
    nxt = str(rows[limit - 1]["id"]) if len(rows) > limit else None
    return rows[:limit], nxt


async def access_inbound(conn: AsyncConnection, actor: Principal, inbound_id: int) -> dict[str, Any]:
    require_staff(actor)
    row = (
        (
            await conn.execute(
                sa.select(*INBOUND_COLUMNS).where(
                    inbound.c.id == inbound_id, inbound.c.workspace_id == actor.workspace_id
                )
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"inbound mail {inbound_id} not found")
    if not actor.is_admin:
        if row["ticket_id"] is None:
            raise NotFound(f"inbound mail {inbound_id} not found")
        await ticket_queries.access_ticket(conn, actor, row["ticket_id"])
    return dict(row)


async def deliveries(conn: AsyncConnection, actor: Principal, ticket_id: int) -> list[dict[str, Any]]:
    """Delivery state of every email sent on a ticket the actor may see."""
    require_staff(actor)
    await ticket_queries.access_ticket(conn, actor, ticket_id)
    rows = await conn.execute(
        sa.select(
            outbox.c.id,
            outbox.c.message_id,
            outbox.c.kind,
            outbox.c.rfc_message_id,
            outbox.c.recipients,
            outbox.c.state,
            outbox.c.attempts,
            outbox.c.last_error,
            outbox.c.next_attempt_at,
            outbox.c.sent_at,
            outbox.c.created_at,
        )
        .where(outbox.c.ticket_id == ticket_id, outbox.c.workspace_id == actor.workspace_id)
        .order_by(outbox.c.id)
    )
    return [describe(dict(r)) for r in rows.mappings()]


def describe(row: dict[str, Any]) -> dict[str, Any]:
    """Adds ``status``: queued, sent, "retrying 2", or "failed: why"."""
    state = row["state"]
    if state == "retrying":
        row["status"] = f"retrying {row['attempts']}"
    elif state == "failed":
        row["status"] = f"failed: {row['last_error'] or 'unknown error'}"
    else:
        row["status"] = state
    return row


async def inline_image(conn: AsyncConnection, actor: Principal, sha256: str) -> dict[str, Any]:
    """An attachment with this content that the actor may see (inline images are named by hash)."""
    ids = [
        r[0]
        for r in await conn.execute(
            sa.select(attachments.c.id)
            .where(attachments.c.workspace_id == actor.workspace_id, attachments.c.sha256 == sha256)
            .limit(20)
        )
    ]
    for attachment_id in ids:
        try:
            return await ticket_queries.access_attachment(conn, actor, attachment_id)
        except NotFound:
            continue
    raise NotFound("image not found")


async def list_mailboxes(conn: AsyncConnection, actor: Principal) -> list[dict[str, Any]]:
    if not actor.is_admin:
        raise Forbidden("only admins manage mailboxes")
    rows = await conn.execute(
        sa.select(mailboxes).where(mailboxes.c.workspace_id == actor.workspace_id).order_by(mailboxes.c.id)
    )
    return [public(dict(r)) for r in rows.mappings()]


async def access_mailbox(
    conn: AsyncConnection, actor: Principal, mailbox_id: int, *, secrets: bool = False
) -> dict[str, Any]:
    if not actor.is_admin:
        raise Forbidden("only admins manage mailboxes")
    row = (
        (
            await conn.execute(
                sa.select(mailboxes).where(
                    mailboxes.c.id == mailbox_id, mailboxes.c.workspace_id == actor.workspace_id
                )
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"mailbox {mailbox_id} not found")
    return dict(row) if secrets else public(dict(row))
