"""Turn stored inbound mail into tickets and messages (the ``email.process`` job).

Each message is handled in its own transaction, which also marks its ``email_inbound`` row
processed: a crash before the commit leaves the row ``received`` and its job re-runs; after the
commit the row says ``processed`` and a re-run does nothing. A message that cannot be parsed, breaks
a limit, or fails for any other reason is marked ``failed`` with the reason and blocks nothing.
"""

from __future__ import annotations

import asyncio
import html as htmllib
import logging
import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from helpline.db.base import utcnow
from helpline.domains.accounts.models import Membership, User
from helpline.domains.channels.email import images, loops, outbound, quotes, threading
from helpline.domains.channels.email.mailboxes import own_addresses
from helpline.domains.channels.email.models import (
    AddressStatus,
    EmailMessageId,
    EmailThread,
    InboundMail,
    InboundState,
    Mailbox,
)
from helpline.domains.channels.email.parse import Limits, ParsedMail, Rejected, parse
from helpline.domains.customers import service as customers
from helpline.domains.tickets import content, inbound
from helpline.platform.db import UnitOfWork
from helpline.web.errors import Conflict, Invalid

if TYPE_CHECKING:
    from helpline.platform.runtime import Platform

log = logging.getLogger(__name__)

inbound_t = InboundMail.__table__
mailboxes = Mailbox.__table__
threads = EmailThread.__table__
ids_t = EmailMessageId.__table__
status_t = AddressStatus.__table__
users = User.__table__
members = Membership.__table__

CHANNEL = "email"
_CID_SRC = re.compile(r'src\s*=\s*(["\']?)cid:([^"\'\s>]+)\1', re.I)


def limits_for(platform: Platform) -> Limits:
    s = platform.settings
    return Limits(max_bytes=s.email_max_message_bytes, max_parts=s.email_max_parts)


async def requeue_stale(
    platform: Platform, *, older_than: timedelta = timedelta(minutes=10), limit: int = 1000
) -> int:
    """Queue again mail still ``received`` after ``older_than``: its job died with its worker too
    often (a job is dead after 8 attempts) or was lost. Processing is idempotent, so a twin job is
    harmless. Run by the email runtime every few minutes and at start."""
    from helpline.platform import jobs

    async with platform.db.read() as conn:
        ids = [
            int(r[0])
            for r in await conn.execute(
                sa.select(inbound_t.c.id)
                .where(
                    inbound_t.c.state == InboundState.received,
                    inbound_t.c.received_at <= utcnow() - older_than,
                )
                .order_by(inbound_t.c.id)
                .limit(limit)
            )
        ]
    if ids:
        async with platform.db.transaction() as uow:
            for inbound_id in ids:
                await jobs.enqueue(
                    uow, "email.process", {"inbound_id": inbound_id}, dedupe_key=f"email.process:{inbound_id}"
                )
    return len(ids)


#: Messages smaller than this are parsed inline (fast, bounded by the size and part limits); larger
#: ones in a thread, abandoned after ``email_parse_timeout_seconds``.
INLINE_PARSE_BYTES = 256 * 1024


Prepared = tuple[ParsedMail | None, list[dict[str, Any]], tuple[str, str], str]


async def _prepare(platform: Platform, row: dict[str, Any]) -> Prepared:
    """Read, parse and render one stored message and store its parts, before (not inside) the write
    transaction: (mail, files, (text, html), "") or (None, [], ("", ""), why)."""
    try:
        raw = await platform.storage.get(row["raw_sha256"])
    except (FileNotFoundError, ValueError) as exc:
        return None, [], ("", ""), f"raw bytes missing from storage ({type(exc).__name__})"
    timeout = platform.settings.email_parse_timeout_seconds
    try:
        if len(raw) <= INLINE_PARSE_BYTES:
            mail = parse(raw, limits_for(platform))
            files = await _store_parts(platform, mail)
            body = render(mail, files)
        else:
            mail = await asyncio.wait_for(asyncio.to_thread(parse, raw, limits_for(platform)), timeout)
            files = await _store_parts(platform, mail)
            body = await asyncio.wait_for(asyncio.to_thread(render, mail, files), timeout)
        return mail, files, body, ""
    except Rejected as exc:
        return None, [], ("", ""), str(exc)
    except TimeoutError:
        return None, [], ("", ""), f"parsing took longer than {timeout} s"
    except Exception as exc:  # a parser bug must not block the queue
        log.exception("parsing inbound mail %s failed", row["id"])
        return None, [], ("", ""), f"parser error: {type(exc).__name__}: {exc}"[:500]


