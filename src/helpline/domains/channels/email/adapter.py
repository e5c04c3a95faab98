"""The email channel behind the tickets domain's port (``tickets.channel_port``).

A ticket is held by the email channel when it has an email thread (``email_threads``: a mailbox
serves it, because its first message came by mail, a chat went on by email, or the offline form
made it). An agent's public message on such a ticket is queued in the outbox in the writer's
transaction (``outbound.queue_reply``): the ``email.send`` job sends it after the commit, and a
rolled-back write leaves no mail. Internal notes never leave; a chat's lines never reach here
while its chat takes them (the chat adapter is asked first).

On the ticket page it adds what each message says about its mail (``ticket_page_views.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.domains.channels.email import outbound, ticket_page_views
from helpline.domains.channels.email.models import EmailThread
from helpline.domains.tickets.channel_port import PageParts, Part, StaffMessage, TicketPage
from helpline.platform.db import UnitOfWork

if TYPE_CHECKING:
    from helpline.platform.runtime import Platform

threads = EmailThread.__table__


class EmailAdapter:
    """The email channel's port, bound to its platform (its secret signs our Message-IDs)."""

    name = "email"

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    async def staff_message(self, uow: UnitOfWork, ticket: dict[str, Any], message: StaffMessage) -> bool:
        if not message.public:
            return False
        mailbox_id = (
            await uow.execute(sa.select(threads.c.mailbox_id).where(threads.c.ticket_id == message.ticket_id))
        ).scalar()
        if mailbox_id is None:
            return False
        await outbound.queue_reply(self.platform, uow, message.id, ticket, int(mailbox_id))
        return True

    async def page_parts(self, conn: AsyncConnection, page: TicketPage) -> PageParts | None:
        facts = await ticket_page_views.message_facts(conn, page.actor, page.messages)
        if not facts:
            return None
        parts = PageParts()
        wanted = page.query.get("images", "")
        if wanted.isascii() and wanted.isdigit() and len(wanted) <= 19 and int(wanted):
            parts.headers.update(ticket_page_views.show_images(page.messages, facts, int(wanted)) or {})
        for message_id, mail in facts.items():
            if mail.get("auth"):
                parts.above[message_id] = [Part("email/_message_auth.html", mail)]
            if mail.get("delivery"):
                parts.via[message_id] = "email"
            if mail.get("remote_images") or mail.get("inbound_id") or mail.get("delivery"):
                parts.below[message_id] = [Part("email/_message_tools.html", mail)]
        return parts
