"""Which ticket an inbound message belongs to, and the signed tokens that make that safe.

Our outgoing Message-IDs and the plus-addressed Reply-To carry the ticket id signed with the
install's secret key (HMAC-SHA256, truncated): a reply that quotes them threads onto that ticket, a
forged or altered token is ignored. Other evidence counts only when the sender is already a
participant of the ticket: a Message-ID of theirs we stored, or the ticket number in the subject.
Nothing here ever decides who wrote a message: every inbound message is a customer's.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.domains.channels.email.models import EmailMessageId
from helpline.domains.channels.email.parse import ParsedMail
from helpline.domains.customers.models import ContactIdentity
from helpline.domains.tickets import lifecycle
from helpline.domains.tickets.models import Message, Ticket, TicketCC

tickets = Ticket.__table__
ids_t = EmailMessageId.__table__
identities = ContactIdentity.__table__
ccs = TicketCC.__table__
messages = Message.__table__

_SIG_LEN = 16
_OUR_ID = re.compile(r"^hl\.(\d{1,18})\.([a-z0-9]{1,24})\.([0-9a-f]{16})@", re.I)
_PLUS = re.compile(r"^[^@+]+\+hl(\d{1,18})-([0-9a-f]{16})@", re.I)
_SUBJECT_NUMBER = re.compile(r"\[#(\d{1,18})\]|(?:ticket|request|#)\s*#?(\d{1,18})\b", re.I)


def _sign(secret: str, text: str) -> str:
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()[:_SIG_LEN]


def make_message_id(
    secret: str, workspace_id: int, ticket_id: int, domain: str, ref: str | None = None
) -> str:
    """A Message-ID (without brackets) naming ``ticket_id``, signed; ``ref`` keeps each one unique."""
    ref = (ref or secrets.token_hex(6)).lower()
    sig = _sign(secret, f"mid:{workspace_id}:{ticket_id}:{ref}")
    return f"hl.{ticket_id}.{ref}.{sig}@{domain or 'helpline.invalid'}"


def verify_message_id(secret: str, workspace_id: int, rfc_id: str) -> int | None:
    m = _OUR_ID.match(rfc_id)
    if m is None:
        return None
    ticket_id, ref, sig = int(m.group(1)), m.group(2).lower(), m.group(3).lower()
    return (
        ticket_id
        if hmac.compare_digest(sig, _sign(secret, f"mid:{workspace_id}:{ticket_id}:{ref}"))
        else None
    )


def reply_address(secret: str, workspace_id: int, ticket_id: int, mailbox_address: str) -> str:
    local, _, domain = mailbox_address.partition("@")
    return f"{local}+hl{ticket_id}-{_sign(secret, f'rt:{workspace_id}:{ticket_id}')}@{domain}"


def verify_reply_address(secret: str, workspace_id: int, address: str) -> int | None:
    m = _PLUS.match(address)
    if m is None:
        return None
    ticket_id, sig = int(m.group(1)), m.group(2).lower()
    return ticket_id if hmac.compare_digest(sig, _sign(secret, f"rt:{workspace_id}:{ticket_id}")) else None


def base_address(address: str) -> str:
    """``support+anything@x`` → ``support@x``."""
    local, _, domain = address.partition("@")
    return f"{local.split('+', 1)[0]}@{domain}".lower()


@dataclass
class Thread:
    ticket: dict[str, Any]
    how: str  # message-id | reply-to | known-id | subject


async def _live_ticket(conn: AsyncConnection, workspace_id: int, ticket_id: int) -> dict[str, Any] | None:
    """The ticket (following merges), or None when it is gone, another workspace's, or closed."""
    for _ in range(10):
        row = (
            (
                await conn.execute(
                    sa.select(tickets).where(
                        tickets.c.id == ticket_id, tickets.c.workspace_id == workspace_id
                    )
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        if row["merged_into_id"] is None:
            # A customer does not write on a closed ticket: their mail starts a new one.
            return dict(row) if lifecycle.customer_may_write(row["status"]) else None
        ticket_id = row["merged_into_id"]
    return None


async def is_participant(conn: AsyncConnection, ticket: dict[str, Any], contact_id: int | None) -> bool:
    """The contact requested the ticket, is copied on it, or wrote in it."""
    if contact_id is None:
        return False
    if ticket["requester_id"] == contact_id:
        return True
    found = (
        await conn.execute(
            sa.select(ccs.c.contact_id).where(ccs.c.ticket_id == ticket["id"], ccs.c.contact_id == contact_id)
        )
    ).first()
    if found:
        return True
    wrote = (
        await conn.execute(
            sa.select(messages.c.id)
            .where(messages.c.ticket_id == ticket["id"], messages.c.author_contact_id == contact_id)
            .limit(1)
        )
    ).first()
    return wrote is not None


def has_evidence(mail: ParsedMail, recipients: list[str]) -> bool:
    """Whether :func:`find_thread` has anything to look at: ids it references, a reply address of
    ours among the recipients, or a ticket number in the subject. Without any, mail starts a ticket
    whoever sent it, and nothing need be read to know it."""
    return bool(
        mail.in_reply_to
        or mail.references
        or any(_PLUS.match(a) for a in recipients)
        or _SUBJECT_NUMBER.search(mail.subject)
    )


async def find_thread(
    conn: AsyncConnection,
    secret: str,
    workspace_id: int,
    mail: ParsedMail,
    recipients: list[str],
    contact_id: int | None,
) -> Thread | None:
    """The ticket ``mail`` continues, or None for a new ticket. ``contact_id`` is the sender's
    existing contact (None when the sender is new, who then participates in nothing)."""
    referenced = [*reversed(mail.in_reply_to), *reversed(mail.references)]
    for rfc_id in referenced:
        tid = verify_message_id(secret, workspace_id, rfc_id)
        if tid is not None and (t := await _live_ticket(conn, workspace_id, tid)) is not None:
            return Thread(t, "message-id")
    for address in recipients:
        tid = verify_reply_address(secret, workspace_id, address)
        if tid is not None and (t := await _live_ticket(conn, workspace_id, tid)) is not None:
            return Thread(t, "reply-to")
    if contact_id is None:
        return None
    if referenced:
        rows = (
            await conn.execute(
                sa.select(ids_t.c.ticket_id).where(
                    ids_t.c.workspace_id == workspace_id, ids_t.c.rfc_id.in_(referenced[:50])
                )
            )
        ).all()
        for row in rows:
            t = await _live_ticket(conn, workspace_id, int(row[0]))
            if t is not None and await is_participant(conn, t, contact_id):
                return Thread(t, "known-id")
    for m in _SUBJECT_NUMBER.finditer(mail.subject):
        number = int(m.group(1) or m.group(2))
        tid = (
            await conn.execute(
                sa.select(tickets.c.id).where(
                    tickets.c.workspace_id == workspace_id, tickets.c.number == number
                )
            )
        ).scalar()
        if tid is not None:
            t = await _live_ticket(conn, workspace_id, tid)
            if t is not None and await is_participant(conn, t, contact_id):
                return Thread(t, "subject")
    return None
