"""Raw MIME bytes → :class:`ParsedMail`, with the standard library's ``email`` package.

Real mail is often broken: wrong or missing charsets, undecodable RFC 2047 words, RFC 2231 filenames,
raw 8-bit header text. Every read here falls back instead of raising; what cannot be read at all, or
breaks a limit, raises :class:`Rejected` with a reason a person can act on.

The message is parsed with the ``compat32`` policy, which keeps header values as the raw strings the
message carried; this module decodes them itself (raw 8-bit text, RFC 2047 words, display names after
the address list is split). The modern policy parses every header into objects on each read, which
cost about three quarters of the parsing time, for nothing we use.

Text whose bytes do not fit its label (UTF-8 or Windows-1252 under ``us-ascii`` or no label, bytes
invalid in an encoded word's charset) is read as UTF-8 when it is UTF-8, else in the charset
``charset_normalizer`` finds (:func:`_decode_bytes`); a label the bytes fit is always kept.
"""

from __future__ import annotations

import codecs
import contextlib
import email
import email.header
import email.utils
import re
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage, Message
from typing import Any

import charset_normalizer

from helpline.domains.tickets import content


class Rejected(Exception):
    """The message cannot be taken in; ``str(exc)`` says why (it goes on the failed-mail list)."""


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 25 * 1024 * 1024
    max_parts: int = 500
    max_depth: int = 20
    max_headers: int = 1000
    max_body_chars: int = 2_000_000


@dataclass
class Part:
    filename: str
    content_type: str
    data: bytes
    content_id: str = ""
    inline: bool = False


@dataclass
class ParsedMail:
    message_id: str  # without angle brackets; "" when absent
    subject: str
    from_name: str
    from_address: str
    reply_to: list[str]
    to: list[str]
    cc: list[str]
    in_reply_to: list[str]
    references: list[str]
    text: str
    html: str  # raw HTML of the body (unsanitized); callers sanitize
    parts: list[Part] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased names of the loop-relevant headers
    dsn: dict[str, Any] | None = None  # a delivery status notification: recipients, status, original id
    auth_results: list[str] = field(default_factory=list)


_MSGID = re.compile(r"<([^<>\s]{1,250})>")
_UNFOLD = re.compile(r"\r?\n")
_SURROGATE = re.compile("[\udc80-\udcff]")
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


def _raw_all(msg: Message, name: str) -> list[str]:
    """Every value of header ``name`` as the message carried it (unfolded; 8-bit text decoded)."""
    name = name.lower()
    return [
        _eight_bit(_UNFOLD.sub("", v)) for k, v in msg.raw_items() if k.lower() == name and isinstance(v, str)
    ]


def _eight_bit(text: str) -> str:
    """Raw 8-bit bytes in a header (surrogate-escaped by the parser), read as unlabelled text."""
    if not _SURROGATE.search(text):
        return text
    return _decode_bytes(text.encode("ascii", "surrogateescape"), None)


def header_text(msg: Message, name: str) -> str:
    """The first ``name`` header's decoded text (raw 8-bit bytes and RFC 2047 words), unfolded, or
    "" — never raises, whatever the header holds. ``msg`` is parsed with the ``compat32`` policy."""
    values = _raw_all(msg, name)
    if not values:
        return ""
    text = values[0]
    if "=?" in text:
        text = _decode_words(text)
    return " ".join(text.split())[:2000]


def _decode_words(text: str) -> str:
    """RFC 2047 encoded words decoded; a word whose bytes do not fit its declared charset is read
    like any mislabelled text (:func:`_decode_bytes`)."""
    try:
        chunks = email.header.decode_header(text)
    except Exception:
        return text
    out = []
    for data, charset in chunks:
        if isinstance(data, str):
            out.append(data)
        elif charset is None:
            out.append(_unencoded(data))
        else:
            out.append(_decode_bytes(data, charset))
    return "".join(out)


def _unencoded(data: bytes) -> str:
    """Text between encoded words: ``decode_header`` hands it back as ``raw-unicode-escape`` bytes
    (it was text already); undo exactly that, not a charset guess."""
    try:
        return data.decode("raw-unicode-escape")
    except UnicodeDecodeError:  # a literal backslash-u in the text
        return data.decode("latin-1")


