"""Inbound mail written as a run: new tickets and replies.

What each message is — a new ticket, or a reply to a ticket — is decided one message at a time
(``process``); what that takes — contacts for unknown senders and copied addresses, the tickets and
messages, events, attachments, the thread and Message-ID rows, the acknowledgements — is written
here for a run of such messages at once, a statement per table whatever the run's length. A single
message is a run of one: there is no second way of making a ticket or a reply from mail.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from helpline.db.base import utcnow
from helpline.domains.accounts.models import Membership, User
from helpline.domains.channels.email import loops, outbound
from helpline.domains.channels.email.models import AddressStatus, EmailMessageId, EmailThread
from helpline.domains.channels.email.parse import ParsedMail
from helpline.domains.customers import service as customers
from helpline.domains.tickets import service as tickets
from helpline.platform.db import UnitOfWork

if TYPE_CHECKING:
    from helpline.platform.runtime import Platform

CHANNEL = "email"
MAX_CCS = 50

threads = EmailThread.__table__
ids_t = EmailMessageId.__table__
status_t = AddressStatus.__table__
users = User.__table__
members = Membership.__table__


@dataclass
class Incoming:
    """A stored message, parsed and rendered, with its inbound row and mailbox."""

    row: dict[str, Any]  # its email_inbound row
    mailbox: dict[str, Any]
    mail: ParsedMail
    files: list[dict[str, Any]]
    body: tuple[str, str]  # (text, safe html)

    @property
    def ws(self) -> int:
        return int(self.mailbox["workspace_id"])

    @property
    def envelope_from(self) -> str | None:
        """The SMTP envelope sender, for mail our own receiver took (else not known)."""
        return self.row["envelope_from"] if self.row["source"] == "smtp" else None


@dataclass
class NewMail(Incoming):
    """A message that starts a ticket, with what was decided about it."""

    sender: str  # normalised From (or envelope sender)
    cc_addresses: list[str]  # everyone else it was sent to, our own addresses left out
    verdict: loops.Verdict

    @property
    def outcome(self) -> tuple[str, str]:
        return "new_ticket", self.verdict.why


@dataclass
class ReplyMail(Incoming):
    """A message that continues a ticket."""

    sender: str
    contact_id: int
    ticket: dict[str, Any]  # as read when deciding
    how: str  # what threaded it: message-id | reply-to | known-id | subject

    @property
    def outcome(self) -> tuple[str, str]:
        return "reply", f"threaded by {self.how}"


Item = NewMail | ReplyMail


@dataclass
class Written:
    ticket_id: int
    message_id: int


async def write(
    platform: Platform, uow: UnitOfWork, items: list[Item], known: dict[str, int]
) -> tuple[list[Written], dict[str, int]]:
    """``items`` (one workspace; at most one reply per ticket, none to a ticket of the run), in
    order, and the contacts this created by address.

    ``known`` maps addresses to the workspace's contacts as far as the caller knows them; addresses
    missing from it are looked up first. An address another transaction created meanwhile raises
    ``IntegrityError``: the caller writes the run again one message at a time."""
    ws = int(items[0].mailbox["workspace_id"])
    new = [i for i in items if isinstance(i, NewMail)]
    replies = [i for i in items if isinstance(i, ReplyMail)]
    wanted: dict[str, str] = {}
    for item in new:
        wanted.setdefault(item.sender, item.mail.from_name)
        for address in item.cc_addresses[:MAX_CCS]:
            wanted.setdefault(address, "")
    unknown = [a for a in wanted if a not in known]
    found = await customers.contacts_by_emails(uow, ws, unknown) if unknown else {}
    learned = found | await customers.create_email_contacts(
        uow, ws, {a: wanted[a] for a in unknown if a not in found}
    )
    contact = known | learned
    made = await tickets.create_tickets_from_contacts(
        uow,
        platform.pubsub,
        ws,
        [
            tickets.NewTicket(
                contact_id=contact[item.sender],
                subject=item.mail.subject,
                body_text=item.body[0],
                body_html=item.body[1],
                channel=CHANNEL,
                group_id=item.mailbox["group_id"],
                cc_contact_ids=[contact[a] for a in item.cc_addresses[:MAX_CCS]],
            )
            for item in new
        ],
    )
    answered = await tickets.add_customer_messages(
        uow,
        platform.pubsub,
        [tickets.CustomerMessage(r.ticket, r.contact_id, r.body[0], r.body[1], CHANNEL) for r in replies],
    )
    written: dict[int, Written] = {}
    for item, (ticket_id, message_id, _) in zip(new, made, strict=True):
        written[id(item)] = Written(ticket_id, message_id)
    for reply, message_id in zip(replies, answered, strict=True):
        written[id(reply)] = Written(int(reply.ticket["id"]), message_id)
    out = [written[id(i)] for i in items]
    await tickets.attach_files_many(
        uow, ws, [(w.message_id, i.files) for i, w in zip(items, out, strict=True)]
    )
    for group, fresh in ((new, True), (replies, False)):
        if group:
            await remember_threads(
                uow,
                ws,
                [(written[id(i)].ticket_id, int(i.mailbox["id"]), i.mail.message_id) for i in group],
                new_tickets=fresh,
            )
    for item, (ticket_id, _, number) in zip(new, made, strict=True):
        await _maybe_ack(platform, uow, item, ticket_id, number)
    return out, learned


async def remember_threads(
    uow: UnitOfWork, ws: int, rows: list[tuple[int, int, str]], *, new_tickets: bool
) -> None:
    """Each ``(ticket id, mailbox id, RFC Message-ID or "")``: the ticket's mail thread (which mailbox
    answers it) and the message's id, so that replies quoting it find the ticket."""
    ins = postgresql.insert if uow.dialect == "postgresql" else sqlite.insert
    thread_rows = [{"ticket_id": t, "mailbox_id": m, "workspace_id": ws} for t, m, _ in rows]
    if new_tickets:
        await uow.execute(threads.insert(), thread_rows)
    else:
        await uow.execute(ins(threads).on_conflict_do_nothing(index_elements=["ticket_id"]), thread_rows)
    now = utcnow()
    id_rows = [
        {"workspace_id": ws, "rfc_id": rfc_id[:255], "ticket_id": t, "outgoing": False, "created_at": now}
        for t, _, rfc_id in rows
        if rfc_id
    ]
    if id_rows:
        await uow.execute(
            ins(ids_t).on_conflict_do_nothing(index_elements=["workspace_id", "rfc_id"]), id_rows
        )


