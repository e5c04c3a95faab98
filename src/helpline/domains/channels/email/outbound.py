"""The outbox: agent replies going out as email, acknowledgements, chat transcripts, and delivery
state.

An agent's public message on a ticket served by a mailbox becomes one ``email_outbound`` row and an
``email.send`` job in the transaction that writes the message: the tickets service tells the
channels (``tickets.channel_port``) and the email adapter (``adapter.py``) calls
:func:`queue_reply`. So the mail exists exactly when the message commits, and nothing reads
``messages`` afterwards looking for replies; the unique ``message_id`` keeps it to one row.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from helpline.db.base import utcnow
from helpline.domains.channels.email import threading
from helpline.domains.channels.email.mailboxes import own_addresses
from helpline.domains.channels.email.models import (
    AddressStatus,
    EmailMessageId,
    EmailThread,
    Mailbox,
    OutboundMail,
    OutboundState,
)
from helpline.domains.customers.models import ContactIdentity
from helpline.domains.tickets import queries as ticket_queries
from helpline.domains.tickets.models import TicketCC
from helpline.errors import Conflict, Forbidden, NotFound
from helpline.platform import jobs
from helpline.platform.db import UnitOfWork

if TYPE_CHECKING:
    from helpline.domains.accounts.principal import Principal
    from helpline.platform.runtime import Platform


outbox = OutboundMail.__table__
threads = EmailThread.__table__
ids_t = EmailMessageId.__table__
status_t = AddressStatus.__table__
mailboxes = Mailbox.__table__
ccs = TicketCC.__table__
identities = ContactIdentity.__table__


def domain_of(mailbox: dict[str, Any]) -> str:
    return str(mailbox["address"]).rsplit("@", 1)[-1]


async def _insert_outbound(platform: Platform, uow: UnitOfWork, values: dict[str, Any]) -> int | None:
    ins = postgresql.insert(outbox) if uow.dialect == "postgresql" else sqlite.insert(outbox)
    stmt: Any = ins.values(values)
    if values.get("message_id") is not None:
        stmt = stmt.on_conflict_do_nothing(index_elements=["message_id"])
    new_id = (await uow.execute(stmt.returning(outbox.c.id))).scalar()
    if new_id is None:
        return None
    await uow.execute(
        ids_t.insert().values(
            workspace_id=values["workspace_id"],
            rfc_id=values["rfc_message_id"],
            ticket_id=values["ticket_id"],
            outgoing=True,
            created_at=utcnow(),
        )
    )
    await jobs.enqueue(uow, "email.send", {"outbound_id": int(new_id)})
    return int(new_id)


async def recent_acks(uow: UnitOfWork, workspace_id: int, address: str) -> int:
    since = utcnow() - timedelta(hours=1)
    return int(
        (
            await uow.execute(
                sa.select(sa.func.count())
                .select_from(outbox)
                .where(
                    outbox.c.workspace_id == workspace_id,
                    outbox.c.kind == "auto_ack",
                    outbox.c.first_recipient == address,
                    outbox.c.created_at >= since,
                )
            )
        ).scalar_one()
    )


async def queue_auto_ack(
    platform: Platform,
    uow: UnitOfWork,
    mailbox: dict[str, Any],
    *,
    ticket_id: int,
    number: int,
    to: str,
    in_reply_to: str,
    subject: str,
) -> int | None:
    """Queue the mailbox's acknowledgement. Its text is the mailbox's template with the ticket number
    only: nothing the sender wrote (not even the subject) is echoed to an address nobody verified."""
    secret = platform.settings.ensure_secret_key()
    fill = {"number": str(number), "mailbox": mailbox["name"]}
    subj = _fill(mailbox["auto_ack_subject"] or "We received your request [#{number}]", fill)
    body = _fill(
        mailbox["auto_ack_body"]
        or (
            "Hello,\n\nThank you for writing to {mailbox}. Your request has been received and is number "
            "#{number}.\nTo add to it, reply to this email.\n"
        ),
        fill,
    )
    rfc = threading.make_message_id(secret, mailbox["workspace_id"], ticket_id, domain_of(mailbox))
    return await _insert_outbound(
        platform,
        uow,
        {
            "workspace_id": mailbox["workspace_id"],
            "mailbox_id": mailbox["id"],
            "ticket_id": ticket_id,
            "message_id": None,
            "kind": "auto_ack",
            "rfc_message_id": rfc,
            "first_recipient": to,
            "recipients": {to: "pending"},
            "payload": {"subject": subj, "body": body, "in_reply_to": in_reply_to},
            "state": OutboundState.queued.value,
            "attempts": 0,
            "created_at": utcnow(),
        },
    )


async def queue_transcript(
    platform: Platform,
    uow: UnitOfWork,
    mailbox: dict[str, Any],
    *,
    ticket_id: int,
    to: str,
    subject: str,
    body: str,
    ref: str,
) -> int | None:
    """Queue a chat's transcript to the customer, from ``mailbox`` and once per ``ref``. It goes out
    like a reply: the ticket's signed Reply-To and a Message-ID of ours naming the ticket, so the
    customer's answer threads back onto it. None when it was queued before, or ``to`` is one of the
    workspace's own addresses."""
    ws = int(mailbox["workspace_id"])
    rfc = threading.make_message_id(
        platform.settings.ensure_secret_key(), ws, ticket_id, domain_of(mailbox), ref=ref
    )
    queued = await uow.execute(
        sa.select(ids_t.c.ticket_id).where(ids_t.c.workspace_id == ws, ids_t.c.rfc_id == rfc)
    )
    if queued.first() is not None or to.lower() in await own_addresses(uow, ws):
        return None
    return await _insert_outbound(
        platform,
        uow,
        {
            "workspace_id": ws,
            "mailbox_id": mailbox["id"],
            "ticket_id": ticket_id,
            "message_id": None,
            "kind": "transcript",
            "rfc_message_id": rfc,
            "first_recipient": to,
            "recipients": {to: "pending"},
            "payload": {"subject": subject[:500], "body": body},
            "state": OutboundState.queued.value,
            "attempts": 0,
            "created_at": utcnow(),
        },
    )