#: The charsets detection may answer: those mail is still written in. Left to every codec Python
#: knows, detection reads short Latin text as EBCDIC or UTF-16; cp1258 and cp874 are left out as
#: they read Western text as Vietnamese combining marks or CJK and Cyrillic text as Thai.
_DETECTABLE = [
    "cp1252", "iso8859_15", "cp1250", "iso8859_2", "cp1251", "koi8_r", "koi8_u", "iso8859_5",
    "cp1253", "iso8859_7", "cp1254", "cp1255", "cp1256", "cp1257",
    "shift_jis", "cp932", "euc_jp", "iso2022_jp", "gb18030", "big5", "euc_kr",
]  # fmt: skip
#: Chosen whenever it reads as cleanly as detection's best: what a us-ascii, Latin-1 or missing label
#: most often hides (WHATWG decodes those labels as it), and detection cannot tell it from the
#: other Latin code pages by their letters (its coherence scores between them are noise).
_PREFERRED = "cp1252"
#: At most one bad sequence per this many good non-ASCII characters is still UTF-8 (a truncated or
#: damaged part), read with the bad bytes replaced rather than guessed at.
_UTF8_GOOD_PER_BAD = 20


def _decode_bytes(data: bytes, charset: str | None) -> str:
    """``data`` as its declared charset says, when it decodes strictly under it (so a ``us-ascii``
    label, or none, holds only for 7-bit bytes). Otherwise the label lies: strict UTF-8 (or UTF-8
    with a rare bad byte), then the charset ``charset_normalizer`` finds, then the declared charset
    (else UTF-8) with bad bytes replaced. Never raises."""
    declared = _codec(charset) if charset else "ascii"
    for codec in (declared, "utf-8"):
        if codec:
            with contextlib.suppress(UnicodeError):
                return data.decode(codec)
    found = _mostly_utf8(data) or _detect(data)
    if found is not None:
        return found
    with contextlib.suppress(UnicodeError):  # a few codecs cannot replace
        return data.decode(declared or "utf-8", "replace")
    return data.decode("utf-8", "replace")


def _codec(charset: str) -> str | None:
    """Python's text codec for a charset label; None for a label it does not know as a text codec."""
    try:
        info = codecs.lookup(charset.strip().strip('"'))
    except (LookupError, ValueError):
        return None
    # Not bytes-to-bytes codecs (base64, zlib…), which ``bytes.decode`` refuses with LookupError.
    return info.name if getattr(info, "_is_text_encoding", True) else None


def _mostly_utf8(data: bytes) -> str | None:
    """UTF-8 with its few bad bytes replaced, when nearly all of its non-ASCII text is valid UTF-8."""
    text = data.decode("utf-8", "replace")
    bad = text.count("\ufffd")
    good = sum(1 for c in text if c > "\x7f") - bad
    return text if good >= _UTF8_GOOD_PER_BAD * bad else None


def _detect(data: bytes) -> str | None:
    """``data`` decoded in the charset detection finds (``_PREFERRED`` when it reads as cleanly);
    None when nothing fits."""
    try:
        matches = charset_normalizer.from_bytes(data, cp_isolation=_DETECTABLE)
    except Exception:  # third-party code on hostile bytes: a guess is never worth a failed mail
        return None
    best = matches.best()
    if best is None:
        return None
    if any(_PREFERRED in m.could_be_from_charset and m.chaos <= best.chaos for m in matches):
        return data.decode(_PREFERRED)
    return str(best)


def _addresses(msg: Message, name: str) -> list[tuple[str, str]]:
    """(display name, lower-cased address) pairs; the list is split before names are decoded, so an
    encoded name holding a comma stays one name."""
    out: list[tuple[str, str]] = []
    try:
        pairs = email.utils.getaddresses(_raw_all(msg, name))
    except Exception:
        return []
    for display, addr in pairs:
        addr = addr.strip().strip("<>").lower()
        if "=?" in display:
            display = _decode_words(display)
        if "@" in addr and " " not in addr and len(addr) <= 320:
            out.append((" ".join(display.split())[:200], addr))
    return out


def message_ids(value: str) -> list[str]:
    return [m.group(1) for m in _MSGID.finditer(value or "")][:100]


def _walk(msg: Message, limits: Limits, depth: int, counter: list[int]) -> list[Message]:
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
                    out.extend(_walk(sub, limits, depth + 1, counter))
    return out


def _content_type(part: Message) -> str:
    try:
        return part.get_content_type()
    except Exception:
        return "application/octet-stream"


def _filename(part: Message) -> str:
    try:
        name = part.get_filename()  # RFC 2231 parameters are decoded here
    except Exception:
        name = None
    if name and "\ufffd" in name:
        # Raw 8-bit bytes in the header: compat32 replaced them; read its decoded text instead.
        tidy = Message()
        for header in ("content-disposition", "content-type"):
            for value in _raw_all(part, header)[:1]:
                tidy[header] = value
        with contextlib.suppress(Exception):
            name = tidy.get_filename() or name
    if name and "=?" in name:
        name = _decode_words(name)
    return content.clean_filename(name) if name else ""


