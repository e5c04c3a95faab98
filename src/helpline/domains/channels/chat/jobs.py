"""Background work of the chat channel: the transcript emailed to the customer when a chat ends."""

from __future__ import annotations

from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from helpline.domains.accounts.models import Workspace
from helpline.domains.channels.chat.models import ChatMessage, ChatSession
from helpline.domains.customers.models import Contact, ContactIdentity
from helpline.domains.tickets.models import Message, Ticket
from helpline.platform.jobs import job_handler

if TYPE_CHECKING:
    from helpline.platform.runtime import Platform

sessions, chat_messages = ChatSession.__table__, ChatMessage.__table__
messages, tickets, contacts = Message.__table__, Ticket.__table__, Contact.__table__
identities, workspaces = ContactIdentity.__table__, Workspace.__table__


async def transcript(platform: Platform, session_id: int) -> EmailMessage | None:
    """The transcript mail of a chat (public messages only), or None when the customer has no email."""
    async with platform.db.read() as conn:
        s = (
            await conn.execute(
                sa.select(
                    sessions.c.ticket_id,
                    tickets.c.number,
                    tickets.c.requester_id,
                    workspaces.c.name,
                    contacts.c.name.label("contact"),
                )
                .join(tickets, tickets.c.id == sessions.c.ticket_id)
                .join(workspaces, workspaces.c.id == sessions.c.workspace_id)
                .join(contacts, contacts.c.id == tickets.c.requester_id)
                .where(sessions.c.id == session_id)
            )
        ).first()
        if s is None:
            return None
        email = (
            await conn.execute(
                sa.select(identities.c.value)
                .where(identities.c.contact_id == s.requester_id, identities.c.kind == "email")
                .order_by(identities.c.is_primary.desc(), identities.c.id)
                .limit(1)
            )
        ).scalar()
        if not email:
            return None
        rows = (
            await conn.execute(
                sa.select(messages.c.author_kind, messages.c.body_text, messages.c.created_at)
                .join(chat_messages, chat_messages.c.message_id == messages.c.id)
                .where(chat_messages.c.ticket_id == s.ticket_id, chat_messages.c.public.is_(True))
                .order_by(chat_messages.c.pseq)
            )
        ).all()
    lines = [f"Hello {s.contact or ''},".replace(" ,", ","), "", f"Here is your chat with {s.name}:", ""]
    for kind, body, at in rows:
        who = "You" if kind == "customer" else s.name
        lines += [f"[{at:%Y-%m-%d %H:%M} UTC] {who}:", str(body), ""]
    lines += ["To follow up, reply to this email."]
    msg = EmailMessage()
    msg["From"] = platform.settings.mail_from
    msg["To"] = email
    msg["Subject"] = f"Your chat with {s.name} [#{s.number}]"
    msg.set_content("\n".join(lines))
    return msg


@job_handler("chat.transcript")
async def send_transcripts(platform: Platform, batch: list[dict[str, Any]]) -> None:
    for args in batch:
        msg = await transcript(platform, int(args["session_id"]))
        if msg is not None:
            await platform.mail.send(msg)
