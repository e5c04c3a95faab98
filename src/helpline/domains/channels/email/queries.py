"""Permission-checked reads of the email channel: mailboxes and their health, inbound mail (failed list),
deliveries, inline images, and the mail of a ticket page's messages (facts and the original .eml)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.domains.accounts.principal import Principal
from helpline.domains.channels.email.health import mailbox_health
from helpline.domains.channels.email.mailboxes import public
from helpline.domains.channels.email.models import InboundMail, Mailbox, OutboundMail
from helpline.domains.tickets import queries as ticket_queries
from helpline.domains.tickets.models import Attachment, Message
from helpline.errors import Forbidden, NotFound

inbound = InboundMail.__table__
outbox = OutboundMail.__table__
mailboxes = Mailbox.__table__
attachments = Attachment.__table__
messages = Message.__table__

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


async def mail_of_messages(
    conn: AsyncConnection, actor: Principal, *, received: list[int], replies: list[int]
) -> list[dict[str, Any]]:
    """One query for a ticket page: the inbound mail of the messages ``received`` (``outgoing`` 0:
    ``id``, ``data`` = the SPF/DKIM/DMARC verdicts) and the outbound email of the agent replies
    ``replies`` (``outgoing`` 1: ``id``, ``data`` = recipients, ``state``, ``attempts``, ``last_error``,
    ``next_attempt_at``), each with its ``message_id``. The caller has loaded those messages with the
    tickets' visibility rules; this adds the workspace and staff checks."""
    if not actor.is_staff or not (received or replies):
        return []
    ws = actor.workspace_id
    came = sa.select(
        sa.literal_column("0").label("outgoing"),
        inbound.c.message_id,
        inbound.c.id,
        inbound.c.auth.label("data"),
        sa.cast(sa.null(), outbox.c.state.type).label("state"),
        sa.cast(sa.null(), outbox.c.attempts.type).label("attempts"),
        sa.cast(sa.null(), outbox.c.last_error.type).label("last_error"),
        sa.cast(sa.null(), outbox.c.next_attempt_at.type).label("next_attempt_at"),
    ).where(inbound.c.workspace_id == ws, inbound.c.message_id.in_(received))
    query: sa.Select[Any] | sa.CompoundSelect[Any] = came
    if replies:
        went = sa.select(
            sa.literal_column("1"),
            outbox.c.message_id,
            outbox.c.id,
            outbox.c.recipients,
            outbox.c.state,
            outbox.c.attempts,
            outbox.c.last_error,
            outbox.c.next_attempt_at,
        ).where(outbox.c.workspace_id == ws, outbox.c.kind == "reply", outbox.c.message_id.in_(replies))
        query = sa.union_all(came, went)
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def access_original(
    conn: AsyncConnection, actor: Principal, ticket_id: int, message_id: int
) -> dict[str, Any]:
    """The inbound mail (``id``, ``raw_sha256``) of a message on a ticket ``actor`` may see, by the
    tickets' visibility rules: 404 otherwise, like a message that does not exist."""
    if not actor.is_staff:
        raise NotFound("no such email")
    await ticket_queries.access_ticket(conn, actor, ticket_id)
    row = (
        (
            await conn.execute(
                sa.select(inbound.c.id, inbound.c.raw_sha256)
                .join(messages, messages.c.id == inbound.c.message_id)
                .where(
                    inbound.c.message_id == message_id,
                    inbound.c.workspace_id == actor.workspace_id,
                    messages.c.ticket_id == ticket_id,
                )
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound("no such email")
    return dict(row)


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


async def mailbox_overview(conn: AsyncConnection, actor: Principal) -> list[dict[str, Any]]:
    """The workspace's mailboxes (as :func:`list_mailboxes`), each with ``health`` (see
    :func:`~helpline.domains.channels.email.health.mailbox_health`; ``None`` for an inactive mailbox)
    and ``failed``: how many of its messages are on the failed-mail list now, however old."""
    items = await list_mailboxes(conn, actor)
    if not items:
        return items
    health = {h["id"]: h for h in await mailbox_health(conn, actor.workspace_id)}
    rows = await conn.execute(
        sa.select(inbound.c.mailbox_id, sa.func.count().label("n"))
        .where(inbound.c.workspace_id == actor.workspace_id, inbound.c.state == "failed")
        .group_by(inbound.c.mailbox_id)
    )
    failed: dict[int, int] = {r.mailbox_id: r.n for r in rows}
    for item in items:
        item["health"] = health.get(item["id"])
        item["failed"] = failed.get(item["id"], 0)
    return items
