"""Background work of the chat channel: the transcript emailed to the customer when a chat ends.

With an active mailbox serving the chat's ticket (``routing.end`` hands the ticket to the email
channel), the transcript goes out through the email channel's outbox, from that mailbox: the
ticket's signed Reply-To and a Message-ID of ours naming the ticket, so the customer's reply threads
back onto the same ticket, with its delivery state on the ticket like any reply. Without one, it is
sent from ``HELPLINE_MAIL_FROM`` through the platform's mail transport; it still carries a Message-ID
of ours, but nothing reads the address it comes from, so the mail asks the customer to start a new
chat rather than to reply.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from helpline.domains.accounts.models import Workspace
from helpline.domains.channels.chat.models import ChatMessage, ChatSession
from helpline.domains.channels.email import outbound, threading
from helpline.domains.channels.email.models import EmailThread, Mailbox
from helpline.domains.customers.models import Contact, ContactIdentity
from helpline.domains.tickets.models import Message, Ticket
from helpline.platform.jobs import job_handler

if TYPE_CHECKING:
    from helpline.platform.runtime import Platform

sessions, chat_messages = ChatSession.__table__, ChatMessage.__table__
messages, tickets, contacts = Message.__table__, Ticket.__table__, Contact.__table__
identities, workspaces = ContactIdentity.__table__, Workspace.__table__
threads, mailboxes = EmailThread.__table__, Mailbox.__table__

BY_EMAIL = "To follow up, reply to this email."
NO_REPLIES = "Replies to this email do not reach us: to follow up, start a new chat on our website."


@dataclass
class Transcript:
    workspace_id: int
    ticket_id: int
    to: str
    subject: str
    body: str
    #: The active mailbox that serves the ticket, if any: the transcript goes out through it.
    mailbox: dict[str, Any] | None


async def transcript(platform: Platform, session_id: int) -> Transcript | None:
    """The transcript of a chat (public messages only), or None when the customer has no email."""
    async with platform.db.read() as conn:
        s = (
            await conn.execute(
                sa.select(
                    sessions.c.workspace_id,
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
        to = (
            await conn.execute(
                sa.select(identities.c.value)
                .where(identities.c.contact_id == s.requester_id, identities.c.kind == "email")
                .order_by(identities.c.is_primary.desc(), identities.c.id)
                .limit(1)
            )
        ).scalar()
        if not to:
            return None
        box = (
            (
                await conn.execute(
                    sa.select(mailboxes)
                    .join(threads, threads.c.mailbox_id == mailboxes.c.id)
                    .where(threads.c.ticket_id == s.ticket_id, mailboxes.c.active.is_(True))
                )
            )
            .mappings()
            .first()
        )
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
    lines += [BY_EMAIL if box is not None else NO_REPLIES]
    return Transcript(
        workspace_id=int(s.workspace_id),
        ticket_id=int(s.ticket_id),
        to=str(to),
        subject=f"Your chat with {s.name} [#{s.number}]",
        body="\n".join(lines),
        mailbox=dict(box) if box is not None else None,
    )


def plain_mail(platform: Platform, t: Transcript, session_id: int) -> EmailMessage:
    """The transcript as the platform's mail transport sends it (no mailbox serves the ticket)."""
    sender = platform.settings.mail_from
    domain = email.utils.parseaddr(sender)[1].rpartition("@")[2]
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = t.to
    msg["Subject"] = t.subject
    msg["Message-ID"] = "<{}>".format(
        threading.make_message_id(
            platform.settings.ensure_secret_key(), t.workspace_id, t.ticket_id, domain, ref=f"t{session_id}"
        )
    )
    msg["Date"] = email.utils.formatdate(usegmt=True)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(t.body)
    return msg


@job_handler("chat.transcript")
async def send_transcripts(platform: Platform, batch: list[dict[str, Any]]) -> None:
    for args in batch:
        session_id = int(args["session_id"])
        t = await transcript(platform, session_id)
        if t is None:
            continue
        if t.mailbox is None:
            await platform.mail.send(plain_mail(platform, t, session_id))
            continue
        async with platform.db.transaction() as uow:  # sent by the email channel's send job
            await outbound.queue_transcript(
                platform,
                uow,
                t.mailbox,
                ticket_id=t.ticket_id,
                to=t.to,
                subject=t.subject,
                body=t.body,
                ref=f"t{session_id}",
            )
