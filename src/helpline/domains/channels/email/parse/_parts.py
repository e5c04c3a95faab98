"""The MIME parts of a message: walked within the limits, read without raising, sorted into the
bodies and the files."""

from __future__ import annotations

import contextlib
from email.message import EmailMessage, Message

from helpline.domains.channels.email.parse._headers import (
    decode_bytes,
    decode_words,
    header_text,
    message_ids,
    raw_all,
)
from helpline.domains.channels.email.parse._model import Limits, Part, Rejected
from helpline.domains.tickets import content


def walk_parts(msg: Message, limits: Limits, depth: int, counter: list[int]) -> list[Message]:
    if depth > limits.max_depth:
        raise Rejected(f"MIME nesting deeper than {limits.max_depth} levels")
    counter[0] += 1
    if counter[0] > limits.max_parts:
        raise Rejected(f"more than {limits.max_parts} MIME parts")
    out = [msg]
    if msg.is_multipart():
        payload = msg.get_payload()
        if isinstance(payload, list):
            for sub in payload:
                if isinstance(sub, Message):
                    out.extend(walk_parts(sub, limits, depth + 1, counter))
    return out


def content_type_of(part: Message) -> str:
    try:
        return part.get_content_type()
    except Exception:
        return "application/octet-stream"


def filename_of(part: Message) -> str:
    try:
        name = part.get_filename()  # RFC 2231 parameters are decoded here
    except Exception:
        name = None
    if name and "\ufffd" in name:
        # Raw 8-bit bytes in the header: compat32 replaced them; read its decoded text instead.
        tidy = Message()
        for header in ("content-disposition", "content-type"):
            for value in raw_all(part, header)[:1]:
                tidy[header] = value
        with contextlib.suppress(Exception):
            name = tidy.get_filename() or name
    if name and "=?" in name:
        name = decode_words(name)
    return content.clean_filename(name) if name else ""


def payload_bytes(part: Message) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if isinstance(data, bytes):
        return data
    raw = part.get_payload()
    return raw.encode("utf-8", "replace") if isinstance(raw, str) else b""


def text_of(part: Message) -> str:
    """A text part's content, decoded by :func:`decode_bytes`; never raises."""
    data = payload_bytes(part)
    try:
        charset = part.get_content_charset()
    except Exception:
        charset = None
    return decode_bytes(data, charset)


def is_attachment(part: Message) -> bool:
    try:
        disposition = part.get_content_disposition()
    except Exception:
        disposition = None
    return disposition == "attachment" or (
        disposition is None and not content_type_of(part).startswith("text/") and bool(filename_of(part))
    )


def bodies_of(msg: Message, parts: list[Message]) -> tuple[str, str]:
    """The first text/plain and text/html parts that are not attachments, outside nested messages."""
    text, html = "", ""
    nested: set[int] = set()
    for part in parts:
        if id(part) in nested:
            continue
        ctype = content_type_of(part)
        if ctype == "message/rfc822" or (
            part.is_multipart() and part is not msg and ctype.startswith("message/")
        ):
            for sub in part.walk():
                if sub is not part:
                    nested.add(id(sub))
            continue
        if part.is_multipart() or is_attachment(part):
            continue
        if ctype == "text/plain" and not text:
            text = text_of(part)
        elif ctype == "text/html" and not html:
            html = text_of(part)
    if not text and not html and not msg.is_multipart() and content_type_of(msg).startswith("text/"):
        text = text_of(msg)
    return text.replace("\r\n", "\n").strip(), html


def attachments_of(msg: Message, parts: list[Message]) -> list[Part]:
    out: list[Part] = []
    for part in parts:
        if part is msg or part.is_multipart():
            continue
        ctype = content_type_of(part)
        if ctype in ("text/plain", "text/html") and not is_attachment(part):
            continue  # a body, not a file
        cid = message_ids(header_text(part, "content-id"))
        name = filename_of(part)
        if ctype == "message/rfc822":
            sub = part.get_payload()
            inner = sub[0] if isinstance(sub, list) and sub else None
            data = inner.as_bytes() if isinstance(inner, EmailMessage | Message) else payload_bytes(part)
            out.append(Part(name or "message.eml", "message/rfc822", data))
            continue
        if ctype.startswith("multipart/") or ctype == "message/delivery-status":
            continue
        data = payload_bytes(part)
        if not data:
            continue
        out.append(
            Part(
                name or ("inline" if cid else "attachment"),
                ctype,
                data,
                content_id=cid[0] if cid else "",
                inline=bool(cid) and ctype.startswith("image/"),
            )
        )
    return out
