"""Writes of the email channel's inbound side: store raw mail first, then queue it for processing.

:func:`ingest` is what every transport calls (our SMTP receiver before it answers 250, the webhook
before it answers 202, the IMAP fetcher before it flags or moves the message): the raw bytes go to
platform storage (fsynced, named by their SHA-256), then one row in ``email_inbound`` and a
``email.process`` job commit together. ``(mailbox_id, message_key)`` is unique, so the same message
delivered or fetched again is recognised and not queued twice.
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from helpline.db.base import utcnow
from helpline.domains.channels.email.models import InboundMail, InboundState, Mailbox
from helpline.domains.channels.email.parse import header_text, message_ids
from helpline.errors import Conflict, NotFound
from helpline.platform import jobs
from helpline.platform.db import UnitOfWork

if TYPE_CHECKING:
    from helpline.platform.runtime import Platform

log = logging.getLogger(__name__)

inbound = InboundMail.__table__
mailboxes = Mailbox.__table__

_HEADERS = email.parser.BytesHeaderParser(policy=email.policy.compat32)


@dataclass
class Ingested:
    id: int
    created: bool  # False: this mailbox had the message already


def message_key(raw: bytes, sha256: str) -> tuple[str, str, str]:
    """(key, From address, subject) read from the header block only; the key is the Message-ID or
    ``sha256:<hash>`` for mail without one. Never raises."""
    try:
        head = _HEADERS.parsebytes(raw[: 256 * 1024])
        ids = message_ids(str(head.get("message-id", "") or ""))
        sender = str(head.get("from", "") or "")
        # Decoded as the parser decodes it: the failed-mail list shows this until processing.
        subject = header_text(head, "subject")
    except Exception:
        ids, sender, subject = [], "", ""
    key = ids[0][:255] if ids else f"sha256:{sha256}"
    from email.utils import parseaddr

    try:
        addr = parseaddr(sender)[1].lower()[:320]
    except Exception:
        addr = ""
    return key, addr, " ".join(subject.split())[:500]


async def ingest(
    platform: Platform,
    mailbox: dict[str, Any],
    raw: bytes,
    *,
    source: str,
    envelope_from: str = "",
    uow: UnitOfWork | None = None,
) -> Ingested:
    """Store ``raw`` durably and queue it; returns once committed (or, given ``uow``, once written
    in the caller's transaction). Safe to call again with the same message."""
    digest = await platform.storage.put(raw)
    if uow is not None:
        return await _insert(uow, mailbox, raw, digest, source, envelope_from)
    async with platform.db.transaction() as own:
        return await _insert(own, mailbox, raw, digest, source, envelope_from)


async def _insert(
    uow: UnitOfWork, mailbox: dict[str, Any], raw: bytes, digest: str, source: str, envelope_from: str
) -> Ingested:
    key, sender, subject = message_key(raw, digest)
    values = {
        "workspace_id": mailbox["workspace_id"],
        "mailbox_id": mailbox["id"],
        "message_key": key,
        "raw_sha256": digest,
        "size": len(raw),
        "source": source,
        "envelope_from": (envelope_from or "")[:320],
        "from_address": sender,
        "subject": subject,
        "state": InboundState.received.value,
        "outcome": "",
        "reason": "",
        "auth": {},
        "attempts": 0,
        "received_at": utcnow(),
    }
    new_id = (await uow.execute(_STORE[uow.dialect], values)).scalar()
    if new_id is None:
        old: Any = (
            await uow.execute(
                sa.select(inbound.c.id).where(
                    inbound.c.mailbox_id == mailbox["id"], inbound.c.message_key == key
                )
            )
        ).scalar_one()
        return Ingested(int(old), False)
    await jobs.enqueue(uow, "email.process", {"inbound_id": int(new_id)})
    return Ingested(int(new_id), True)


# Built once: the statement is the same for every message (a transport stores each one as it comes).
_STORE = {
    name: dialect.insert(inbound)
    .on_conflict_do_nothing(index_elements=["mailbox_id", "message_key"])
    .returning(inbound.c.id)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


def sha256(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


async def mailbox_by_address(platform: Platform, address: str) -> dict[str, Any] | None:
    """The active mailbox receiving mail for ``address`` (plus-addressing ignored)."""
    from helpline.domains.channels.email.threading import base_address

    async with platform.db.read() as conn:
        row = (
            (
                await conn.execute(
                    sa.select(mailboxes).where(
                        mailboxes.c.address == base_address(address), mailboxes.c.active.is_(True)
                    )
                )
            )
            .mappings()
            .first()
        )
    return dict(row) if row else None


async def mailbox_by_id(platform: Platform, mailbox_id: int) -> dict[str, Any] | None:
    async with platform.db.read() as conn:
        row = (
            (
                await conn.execute(
                    sa.select(mailboxes).where(mailboxes.c.id == mailbox_id, mailboxes.c.active.is_(True))
                )
            )
            .mappings()
            .first()
        )
    return dict(row) if row else None


async def reprocess(platform: Platform, workspace_id: int, inbound_id: int) -> None:
    """Put a failed message back in the queue (after a fix, or a raised limit)."""
    async with platform.db.transaction() as uow:
        row = (
            await uow.execute(
                sa.select(inbound.c.state).where(
                    inbound.c.id == inbound_id, inbound.c.workspace_id == workspace_id
                )
            )
        ).first()
        if row is None:
            raise NotFound(f"inbound mail {inbound_id} not found")
        if row[0] != InboundState.failed:
            raise Conflict(
                f"inbound mail {inbound_id} is {row[0]}, not failed; only failed mail is reprocessed"
            )
        await uow.execute(
            inbound.update()
            .where(inbound.c.id == inbound_id)
            .values(state=InboundState.received.value, reason="", outcome="")
        )
        await jobs.enqueue(uow, "email.process", {"inbound_id": inbound_id})
