"""Background work of the tickets domain: search indexing and agent notifications."""

from __future__ import annotations

from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from helpline.domains.accounts.models import User
from helpline.domains.tickets.models import Message, Ticket
from helpline.platform import search
from helpline.platform.jobs import job_handler

if TYPE_CHECKING:
    from helpline.platform.runtime import Platform

users = User.__table__
tickets = Ticket.__table__
messages = Message.__table__


@job_handler("search.index")
async def index(platform: Platform, batch: list[dict[str, Any]]) -> None:
    async with platform.db.transaction() as uow:
        await search.index_tickets(uow, [int(a["ticket_id"]) for a in batch])


async def mail_staff(
    platform: Platform, ticket_id: int, user_id: int, subject: str, lines: list[str]
) -> None:
    async with platform.db.read() as conn:
        user = (
            await conn.execute(sa.select(users.c.email, users.c.name).where(users.c.id == user_id))
        ).first()
        ticket = (
            await conn.execute(
                sa.select(tickets.c.number, tickets.c.subject).where(tickets.c.id == ticket_id)
            )
        ).first()
    if user is None or ticket is None:
        return  # gone since: nothing to say
    msg = EmailMessage()
    msg["From"] = platform.settings.mail_from
    msg["To"] = user.email
    msg["Subject"] = f"[#{ticket.number}] {subject}: {ticket.subject}"
    link = f"{platform.settings.base_url.rstrip('/')}/tickets/{ticket_id}"
    msg.set_content("\n".join([f"Hello {user.name},", "", *lines, "", link]))
    await platform.mail.send(msg)


@job_handler("notify.assigned")
async def notify_assigned(platform: Platform, batch: list[dict[str, Any]]) -> None:
    for args in batch:
        await mail_staff(
            platform,
            int(args["ticket_id"]),
            int(args["user_id"]),
            "Assigned to you",
            ["A ticket was assigned to you."],
        )


@job_handler("notify.customer_reply")
async def notify_customer_reply(platform: Platform, batch: list[dict[str, Any]]) -> None:
    for args in batch:
        async with platform.db.read() as conn:
            body = (
                await conn.execute(
                    sa.select(messages.c.body_text).where(messages.c.id == int(args["message_id"]))
                )
            ).scalar()
        await mail_staff(
            platform,
            int(args["ticket_id"]),
            int(args["user_id"]),
            "Customer replied",
            ["The customer replied:", "", (body or "")[:2000]],
        )


@job_handler("notify.mentioned")
async def notify_mentioned(platform: Platform, batch: list[dict[str, Any]]) -> None:
    """A colleague @mentioned the user in an internal note (``service.notify_mentions``)."""
    for args in batch:
        async with platform.db.read() as conn:
            body = (
                await conn.execute(
                    sa.select(messages.c.body_text).where(messages.c.id == int(args["message_id"]))
                )
            ).scalar()
        by = str(args.get("by") or "A colleague")
        await mail_staff(
            platform,
            int(args["ticket_id"]),
            int(args["user_id"]),
            f"{by} mentioned you",
            [f"{by} mentioned you in an internal note:", "", (body or "")[:2000]],
        )


@job_handler("tickets.snooze_wake")
async def snooze_wake(platform: Platform, batch: list[dict[str, Any]]) -> None:
    """Snoozed tickets whose time has come go back to the open views (``service._snooze``)."""
    from helpline.domains.tickets.service import after_change, wake_due

    async with platform.db.transaction() as uow:
        woke = await wake_due(uow, sorted({int(a["ticket_id"]) for a in batch}))
        if woke:
            rows = await uow.execute(
                sa.select(tickets.c.id, tickets.c.workspace_id).where(tickets.c.id.in_(woke))
            )
            for r in rows:
                after_change(uow, platform.pubsub, int(r.workspace_id), int(r.id), "unsnoozed")