def _payload_bytes(part: Message) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if isinstance(data, bytes):
        return data
    raw = part.get_payload()
    return raw.encode("utf-8", "replace") if isinstance(raw, str) else b""


def _text(part: Message) -> str:
    """A text part's content, decoded by :func:`_decode_bytes`; never raises."""
    data = _payload_bytes(part)
    try:
        charset = part.get_content_charset()
    except Exception:
        charset = None
    return _decode_bytes(data, charset)


def _dsn(parts: list[Message], top: Message) -> dict[str, Any] | None:
    """A delivery report's fields (RFC 3464): ``recipients`` it names, ``failed`` (those whose
    action is ``failed``), the first failure's ``status`` / ``action`` / ``diagnostic``, and the ids it
    gives for the reported message: ``original_message_id`` (the returned message's or headers'
    Message-ID) and ``envelope_id`` (``Original-Envelope-Id``). None when it is not a report."""
    if _content_type(top) != "multipart/report":
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
        ctype = _content_type(part)
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
    texts = [str(s) for s in sub] if isinstance(sub, list) else re.split(r"\r?\n[ \t]*\r?\n", _text(part))
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
        found = re.search(r"(?im)^message-id:\s*(.*)$", _text(part))
        ids = message_ids(found.group(1)) if found else []
    return ids[0] if ids else ""


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
    parts = _walk(msg, limits, 0, [0])
    senders = _addresses(msg, "from") or _addresses(msg, "sender")
    from_name, from_address = senders[0] if senders else ("", "")
    text_body, html_body = _bodies(msg, parts)
    if len(text_body) > limits.max_body_chars or len(html_body) > limits.max_body_chars * 2:
        raise Rejected(f"body longer than {limits.max_body_chars} characters")
    attachments = _attachments(msg, parts)
    ids = message_ids(header_text(msg, "message-id"))
    headers = {name: header_text(msg, name) for name in _LOOP_HEADERS if name in msg}
    auth = _raw_all(msg, "authentication-results")[:20]
    return ParsedMail(
        message_id=ids[0] if ids else "",
        subject=header_text(msg, "subject")[:500],
        from_name=from_name,
        from_address=from_address,
        reply_to=[a for _, a in _addresses(msg, "reply-to")],
        to=[a for _, a in _addresses(msg, "to")][:200],
        cc=[a for _, a in _addresses(msg, "cc")][:200],
        in_reply_to=message_ids(header_text(msg, "in-reply-to")),
        references=message_ids(header_text(msg, "references")),
        text=text_body,
        html=html_body,
        parts=attachments,
        headers=headers,
        dsn=_dsn(parts, msg),
        auth_results=auth,
    )


def _is_attachment(part: Message) -> bool:
    try:
        disposition = part.get_content_disposition()
    except Exception:
        disposition = None
    return disposition == "attachment" or (
        disposition is None and not _content_type(part).startswith("text/") and bool(_filename(part))
    )


def _bodies(msg: Message, parts: list[Message]) -> tuple[str, str]:
    """The first text/plain and text/html parts that are not attachments, outside nested messages."""
    text, html = "", ""
    nested: set[int] = set()
    for part in parts:
        if id(part) in nested:
            continue
        ctype = _content_type(part)
        if ctype == "message/rfc822" or (
            part.is_multipart() and part is not msg and ctype.startswith("message/")
        ):
            for sub in part.walk():
                if sub is not part:
                    nested.add(id(sub))
            continue
        if part.is_multipart() or _is_attachment(part):
            continue
        if ctype == "text/plain" and not text:
            text = _text(part)
        elif ctype == "text/html" and not html:
            html = _text(part)
    if not text and not html and not msg.is_multipart() and _content_type(msg).startswith("text/"):
        text = _text(msg)
    return text.replace("\r\n", "\n").strip(), html


def _attachments(msg: Message, parts: list[Message]) -> list[Part]:
    out: list[Part] = []
    for part in parts:
        if part is msg or part.is_multipart():
            continue
        ctype = _content_type(part)
        if ctype in ("text/plain", "text/html") and not _is_attachment(part):
            continue  # a body, not a file
        cid = message_ids(header_text(part, "content-id"))
        name = _filename(part)
        if ctype == "message/rfc822":
            sub = part.get_payload()
            inner = sub[0] if isinstance(sub, list) and sub else None
            data = inner.as_bytes() if isinstance(inner, EmailMessage | Message) else _payload_bytes(part)
            out.append(Part(name or "message.eml", "message/rfc822", data))
            continue
        if ctype.startswith("multipart/") or ctype == "message/delivery-status":
            continue
        data = _payload_bytes(part)
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