def _fill(template: str, values: dict[str, str]) -> str:
    out = template
    for key, value in values.items():
        out = (
            out.replace("{" + key + "}", value)
            .replace("{{ " + key + " }}", value)
            .replace("{{" + key + "}}", value)
        )
    return out[:5000]


async def _primary_email(uow: UnitOfWork, contact_ids: list[int]) -> dict[int, str]:
    rows: Any = await uow.execute(
        sa.select(identities.c.contact_id, identities.c.value, identities.c.is_primary)
        .where(identities.c.contact_id.in_(contact_ids), identities.c.kind == "email")
        .order_by(identities.c.is_primary.desc(), identities.c.id)
    )
    found: dict[int, str] = {}
    for cid, value, _primary in rows:
        found.setdefault(int(cid), str(value))
    return found


async def queue_reply(
    platform: Platform, uow: UnitOfWork, message_id: int, ticket: Mapping[str, Any], mailbox_id: int
) -> int:
    """Queue the email of the agent's public message ``message_id`` on ``ticket`` (its ``id``,
    ``workspace_id`` and ``requester_id``), served by ``mailbox_id``, in the transaction that wrote
    the message: to the requester and the CCs, less the workspace's own addresses; addresses that
    bounced before are marked failed at once. 1 when queued, 0 when there is no one to send to (or
    it was queued before)."""
    ticket_id, ws = int(ticket["id"]), int(ticket["workspace_id"])
    requester = int(ticket["requester_id"])
    mailbox = (await uow.execute(sa.select(mailboxes).where(mailboxes.c.id == mailbox_id))).mappings().first()
    if mailbox is None:
        return 0
    cc_ids = [
        int(r[0]) for r in await uow.execute(sa.select(ccs.c.contact_id).where(ccs.c.ticket_id == ticket_id))
    ]
    emails = await _primary_email(uow, [requester, *cc_ids])
    own = await own_addresses(uow, ws)
    ordered = [
        e
        for e in dict.fromkeys([emails.get(requester, ""), *(emails.get(c, "") for c in cc_ids)])
        if e and e not in own
    ]
    if not ordered:
        return 0
    bounced = {
        r[0]: r[1]
        for r in await uow.execute(
            sa.select(status_t.c.address, status_t.c.last_reason).where(
                status_t.c.workspace_id == ws, status_t.c.address.in_(ordered), status_t.c.bounces > 0
            )
        )
    }
    recipients = {
        e: (f"failed: bounced before ({bounced[e][:200]})" if e in bounced else "pending") for e in ordered
    }
    secret = platform.settings.ensure_secret_key()
    rfc = threading.make_message_id(secret, ws, ticket_id, domain_of(dict(mailbox)), ref=f"m{message_id}")
    pending = any(v == "pending" for v in recipients.values())
    new_id = await _insert_outbound(
        platform,
        uow,
        {
            "workspace_id": ws,
            "mailbox_id": mailbox_id,
            "ticket_id": ticket_id,
            "message_id": message_id,
            "kind": "reply",
            "rfc_message_id": rfc,
            "first_recipient": ordered[0],
            "recipients": recipients,
            "payload": {},
            "state": OutboundState.queued.value if pending else OutboundState.failed.value,
            "last_error": None if pending else "every recipient bounced before",
            "attempts": 0,
            "created_at": utcnow(),
        },
    )
    return 1 if new_id else 0


