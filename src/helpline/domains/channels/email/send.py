"""The ``email.send`` job: build the MIME message, sign it (DKIM), hand it to SMTP, record the result.

Per recipient: accepted → ``sent``; refused with 5xx → ``failed: <why>`` (the others still go);
refused with 4xx, or the server unreachable → retried with backoff (``retrying``, ``attempts``),
until ``email_send_max_attempts``, then ``failed`` with the last error. One connection per mailbox
serves a whole batch.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
from collections import defaultdict
from datetime import timedelta
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from helpline.db.base import utcnow
from helpline.domains.channels.email import loops, threading
from helpline.domains.channels.email.failures import describe
from helpline.domains.channels.email.models import EmailMessageId, Mailbox, OutboundMail, OutboundState
from helpline.domains.channels.email.smtp_client import Delivery, SmtpSession
from helpline.domains.tickets.models import Attachment, Message, Ticket
from helpline.platform import jobs
from helpline.platform.db import UnitOfWork

if TYPE_CHECKING:
    from helpline.platform.runtime import Platform

log = logging.getLogger(__name__)

outbox = OutboundMail.__table__
mailboxes = Mailbox.__table__
ids_t = EmailMessageId.__table__
messages = Message.__table__
tickets = Ticket.__table__
attachments = Attachment.__table__


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min … capped at 2 hours."""
    return timedelta(seconds=min(30 * 2 ** max(0, attempts - 1), 7200))


async def build(platform: Platform, conn: Any, row: dict[str, Any], mailbox: dict[str, Any]) -> EmailMessage:
    """The MIME message for an outbox row; the same headers every attempt (Message-ID, Date)."""
    from helpline.domains.channels.email.process import loop_marker

    secret = platform.settings.ensure_secret_key()
    ticket = (
        await conn.execute(
            sa.select(tickets.c.number, tickets.c.subject).where(tickets.c.id == row["ticket_id"])
        )
    ).first()
    refs = [
        r[0]
        for r in await conn.execute(
            sa.select(ids_t.c.rfc_id)
            .where(ids_t.c.ticket_id == row["ticket_id"], ids_t.c.rfc_id != row["rfc_message_id"])
            .order_by(ids_t.c.created_at)
            .limit(30)
        )
    ]
    incoming = [
        r[0]
        for r in await conn.execute(
            sa.select(ids_t.c.rfc_id)
            .where(ids_t.c.ticket_id == row["ticket_id"], ids_t.c.outgoing.is_(False))
            .order_by(ids_t.c.created_at.desc())
            .limit(1)
        )
    ]
    msg = EmailMessage()
    msg["From"] = email.utils.formataddr((mailbox["name"], mailbox["address"]))
    # JSONB does not keep key order: the requester is ``first_recipient``, the others are copied.
    msg["To"] = row["first_recipient"]
    others = sorted(a for a in row["recipients"] if a != row["first_recipient"])
    if others:
        msg["Cc"] = ", ".join(others)
    msg["Reply-To"] = threading.reply_address(
        secret, row["workspace_id"], row["ticket_id"], mailbox["address"]
    )
    msg["Message-ID"] = f"<{row['rfc_message_id']}>"
    msg["Date"] = email.utils.format_datetime(row["created_at"])
    msg[loops.LOOP_HEADER] = loop_marker(platform, int(row["workspace_id"]))
    number = ticket[0] if ticket else 0
    if row["kind"] in ("auto_ack", "transcript"):  # written by us, not an agent's message
        payload = row["payload"] or {}
        msg["Subject"] = payload.get("subject", f"[#{number}]")
        if payload.get("in_reply_to"):
            msg["In-Reply-To"] = f"<{payload['in_reply_to']}>"
            msg["References"] = f"<{payload['in_reply_to']}>"
        msg["Auto-Submitted"] = "auto-replied" if row["kind"] == "auto_ack" else "auto-generated"
        msg["X-Auto-Response-Suppress"] = "All"
        msg.set_content(payload.get("body", ""))
        return msg
    subject = ticket[1] if ticket else ""
    msg["Subject"] = (
        f"Re: {subject} [#{number}]" if not subject.lower().startswith("re:") else f"{subject} [#{number}]"
    )
    parent = incoming[0] if incoming else (refs[-1] if refs else "")
    if parent:
        msg["In-Reply-To"] = f"<{parent}>"
        msg["References"] = " ".join(f"<{r}>" for r in refs[-20:])
    body = (
        await conn.execute(
            sa.select(messages.c.body_text, messages.c.body_html).where(messages.c.id == row["message_id"])
        )
    ).first()
    text, html = (body[0], body[1]) if body else ("", "")
    signature = platform.settings.email_signature.strip()
    if signature:
        text = f"{text}\n\n-- \n{signature}"
    msg.set_content(text or " ")
    if html:
        msg.add_alternative(f"<!doctype html><html><body>{html}</body></html>", subtype="html")
    files = (
        (
            await conn.execute(
                sa.select(attachments)
                .where(attachments.c.message_id == row["message_id"])
                .order_by(attachments.c.id)
            )
        )
        .mappings()
        .all()
    )
    for f in files:
        data = await platform.storage.get(f["sha256"])
        maintype, _, subtype = str(f["content_type"]).partition("/")
        msg.add_attachment(
            data,
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=f["filename"],
        )
    return msg