async def process_batch(platform: Platform, inbound_ids: list[int]) -> dict[int, str]:
    """Process stored messages; the outcome of each (``failed`` for the failed list). Idempotent.

    One transaction for the batch, one savepoint per message: a message that fails rolls back alone
    and is marked failed with its reason; the others go on.
    """
    async with platform.db.read() as conn:
        rows = [
            dict(r)
            for r in (
                await conn.execute(
                    sa.select(inbound_t)
                    .where(inbound_t.c.id.in_(inbound_ids), inbound_t.c.state == InboundState.received)
                    .order_by(inbound_t.c.id)
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
    prepared = [(row, *await _prepare(platform, row)) for row in rows]
    outcomes: dict[int, str] = {}
    own: dict[int, set[str]] = {}
    async with platform.db.transaction() as uow:
        for row, mail, files, body, why in prepared:
            inbound_id = int(row["id"])
            if mail is None:
                outcomes[inbound_id] = await _mark_failed(uow, inbound_id, why)
                continue
            mailbox = boxes[int(row["mailbox_id"])]
            ws = int(mailbox["workspace_id"])
            if ws not in own:
                own[ws] = await own_addresses(uow, ws)
            try:
                async with uow.conn.begin_nested():
                    # Locked (PostgreSQL): a twin job on another worker waits here, then sees it processed.
                    fresh = (
                        await uow.execute(
                            sa.select(inbound_t.c.state).where(inbound_t.c.id == inbound_id).with_for_update()
                        )
                    ).scalar()
                    if fresh != InboundState.received:
                        outcomes[inbound_id] = str(fresh)  # another worker got there first
                        continue
                    outcome, ticket_id, message_id, reason = await _apply(
                        platform, uow, row, mailbox, mail, files, body, own[ws]
                    )
                    await uow.execute(
                        inbound_t.update()
                        .where(inbound_t.c.id == inbound_id)
                        .values(
                            state=InboundState.processed.value,
                            outcome=outcome,
                            reason=reason,
                            ticket_id=ticket_id,
                            message_id=message_id,
                            processed_at=utcnow(),
                            attempts=inbound_t.c.attempts + 1,
                            from_address=mail.from_address or row["from_address"],
                            subject=mail.subject[:500],
                            auth=_auth(platform, mail),
                        )
                    )
                outcomes[inbound_id] = outcome
            except Rejected as exc:
                outcomes[inbound_id] = await _mark_failed(uow, inbound_id, str(exc))
            except Exception as exc:
                log.exception("processing inbound mail %s failed", inbound_id)
                outcomes[inbound_id] = await _mark_failed(
                    uow, inbound_id, f"{type(exc).__name__}: {exc}"[:1000]
                )
    return outcomes


async def _mark_failed(uow: UnitOfWork, inbound_id: int, reason: str) -> str:
    await uow.execute(
        inbound_t.update()
        .where(inbound_t.c.id == inbound_id, inbound_t.c.state == InboundState.received)
        .values(
            state=InboundState.failed.value,
            outcome="failed",
            reason=reason,
            processed_at=utcnow(),
            attempts=inbound_t.c.attempts + 1,
        )
    )
    return "failed"


def _auth(platform: Platform, mail: ParsedMail) -> dict[str, Any]:
    """SPF/DKIM/DMARC verdicts, only from Authentication-Results our own receiving host wrote."""
    ours = platform.settings.email_authserv_id.strip().lower()
    if not ours:
        return {}
    found: dict[str, Any] = {}
    for value in mail.auth_results:
        head, _, rest = value.partition(";")
        authserv = head.split()[0].lower() if head.split() else ""
        if authserv != ours:
            continue
        for method in ("spf", "dkim", "dmarc"):
            m = re.search(rf"\b{method}=(\w+)", rest, re.I)
            if m and method not in found:
                found[method] = m.group(1).lower()
    return found


async def _store_parts(platform: Platform, mail: ParsedMail) -> list[dict[str, Any]]:
    out = []
    for part in mail.parts:
        digest = await platform.storage.put(part.data)
        out.append(
            {
                "filename": part.filename,
                "content_type": part.content_type,
                "size": len(part.data),
                "sha256": digest,
                "content_id": part.content_id,
                "inline": part.inline,
            }
        )
    return out


def render(mail: ParsedMail, files: list[dict[str, Any]]) -> tuple[str, str]:
    """(text, safe html): inline ``cid:`` images point at their stored file, remote images are
    blocked (kept as ``data-remote-src``, see ``images``), and the quoted history and signature are
    folded into a collapsed ``<details>`` (see ``quotes``; not for a forward). The text is complete."""
    by_cid = {f["content_id"]: f["sha256"] for f in files if f["content_id"]}
    fold = not quotes.is_forward(mail.subject)
    if mail.html:

        def cid(m: re.Match[str]) -> str:
            sha = by_cid.get(m.group(2))
            return f'src="/api/v1/email/inline/{sha}"' if sha else 'src=""'

        raw = _CID_SRC.sub(cid, mail.html)
        safe = images.block(content.sanitize_html(quotes.fold_html(raw) if fold else raw))
        text = mail.text or content.html_to_text(quotes.without_summaries(safe))
    else:
        text = mail.text
        safe = "" if not text else quotes.text_to_html(text) if fold else content.text_to_html(text)
    if not text.strip() and not safe.strip():
        text, safe = "(no text)", "<p>(no text)</p>"
    return text[:1_000_000], safe


async def _is_staff(uow: UnitOfWork, workspace_id: int, address: str) -> bool:
    row = (
        await uow.execute(
            sa.select(members.c.role)
            .join(users, users.c.id == members.c.user_id)
            .where(members.c.workspace_id == workspace_id, users.c.email == address)
        )
    ).first()
    return row is not None and row[0] != "customer"


async def _contact(uow: UnitOfWork, workspace_id: int, address: str, name: str) -> int:
    try:
        return await customers.find_or_create_contact(uow, workspace_id, email=address, name=name)
    except Conflict:
        found = await customers.contact_by_identity(uow, workspace_id, "email", address)
        if found is None:
            raise
        return found


async def _apply(
    platform: Platform,
    uow: UnitOfWork,
    row: dict[str, Any],
    mailbox: dict[str, Any],
    mail: ParsedMail,
    files: list[dict[str, Any]],
    body: tuple[str, str],
    own: set[str],
) -> tuple[str, int | None, int | None, str]:
    """(outcome, ticket id, message id, reason) — written in the caller's transaction."""
    ws = mailbox["workspace_id"]
    s = platform.settings
    verdict = loops.classify(
        mail,
        envelope_from=row["envelope_from"] if row["source"] == "smtp" else None,
        own_addresses=own,
        loop_marker=loop_marker(platform, ws),
    )
    if verdict.ours:
        return "loop", None, None, verdict.why
    if verdict.bounce:
        return await _bounce(platform, uow, ws, mail, verdict.why)
    sender = mail.from_address or (row["envelope_from"] or "").lower()
    try:
        sender = customers.normalise_identity("email", sender)
    except Invalid:
        raise Rejected("no sender address (From)") from None
    existing = await threading.existing_contact(uow.conn, ws, sender)
    recipients = [*mail.to, *mail.cc]
    thread = await threading.find_thread(uow.conn, s.ensure_secret_key(), ws, mail, recipients, existing)
    text, html = body
    cc_addresses = [
        a
        for a in dict.fromkeys(recipients)
        if a != sender and threading.base_address(a) not in own and a not in own
    ]
    if thread is not None:
        ticket = thread.ticket
        participant = await threading.is_participant(uow.conn, ticket, existing)
        contact_id = existing if existing is not None else await _contact(uow, ws, sender, mail.from_name)
        message_id = await inbound.add_contact_message(
            uow,
            platform.pubsub,
            ticket,
            contact_id=contact_id,
            body_text=text,
            body_html=html,
            channel=CHANNEL,
        )
        if participant and cc_addresses:
            cc_ids = [await _contact(uow, ws, a, "") for a in cc_addresses[:50]]
            await inbound.add_ccs(uow, ticket, cc_ids, requester_id=ticket["requester_id"])
        outcome, ticket_id = "reply", int(ticket["id"])
        reason = f"threaded by {thread.how}"
    else:
        if await _over_cap(
            uow, row["mailbox_id"], sender, "new_ticket", s.email_new_tickets_per_sender_per_hour
        ):
            return (
                "capped",
                None,
                None,
                f"more than {s.email_new_tickets_per_sender_per_hour} new tickets from {sender}"
                " within an hour",
            )
        contact_id = existing if existing is not None else await _contact(uow, ws, sender, mail.from_name)
        cc_ids = [await _contact(uow, ws, a, "") for a in cc_addresses[:50]]
        ticket_id, message_id, number = await inbound.create_ticket_from_contact(
            uow,
            platform.pubsub,
            workspace_id=ws,
            contact_id=contact_id,
            subject=mail.subject,
            body_text=text,
            body_html=html,
            channel=CHANNEL,
            group_id=mailbox["group_id"],
            cc_contact_ids=cc_ids,
        )
        outcome, reason = "new_ticket", verdict.why
        await _maybe_ack(platform, uow, mailbox, mail, verdict, sender, ticket_id, number)
    await inbound.attach_files(uow, workspace_id=ws, message_id=message_id, files=files)
    await _remember_thread(
        uow, ws, ticket_id, mailbox["id"], mail.message_id, new_ticket=outcome == "new_ticket"
    )
    return outcome, ticket_id, message_id, reason


def loop_marker(platform: Platform, workspace_id: int) -> str:
    """The X-Helpline-Loop value of a workspace's mail: derived from the secret key, so it cannot
    be guessed from outside, and different per workspace (another workspace's mail is not ours)."""
    import hashlib

    key = f"loop:{workspace_id}:{platform.settings.ensure_secret_key()}"
    return hashlib.sha256(key.encode()).hexdigest()[:24]


async def _over_cap(uow: UnitOfWork, mailbox_id: int, sender: str, outcome: str, cap: int) -> bool:
    since = utcnow() - timedelta(hours=1)
    n = (
        await uow.execute(
            sa.select(sa.func.count())
            .select_from(inbound_t)
            .where(
                inbound_t.c.mailbox_id == mailbox_id,
                inbound_t.c.from_address == sender,
                inbound_t.c.received_at >= since,
                inbound_t.c.outcome == outcome,
            )
        )
    ).scalar_one()
    return int(n) >= cap


async def _remember_thread(
    uow: UnitOfWork, ws: int, ticket_id: int, mailbox_id: int, rfc_id: str, *, new_ticket: bool
) -> None:
    ins = postgresql.insert if uow.dialect == "postgresql" else sqlite.insert
    if new_ticket:
        await uow.execute(
            threads.insert().values(ticket_id=ticket_id, mailbox_id=mailbox_id, workspace_id=ws)
        )
    else:
        await uow.execute(
            ins(threads)
            .values(ticket_id=ticket_id, mailbox_id=mailbox_id, workspace_id=ws)
            .on_conflict_do_nothing(index_elements=["ticket_id"])
        )
    if rfc_id:
        await uow.execute(
            ins(ids_t)
            .values(
                workspace_id=ws, rfc_id=rfc_id[:255], ticket_id=ticket_id, outgoing=False, created_at=utcnow()
            )
            .on_conflict_do_nothing(index_elements=["workspace_id", "rfc_id"])
        )


async def _maybe_ack(
    platform: Platform,
    uow: UnitOfWork,
    mailbox: dict[str, Any],
    mail: ParsedMail,
    verdict: loops.Verdict,
    sender: str,
    ticket_id: int,
    number: int,
) -> None:
    """The mailbox's acknowledgement, unless the mail is automatic, the sender is one of us, bounced
    before, or was acknowledged too often lately. It never quotes what the sender wrote."""
    s = platform.settings
    if not mailbox["auto_ack"] or verdict.automatic:
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
        >= s.email_auto_acks_per_sender_per_hour
    ):
        return
    await outbound.queue_auto_ack(
        platform,
        uow,
        mailbox,
        ticket_id=ticket_id,
        number=number,
        to=sender,
        in_reply_to=mail.message_id,
        subject=mail.subject,
    )


async def _bounce(
    platform: Platform, uow: UnitOfWork, ws: int, mail: ParsedMail, why: str
) -> tuple[str, int | None, int | None, str]:
    """A delivery failure: mark the addresses, note it on the ticket it concerns; never a new ticket."""
    dsn = mail.dsn or {}
    failed = dsn.get("action", "failed") in ("failed", "")
    addresses = [a for a in dsn.get("recipients", []) if "@" in a][:20]
    now = utcnow()
    if failed:
        for address in addresses:
            found = (
                await uow.execute(
                    sa.select(status_t.c.bounces).where(
                        status_t.c.workspace_id == ws, status_t.c.address == address
                    )
                )
            ).first()
            reason = (dsn.get("diagnostic") or dsn.get("status") or why)[:1000]
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
