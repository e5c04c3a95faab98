"""Delivery status notifications (RFC 3464): which recipients a report names, which failed, and the
ids it gives for the message it reports on."""

from __future__ import annotations

import re
from email.message import Message
from typing import Any

from helpline.domains.channels.email.parse._headers import header_text, message_ids
from helpline.domains.channels.email.parse._parts import content_type_of, text_of


def dsn_of(parts: list[Message], top: Message) -> dict[str, Any] | None:
    """A delivery report's fields (RFC 3464): ``recipients`` it names, ``failed`` (those whose
    action is ``failed``), the first failure's ``status`` / ``action`` / ``diagnostic``, and the ids it
    gives for the reported message: ``original_message_id`` (the returned message's or headers'
    Message-ID) and ``envelope_id`` (``Original-Envelope-Id``). None when it is not a report."""
    if content_type_of(top) != "multipart/report":
        return None
    info: dict[str, Any] = {
        "recipients": [],
        "failed": [],
        "status": "",
        "action": "",
        "diagnostic": "",
        "original_message_id": "",
        "envelope_id": "",
    }
    for part in parts:
        ctype = content_type_of(part)
        if ctype == "message/delivery-status":
            for block in _dsn_blocks(part):
                _add_dsn_block(info, block)
        elif ctype in _RETURNED and not info["original_message_id"]:
            info["original_message_id"] = _returned_id(part)
    return info


_RETURNED = ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers")
_XTEXT = re.compile(r"\+([0-9A-Fa-f]{2})")
_FOLD = re.compile(r"\r?\n[ \t]+")


def _dsn_blocks(part: Message) -> list[dict[str, str]]:
    """The field blocks of a ``message/delivery-status`` part (the message's, then one per
    recipient): the first value of each lower-cased field name, folded lines joined."""
    sub = part.get_payload()
    texts = [str(s) for s in sub] if isinstance(sub, list) else re.split(r"\r?\n[ \t]*\r?\n", text_of(part))
    blocks = []
    for text in texts[:100]:
        fields: dict[str, str] = {}
        for line in _FOLD.sub(" ", text).splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip().lower(), value.strip())
        blocks.append(fields)
    return blocks


def _add_dsn_block(info: dict[str, Any], fields: dict[str, str]) -> None:
    if fields.get("original-envelope-id") and not info["envelope_id"]:
        envid = _XTEXT.sub(lambda m: chr(int(m.group(1), 16)), fields["original-envelope-id"])
        info["envelope_id"] = envid.strip().strip("<>")[:250]
    named = [
        addr
        for key in ("original-recipient", "final-recipient")
        if (addr := fields.get(key, "").split(";", 1)[-1].strip().strip("<>").lower())
    ]
    if not named:
        return
    action = fields.get("action", "").lower()[:20]
    failing = action in ("failed", "")
    for addr in named:
        if addr not in info["recipients"]:
            info["recipients"].append(addr)
        if failing and addr not in info["failed"]:
            info["failed"].append(addr)
    if not info["action"] or (failing and info["action"] not in ("failed", "")):
        info["action"] = action
        info["status"] = fields.get("status", "")[:20]
        info["diagnostic"] = fields.get("diagnostic-code", "")[:500]


def _returned_id(part: Message) -> str:
    """The Message-ID of the message (or its headers) a report returns; "" when none."""
    sub = part.get_payload()
    inner = sub[0] if isinstance(sub, list) and sub else None
    if isinstance(inner, Message):
        ids = message_ids(header_text(inner, "message-id"))
    else:
        found = re.search(r"(?im)^message-id:\s*(.*)$", text_of(part))
        ids = message_ids(found.group(1)) if found else []
    return ids[0] if ids else ""