@jobs.job_handler("email.send")
async def send_job(platform: Platform, batch: list[dict[str, Any]]) -> None:
    ids = sorted({int(a["outbound_id"]) for a in batch})
    async with platform.db.read() as conn:
        rows = [
            dict(r)
            for r in (
                await conn.execute(
                    sa.select(outbox).where(
                        outbox.c.id.in_(ids),
                        outbox.c.state.in_([OutboundState.queued, OutboundState.retrying]),
                    )
                )
            ).mappings()
        ]
        boxes = {
            int(r["id"]): dict(r)
            for r in (
                await conn.execute(
                    sa.select(mailboxes).where(mailboxes.c.id.in_({r["mailbox_id"] for r in rows}))
                )
            ).mappings()
        }
    by_box: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_box[int(r["mailbox_id"])].append(r)
    for mailbox_id, group in by_box.items():
        await _send_group(platform, boxes[mailbox_id], group)


#: Results are committed every this many messages: a crash re-sends at most these (same Message-ID).
RECORD_EVERY = 20


async def _send_group(platform: Platform, mailbox: dict[str, Any], group: list[dict[str, Any]]) -> None:
    session = SmtpSession(platform, mailbox)
    done: list[tuple[dict[str, Any], dict[str, str], str | None]] = []
    try:
        async with platform.db.read() as conn:
            for row in group:
                pending = [a for a, v in (row["recipients"] or {}).items() if v == "pending"]
                if not pending:
                    done.append((row, {}, None))
                    continue
                try:
                    msg = await build(platform, conn, row, mailbox)
                    raw = session.sign(msg)
                    delivery = await asyncio.wait_for(
                        session.send(mailbox["address"], pending, raw),
                        platform.settings.email_send_timeout_seconds,
                    )
                except Exception as exc:
                    log.warning("sending outbound email %s failed: %s", row["id"], exc)
                    session.reset()
                    delivery = Delivery({}, describe(exc)[:500])
                done.append((row, delivery.results, delivery.error))
                if len(done) >= RECORD_EVERY:
                    await _record_all(platform, done)
                    done = []
    finally:
        await _record_all(platform, done)
        await session.close()


async def _record_all(
    platform: Platform, done: list[tuple[dict[str, Any], dict[str, str], str | None]]
) -> None:
    if not done:
        return
    async with platform.db.transaction() as uow:
        for row, results, error in done:
            await _record(platform, uow, row, results, error)


async def _record(
    platform: Platform, uow: UnitOfWork, row: dict[str, Any], results: dict[str, str], error: str | None
) -> None:
    recipients = dict(row["recipients"] or {})
    recipients.update(results)
    still = [a for a, v in recipients.items() if v == "pending"]
    attempts = int(row["attempts"]) + 1
    now = utcnow()
    values: dict[str, Any] = {"recipients": recipients, "attempts": attempts}
    retry_in: timedelta | None = None
    if not still:
        ok = any(v == "sent" for v in recipients.values())
        values.update(
            state=OutboundState.sent.value if ok else OutboundState.failed.value,
            next_attempt_at=None,
            sent_at=now if ok else None,
            last_error=None if ok and not error else (error or "every recipient was refused"),
        )
        if ok and any(str(v).startswith("failed") for v in recipients.values()):
            values["last_error"] = "; ".join(f"{a}: {v}" for a, v in recipients.items() if v != "sent")[:1000]
    elif attempts >= platform.settings.email_send_max_attempts:
        for a in still:
            recipients[a] = f"failed: {error or 'temporarily refused'}"[:300]
        ok = any(v == "sent" for v in recipients.values())
        values.update(
            state=OutboundState.sent.value if ok else OutboundState.failed.value,
            recipients=recipients,
            last_error=f"gave up after {attempts} attempts: {error or 'temporarily refused'}"[:1000],
            next_attempt_at=None,
            sent_at=now if ok else None,
        )
    else:
        retry_in = backoff(attempts)
        values.update(
            state=OutboundState.retrying.value,
            last_error=error or "some recipients temporarily refused",
            next_attempt_at=now + retry_in,
        )
    await uow.execute(outbox.update().where(outbox.c.id == row["id"]).values(**values))
    if retry_in is not None:
        await jobs.enqueue(
            uow,
            "email.send",
            {"outbound_id": int(row["id"])},
            delay=retry_in,
            dedupe_key=f"email.send:{row['id']}",
        )
