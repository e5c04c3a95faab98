"""Header fields and text in charsets that lie: raw 8-bit header text, RFC 2047 encoded words,
address lists, Message-IDs, and bytes whose label does not fit them (:func:`decode_bytes`)."""

from __future__ import annotations

import codecs
import contextlib
import email
import email.header
import email.utils
import re
from email.message import Message

import charset_normalizer

_MSGID = re.compile(r"<([^<>\s]{1,250})>")
_UNFOLD = re.compile(r"\r?\n")
_SURROGATE = re.compile("[\udc80-\udcff]")


def raw_all(msg: Message, name: str) -> list[str]:
    """Every value of header ``name`` as the message carried it (unfolded; 8-bit text decoded)."""
    name = name.lower()
    return [
        _eight_bit(_UNFOLD.sub("", v)) for k, v in msg.raw_items() if k.lower() == name and isinstance(v, str)
    ]


def _eight_bit(text: str) -> str:
    """Raw 8-bit bytes in a header (surrogate-escaped by the parser), read as unlabelled text."""
    if not _SURROGATE.search(text):
        return text
    return decode_bytes(text.encode("ascii", "surrogateescape"), None)


def header_text(msg: Message, name: str) -> str:
    """The first ``name`` header's decoded text (raw 8-bit bytes and RFC 2047 words), unfolded, or
    "" — never raises, whatever the header holds. ``msg`` is parsed with the ``compat32`` policy."""
    values = raw_all(msg, name)
    if not values:
        return ""
    text = values[0]
    if "=?" in text:
        text = decode_words(text)
    return " ".join(text.split())[:2000]


def decode_words(text: str) -> str:
    """RFC 2047 encoded words decoded; a word whose bytes do not fit its declared charset is read
    like any mislabelled text (:func:`decode_bytes`)."""
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
            out.append(decode_bytes(data, charset))
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


def decode_bytes(data: bytes, charset: str | None) -> str:
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


def addresses_of(msg: Message, name: str) -> list[tuple[str, str]]:
    """(display name, lower-cased address) pairs; the list is split before names are decoded, so an
    encoded name holding a comma stays one name."""
    out: list[tuple[str, str]] = []
    try:
        pairs = email.utils.getaddresses(raw_all(msg, name))
    except Exception:
        return []
    for display, addr in pairs:
        addr = addr.strip().strip("<>").lower()
        if "=?" in display:
            display = decode_words(display)
        if "@" in addr and " " not in addr and len(addr) <= 320:
            out.append((" ".join(display.split())[:200], addr))
    return out


def message_ids(value: str) -> list[str]:
    return [m.group(1) for m in _MSGID.finditer(value or "")][:100]
