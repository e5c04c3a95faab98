"""Delivery status notifications: mark the addresses that failed and note it on the ticket the
bounce concerns; a bounce never starts a ticket."""

from __future__ import annotations

import html as htmllib
from typing import TYPE_CHECKING

import sqlalchemy as sa

from helpline.db.base import utcnow
from helpline.domains.channels.email import outbound, threading
from helpline.domains.channels.email.models import AddressStatus, EmailMessageId
from helpline.domains.channels.email.parse import ParsedMail
from helpline.domains.channels.email.runs import CHANNEL
from helpline.domains.tickets import inbound
from helpline.platform.db import UnitOfWork

if TYPE_CHECKING:
    from helpline.platform.runtime import Platform

status_t = AddressStatus.__table__
ids_t = EmailMessageId.__table__


async def handle(
    platform: Platform, uow: UnitOfWork, ws: int, mail: ParsedMail, why: str
) -> tuple[str, int | None, int | None, str]:
    """A delivery failure: mark the addresses, note it on the ticket it concerns; never a new ticket."""
    dsn = mail.dsn or {}
    failed = dsn.get("action", "failed") in ("failed", "")
    addresses = [a for a in dsn.get("recipients", []) if "@" in a][:20]
    now = utcnow()
    if failed:
        reason = (dsn.get("diagnostic") or dsn.get("status") or why)[:1000]
        for address in addresses:
            found = (
                await uow.execute(
                    sa.select(status_t.c.bounces).where(
                        status_t.c.workspace_id == ws, status_t.c.address == address
                    )
                )
            ).first()
            if found is None:
                await uow.execute(
                    status_t.insert().values(
                        workspace_id=ws, address=address, bounces=1, last_reason=reason, updated_at=now
                    )
                )
            else:
                await uow.execute(
                    status_t.update()
                    .where(status_t.c.workspace_id == ws, status_t.c.address == address)
                    .values(bounces=status_t.c.bounces + 1, last_reason=reason, updated_at=now)
                )
    original = dsn.get("original_message_id") or next(iter([*mail.in_reply_to, *mail.references]), "")
    ticket_id = None
    secret = platform.settings.ensure_secret_key()
    for candidate in [original, *mail.references]:
        if not candidate:
            continue
        ticket_id = threading.verify_message_id(secret, ws, candidate)
        if ticket_id is None:
            ticket_id = (
                await uow.execute(
                    sa.select(ids_t.c.ticket_id).where(
                        ids_t.c.workspace_id == ws, ids_t.c.rfc_id == candidate, ids_t.c.outgoing.is_(True)
                    )
                )
            ).scalar()
        if ticket_id is not None:
            break
    if ticket_id is None:
        return (
            "bounce",
            None,
            None,
            f"bounce for {', '.join(addresses) or 'unknown recipients'}; no ticket matched",
        )
    ticket = (
        (
            await uow.execute(
                sa.select(inbound.tickets).where(
                    inbound.tickets.c.id == ticket_id, inbound.tickets.c.workspace_id == ws
                )
            )
        )
        .mappings()
        .first()
    )
    if ticket is None:
        return "bounce", None, None, "bounce for a ticket that no longer exists"
    note = (
        f"Email could not be delivered to {', '.join(addresses) or 'a recipient'}"
        f" ({dsn.get('status') or 'no status'}): {htmllib.unescape(dsn.get('diagnostic', '') or why)}"
    )
    message_id = await inbound.add_system_note(
        uow, platform.pubsub, dict(ticket), text=note[:2000], channel=CHANNEL
    )
    await outbound.mark_bounced(uow, ws, int(ticket["id"]), addresses, note[:500])
    return "bounce", int(ticket["id"]), message_id, note[:500]