async def mark_bounced(
    uow: UnitOfWork, outbound_id: int, recipients: dict[str, str], addresses: list[str], why: str
) -> None:
    """A bounce for the email ``outbound_id`` (whose recipients the caller read, locked): those of
    ``addresses`` it was sent to failed. The ticket page and the deliveries API show it."""
    changed = {a: f"failed: bounced ({why[:200]})" for a in addresses if a in recipients}
    if changed:
        await uow.execute(
            outbox.update().where(outbox.c.id == outbound_id).values(recipients={**recipients, **changed})
        )


async def do_retry(
    platform: Platform, actor: Principal, outbound_id: int, *, ticket_id: int | None = None
) -> int | None:
    """Send a failed email again on behalf of ``actor``: staff who may reply publicly (403 for a light
    agent) on a ticket they can see (an email of any other ticket is 404, like one that does not
    exist). The API's ``POST /email/outbound/<id>/retry`` and the ticket page's Retry button both
    come here; the page names the ticket too (``ticket_id``), and an email of another ticket is 404
    there. Returns the agent message the email carries (``None`` for an acknowledgement)."""
    if not actor.is_staff:
        raise Forbidden("only staff send email")
    if not actor.can_reply_publicly:
        raise Forbidden("light agents cannot send email")
    async with platform.db.read() as conn:
        row = (
            await conn.execute(
                sa.select(outbox.c.ticket_id, outbox.c.message_id).where(
                    outbox.c.id == outbound_id, outbox.c.workspace_id == actor.workspace_id
                )
            )
        ).first()
        if row is None or row[0] is None or (ticket_id is not None and row[0] != ticket_id):
            raise NotFound(f"outbound email {outbound_id} not found")
        try:
            await ticket_queries.access_ticket(conn, actor, int(row[0]))
        except NotFound:
            raise NotFound(f"outbound email {outbound_id} not found") from None
    await retry(platform, actor.workspace_id, outbound_id)
    return int(row[1]) if row[1] is not None else None


async def retry(platform: Platform, workspace_id: int, outbound_id: int) -> None:
    """Send a failed email again, to the recipients that failed (bounced addresses included)."""
    async with platform.db.transaction() as uow:
        row = (
            await uow.execute(
                sa.select(outbox.c.state, outbox.c.recipients).where(
                    outbox.c.id == outbound_id, outbox.c.workspace_id == workspace_id
                )
            )
        ).first()
        if row is None:
            raise NotFound(f"outbound email {outbound_id} not found")
        if row[0] not in (OutboundState.failed, OutboundState.retrying):
            raise Conflict(f"outbound email {outbound_id} is {row[0]}; only failed sends are retried")
        recipients = {a: ("pending" if str(v).startswith("failed") else v) for a, v in (row[1] or {}).items()}
        await uow.execute(
            outbox.update()
            .where(outbox.c.id == outbound_id)
            .values(state=OutboundState.queued.value, attempts=0, recipients=recipients, next_attempt_at=None)
        )
        # No dedupe key: a backoff job of this email may be queued for later; this one runs now.
        await jobs.enqueue(uow, "email.send", {"outbound_id": outbound_id})