async def _is_staff(uow: UnitOfWork, workspace_id: int, address: str) -> bool:
    row = (
        await uow.execute(
            sa.select(members.c.role)
            .join(users, users.c.id == members.c.user_id)
            .where(members.c.workspace_id == workspace_id, users.c.email == address)
        )
    ).first()
    return row is not None and row[0] != "customer"


async def _maybe_ack(platform: Platform, uow: UnitOfWork, item: NewMail, ticket_id: int, number: int) -> None:
    """The mailbox's acknowledgement, unless the mail is automatic, the sender is one of us, bounced
    before, or was acknowledged too often lately. It never quotes what the sender wrote."""
    mailbox, sender = item.mailbox, item.sender
    if not mailbox["auto_ack"] or item.verdict.automatic:
        return
    if await _is_staff(uow, mailbox["workspace_id"], sender):
        return
    bounced = (
        await uow.execute(
            sa.select(status_t.c.bounces).where(
                status_t.c.workspace_id == mailbox["workspace_id"], status_t.c.address == sender
            )
        )
    ).scalar()
    if bounced:
        return
    if (
        await outbound.recent_acks(uow, mailbox["workspace_id"], sender)
        >= platform.settings.email_auto_acks_per_sender_per_hour
    ):
        return
    await outbound.queue_auto_ack(
        platform,
        uow,
        mailbox,
        ticket_id=ticket_id,
        number=number,
        to=sender,
        in_reply_to=item.mail.message_id,
        subject=item.mail.subject,
    )
