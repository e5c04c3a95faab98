"""One inbound message's way through ``process``: loops and bounces, its sender and thread, the
new-ticket cap, and the row updates that record its outcome."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from helpline.db.base import utcnow
from helpline.domains.channels.email import bounces, loops, runs, threading
from helpline.domains.channels.email.models import InboundMail, InboundState
from helpline.domains.channels.email.parse import ParsedMail, Rejected
from helpline.domains.customers import service as customers
from helpline.domains.tickets import service as tickets_service
from helpline.errors import Invalid
from helpline.platform.db import UnitOfWork

if TYPE_CHECKING:
    from helpline.platform.runtime import Platform


class _Alone:
    """What ``_apply`` answers, when gathering, for a message it must write alone."""


ALONE = _Alone()

inbound_t = InboundMail.__table__


def _sender(m: runs.Incoming) -> str:
    """The normalised From address (or the envelope sender); "" when there is none usable."""
    try:
        return customers.normalise_identity(
            "email", m.mail.from_address or (m.row["envelope_from"] or "").lower()
        )
    except Invalid:
        return ""


def _cap_reason(cap: int, sender: str) -> str:
    return f"more than {cap} new tickets from {sender} within an hour"


def _cc_addresses(recipients: list[str], sender: str, own: set[str]) -> list[str]:
    return [
        a
        for a in dict.fromkeys(recipients)
        if a != sender and threading.base_address(a) not in own and a not in own
    ]


def _done(
    platform: Platform,
    row: dict[str, Any],
    mail: ParsedMail,
    outcome: str,
    ticket_id: int | None,
    message_id: int | None,
    reason: str,
) -> dict[str, Any]:
    return {
        "b_id": int(row["id"]),
        "b_outcome": outcome,
        "b_reason": reason,
        "b_ticket": ticket_id,
        "b_message": message_id,
        "b_at": utcnow(),
        "b_from": mail.from_address or row["from_address"],
        "b_subject": mail.subject[:500],
        "b_auth": _auth(platform, mail),
    }


_FINISH = (
    inbound_t.update()
    .where(inbound_t.c.id == sa.bindparam("b_id"))
    .values(
        state=InboundState.processed.value,
        outcome=sa.bindparam("b_outcome"),
        reason=sa.bindparam("b_reason"),
        ticket_id=sa.bindparam("b_ticket"),
        message_id=sa.bindparam("b_message"),
        processed_at=sa.bindparam("b_at"),
        attempts=inbound_t.c.attempts + 1,
        from_address=sa.bindparam("b_from"),
        subject=sa.bindparam("b_subject"),
        auth=sa.bindparam("b_auth"),
    )
)


async def _finish(uow: UnitOfWork, done: list[dict[str, Any]]) -> None:
    """Mark messages processed with their outcome, in one statement."""
    await uow.execute(_FINISH, done)


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


async def _apply(
    platform: Platform,
    uow: UnitOfWork,
    m: runs.Incoming,
    own: set[str],
    contacts: dict[str, int],
    *,
    gather: bool,
) -> tuple[str, int | None, int | None, str] | runs.Item | _Alone:
    """One message, reading what it needs: (outcome, ticket id, message id, reason). With
    ``gather``, a new ticket or a reply that copies nobody onto its ticket comes back unwritten
    (the caller caps new tickets and writes both in its run)."""
    ws, mail, mailbox = m.ws, m.mail, m.mailbox
    s = platform.settings
    verdict = loops.classify(
        mail, envelope_from=m.envelope_from, own_addresses=own, loop_marker=loop_marker(platform, ws)
    )
    if verdict.ours:
        return "loop", None, None, verdict.why
    if verdict.bounce:
        return ALONE if gather else await bounces.handle(platform, uow, ws, mail, verdict.why)
    sender = _sender(m)
    if not sender:
        raise Rejected("no sender address (From)")
    # The batch read the contacts of its senders ahead; one it did not know of is looked up.
    existing = contacts.get(sender) or await customers.contact_by_identity(uow, ws, "email", sender)
    recipients = [*mail.to, *mail.cc]
    thread = await threading.find_thread(uow.conn, s.ensure_secret_key(), ws, mail, recipients, existing)
    cc_addresses = _cc_addresses(recipients, sender, own)
    if thread is None:
        new = runs.NewMail(m.row, mailbox, mail, m.files, m.body, sender, cc_addresses, verdict)
        if gather:
            return new
        cap = s.email_new_tickets_per_sender_per_hour
        if await _over_cap(uow, mailbox["id"], sender, "new_ticket", cap):
            return "capped", None, None, _cap_reason(cap, sender)
        known = {sender: existing} if existing is not None else {}
        (written,), _ = await runs.write(platform, uow, [new], known)
        return "new_ticket", written.ticket_id, written.message_id, verdict.why
    ticket = thread.ticket
    copies = cc_addresses if await threading.is_participant(uow.conn, ticket, existing) else []
    contact_id = (
        existing
        if existing is not None
        else await customers.find_or_create_contact(uow, ws, email=sender, name=mail.from_name)
    )
    reply = runs.ReplyMail(m.row, mailbox, mail, m.files, m.body, sender, contact_id, ticket, thread.how)
    if gather:
        return ALONE if copies else reply
    (written,), _ = await runs.write(platform, uow, [reply], {})
    if copies:
        cc_ids = [await customers.find_or_create_contact(uow, ws, email=a) for a in copies[: runs.MAX_CCS]]
        await tickets_service.add_ccs(uow, ticket, cc_ids, requester_id=ticket["requester_id"])
    outcome, reason = reply.outcome
    return outcome, written.ticket_id, written.message_id, reason


def loop_marker(platform: Platform, workspace_id: int) -> str:
    """The X-Helpline-Loop value of a workspace's mail: derived from the secret key, so it cannot
    be guessed from outside, and different per workspace (another workspace's mail is not ours)."""
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
