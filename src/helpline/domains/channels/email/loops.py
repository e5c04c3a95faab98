"""Mail that must never be answered automatically, mail from ourselves, and bounces.

RFC 3834: a message is automatic when it says so (``Auto-Submitted`` other than ``no``), comes from
a list or a bulk sender (``Precedence``, ``List-Id``), has an empty envelope sender (``Return-Path:
<>``), or comes from a mailer daemon. We never auto-reply to such mail, and what we send ourselves
carries ``Auto-Submitted`` and ``X-Loop`` so that other systems do not answer us either.
"""

from __future__ import annotations

from dataclasses import dataclass

from helpline.domains.channels.email.parse import ParsedMail

LOOP_HEADER = "X-Helpline-Loop"
_DAEMONS = ("mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon", "noreply-dmarc-support")


@dataclass(frozen=True)
class Verdict:
    automatic: bool  # never auto-reply to it
    bounce: bool  # a delivery status notification: attach to the ticket it concerns, never a new ticket
    ours: bool  # sent by one of our own addresses or carrying our loop marker: drop it
    why: str


def classify(
    mail: ParsedMail, *, envelope_from: str | None, own_addresses: set[str], loop_marker: str
) -> Verdict:
    h = mail.headers
    sender = mail.from_address
    local = sender.split("@", 1)[0]
    ctype = h.get("content-type", "").lower()
    if mail.dsn is not None and (
        mail.dsn.get("recipients") or "delivery-status" in ctype or mail.dsn.get("original_message_id")
    ):
        return Verdict(True, True, False, "delivery status notification")
    if local in _DAEMONS or (envelope_from == "" and "report" in ctype):
        return Verdict(True, True, False, f"from {local}")
    marker = h.get("x-helpline-loop", "").strip()
    if marker and marker == loop_marker:
        return Verdict(True, False, True, "carries our own loop marker")
    if sender and sender in own_addresses:
        return Verdict(True, False, True, f"sent from our own address {sender}")
    reasons = []
    auto = h.get("auto-submitted", "").split(";")[0].strip().lower()
    if auto and auto != "no":
        reasons.append(f"Auto-Submitted: {auto}")
    precedence = h.get("precedence", "").strip().lower()
    if precedence in ("bulk", "list", "junk", "auto_reply"):
        reasons.append(f"Precedence: {precedence}")
    if h.get("list-id") or h.get("list-unsubscribe"):
        reasons.append("mailing list")
    if envelope_from == "" or h.get("return-path", "").strip() == "<>":
        reasons.append("empty Return-Path")
    if h.get("x-loop") or marker:
        reasons.append("X-Loop")
    if (
        h.get("x-autoreply")
        or h.get("x-autorespond")
        or "all" in h.get("x-auto-response-suppress", "").lower()
    ):
        reasons.append("auto-reply header")
    if local.startswith(("noreply", "no-reply", "donotreply", "do-not-reply")):
        reasons.append("no-reply sender")
    return Verdict(bool(reasons), False, False, ", ".join(reasons))
