"""Delivery status notifications: mark the addresses that failed and note it on the ticket the
bounce concerns; a bounce never starts a ticket.

Anyone can send a message that looks like a bounce, so a report counts only for mail we really
sent: one of its ids (the returned message's Message-ID, its ``Original-Envelope-Id``, its own
In-Reply-To or References) must be the Message-ID of an email this workspace sent, and only that
email's recipients it was sent to may be marked. Our envelope sender is the mailbox address itself
(no VERP), so the Message-ID is the only link from a report to our mail. A report that names
nothing of ours is recorded (outcome ``bounce``, with why) and changes nothing.
"""

from __future__ import annotations

import html as htmllib
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from helpline.db.base import utcnow
from helpline.domains.channels.email import outbound
from helpline.domains.channels.email.models import AddressStatus, EmailMessageId, OutboundMail
from helpline.domains.channels.email.parse import ParsedMail
from helpline.domains.channels.email.runs import CHANNEL
from helpline.domains.tickets import service as tickets
from helpline.platform.db import UnitOfWork

if TYPE_CHECKING:
    from helpline.platform.runtime import Platform

status_t = AddressStatus.__table__
ids_t = EmailMessageId.__table__
outbox = OutboundMail.__table__

#: The addresses of one report looked at, at most: more than an email of ours goes to (a requester
#: and up to ``runs.MAX_CCS`` copies). Only those the reported email went to are ever marked.
MAX_ADDRESSES = 100


async def handle(
    platform: Platform, uow: UnitOfWork, ws: int, mail: ParsedMail, why: str
) -> tuple[str, int | None, int | None, str]:
    """A delivery report received by workspace ``ws``: (outcome, ticket id, note id, reason). When
    one of its ids names an email ``ws`` sent, the recipients that email went to and the report says
    failed are marked bounced (counted, and on the email's delivery state) and noted on its ticket;
    any other report marks nothing. Never a new ticket."""
    dsn = mail.dsn or {}
    failed = [a for a in dsn.get("failed", []) if "@" in a][:MAX_ADDRESSES]
    sent = await _reported_mail(uow, ws, _reported_ids(mail))
    if sent is None:
        return "bounce", None, None, f"bounce for {_names(failed)}: not about mail we sent; nothing marked"
    hit = [a for a in failed if (sent["recipients"] or {}).get(a) == "sent"]
    if not hit:
        return (
            "bounce",
            None,
            None,
            f"bounce for {_names(failed)}: none of them received our email {sent['id']}; nothing marked",
        )
    note = (
        f"Email could not be delivered to {', '.join(hit)}"
        f" ({dsn.get('status') or 'no status'}): {htmllib.unescape(dsn.get('diagnostic') or why)}"
    )
    await _count_bounces(uow, ws, hit, (dsn.get("diagnostic") or dsn.get("status") or why)[:1000])
    await outbound.mark_bounced(uow, int(sent["id"]), sent["recipients"], hit, note[:500])
    ticket = await _ticket(uow, ws, sent["ticket_id"])
    if ticket is None:
        return "bounce", None, None, note[:500]
    message_id = await tickets.add_system_note(
        uow, platform.pubsub, ticket, text=note[:2000], channel=CHANNEL
    )
    return "bounce", int(ticket["id"]), message_id, note[:500]


def _names(addresses: list[str]) -> str:
    shown = ", ".join(addresses[:5]) or "unknown recipients"
    return shown + (f" and {len(addresses) - 5} more" if len(addresses) > 5 else "")


def _reported_ids(mail: ParsedMail) -> list[str]:
    """The ids a report gives for the message it reports on, the surest first."""
    dsn = mail.dsn or {}
    found = [dsn.get("original_message_id", ""), dsn.get("envelope_id", ""), *mail.in_reply_to]
    return list(dict.fromkeys(i[:255] for i in [*found, *mail.references] if i))[:50]


async def _reported_mail(uow: UnitOfWork, ws: int, rfc_ids: list[str]) -> dict[str, Any] | None:
    """The email ``ws`` sent under the first of ``rfc_ids`` that is one of its own (locked: two
    reports on one email each keep the other's marks), or None."""
    if not rfc_ids:
        return None
    # email_message_ids is keyed by (workspace, id) and leads to the ticket, whose emails are indexed.
    ours = sa.select(ids_t.c.ticket_id).where(
        ids_t.c.workspace_id == ws, ids_t.c.rfc_id.in_(rfc_ids), ids_t.c.outgoing.is_(True)
    )
    rows = (
        (
            await uow.execute(
                sa.select(outbox.c.id, outbox.c.ticket_id, outbox.c.rfc_message_id, outbox.c.recipients)
                .where(
                    outbox.c.workspace_id == ws,
                    outbox.c.ticket_id.in_(ours),
                    outbox.c.rfc_message_id.in_(rfc_ids),
                )
                .with_for_update()
            )
        )
        .mappings()
        .all()
    )
    by_id = {r["rfc_message_id"]: dict(r) for r in rows}
    return next((by_id[i] for i in rfc_ids if i in by_id), None)


async def _count_bounces(uow: UnitOfWork, ws: int, addresses: list[str], reason: str) -> None:
    """One more bounce for each address: later replies skip them (``outbound``)."""
    now = utcnow()
    ins = (postgresql.insert if uow.dialect == "postgresql" else sqlite.insert)(status_t)
    stmt = ins.values(
        [
            {"workspace_id": ws, "address": a, "bounces": 1, "last_reason": reason, "updated_at": now}
            for a in addresses
        ]
    )
    await uow.execute(
        stmt.on_conflict_do_update(
            index_elements=["workspace_id", "address"],
            set_={
                "bounces": status_t.c.bounces + 1,
                "last_reason": stmt.excluded.last_reason,
                "updated_at": stmt.excluded.updated_at,
            },
        )
    )


async def _ticket(uow: UnitOfWork, ws: int, ticket_id: int | None) -> dict[str, Any] | None:
    if ticket_id is None:
        return None
    row = (
        (
            await uow.execute(
                sa.select(tickets.tickets).where(
                    tickets.tickets.c.id == ticket_id, tickets.tickets.c.workspace_id == ws
                )
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row is not None else None
