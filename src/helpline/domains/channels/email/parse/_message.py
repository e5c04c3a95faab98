"""``parse``: raw bytes to :class:`ParsedMail`, refusing what breaks a limit."""

from __future__ import annotations

import email
from email import policy
from email.message import Message

from helpline.domains.channels.email.parse._dsn import dsn_of
from helpline.domains.channels.email.parse._headers import addresses_of, header_text, message_ids, raw_all
from helpline.domains.channels.email.parse._model import Limits, ParsedMail, Rejected
from helpline.domains.channels.email.parse._parts import attachments_of, bodies_of, walk_parts

_LOOP_HEADERS = (
    "auto-submitted",
    "precedence",
    "list-id",
    "list-unsubscribe",
    "return-path",
    "x-loop",
    "x-autoreply",
    "x-autorespond",
    "x-auto-response-suppress",
    "x-helpline-loop",
    "content-type",
)


def parse(raw: bytes, limits: Limits | None = None) -> ParsedMail:
    """Parse ``raw``; :class:`Rejected` when it is not mail we can take in."""
    limits = limits or Limits()
    if len(raw) > limits.max_bytes:
        raise Rejected(f"larger than {limits.max_bytes} bytes")
    if not raw.strip():
        raise Rejected("empty message")
    if raw.startswith(b"\xd0\xcf\x11\xe0"):
        raise Rejected("an Outlook .msg (OLE) file, not MIME mail: forward it as an attachment instead")
    try:
        msg: Message = email.message_from_bytes(raw, policy=policy.compat32)
    except Exception as exc:
        raise Rejected(f"unreadable MIME: {type(exc).__name__}: {exc}"[:500]) from None
    if len(msg.keys()) > limits.max_headers:
        raise Rejected(f"more than {limits.max_headers} header fields")
    if not msg.keys():
        raise Rejected("no header fields: the data does not start with a mail header")
    parts = walk_parts(msg, limits, 0, [0])
    senders = addresses_of(msg, "from") or addresses_of(msg, "sender")
    from_name, from_address = senders[0] if senders else ("", "")
    text_body, html_body = bodies_of(msg, parts)
    if len(text_body) > limits.max_body_chars or len(html_body) > limits.max_body_chars * 2:
        raise Rejected(f"body longer than {limits.max_body_chars} characters")
    attachments = attachments_of(msg, parts)
    ids = message_ids(header_text(msg, "message-id"))
    headers = {name: header_text(msg, name) for name in _LOOP_HEADERS if name in msg}
    auth = raw_all(msg, "authentication-results")[:20]
    return ParsedMail(
        message_id=ids[0] if ids else "",
        subject=header_text(msg, "subject")[:500],
        from_name=from_name,
        from_address=from_address,
        reply_to=[a for _, a in addresses_of(msg, "reply-to")],
        to=[a for _, a in addresses_of(msg, "to")][:200],
        cc=[a for _, a in addresses_of(msg, "cc")][:200],
        in_reply_to=message_ids(header_text(msg, "in-reply-to")),
        references=message_ids(header_text(msg, "references")),
        text=text_body,
        html=html_body,
        parts=attachments,
        headers=headers,
        dsn=dsn_of(parts, msg),
        auth_results=auth,
    )
