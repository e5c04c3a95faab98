"""The patterns by which mail clients mark quotes, signatures, attributions and forwards."""

from __future__ import annotations

import re

SUMMARY = "Show quoted text"
SUMMARY_HTML = f"<summary>{SUMMARY}</summary>"

#: Void elements: never closed, never have children.
VOID = {"br", "hr", "img", "wbr", "area", "col", "embed", "input", "source", "track"}
#: Elements that start a new line of text.
BLOCK = {
    "p",
    "div",
    "blockquote",
    "li",
    "ul",
    "ol",
    "pre",
    "table",
    "tr",
    "td",
    "th",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "details",
    "summary",
}
#: Deeper than this, the HTML is left unfolded (a pathological nesting is not worth the recursion).
MAX_DEPTH = 300

#: Forwarding subject prefixes: English, German (WG), French (TR), Spanish (RV), Italian (I),
#: Portuguese (ENC), Swedish (VB), Finnish/Norwegian (VS), Polish (PD), Dutch (Doorst).
FORWARD = re.compile(r"^\s*(fwd?|wg|tr|rv|i|enc|vb|vs|pd|doorst)\s*:", re.I)
#: A forwarded message's own header line (Gmail, Apple Mail, Thunderbird, Outlook, in a few languages).
FORWARDED = re.compile(
    r"forwarded message|weitergeleitete nachricht|message transféré|mensaje reenviado|"
    r"messaggio inoltrato|doorgestuurd bericht|mensagem encaminhada|vidarebefordrat meddelande",
    re.I,
)
WS = re.compile(r"[\s\u00a0\u200b\u200c\u200d\ufeff]+")
#: "On Mon, 8 Jan 2024 at 10:02, Bob <bob@example.com> wrote:" and its translations.
ATTRIBUTION_LINE = re.compile(
    r"(wrote|writes|schrieb|a\s+écrit|escribió|escreveu|schreef|ha\s+scritto|skrev|kirjoitti|"
    r"napsal|napisał|napisal|написал|написала|yazd\u0131)\s*:?\s*$",
    re.I,
)
ATTRIBUTION_START = re.compile(r"^\s*(on|am|le|el|em|op|il|den|dne|w\s+dniu|в)\b", re.I)
FROM_LINE = re.compile(r"^\s*(from|von|de|da|van|från|fra|od|от)\s?:", re.I)
SENT_LINE = re.compile(
    r"^\s*(sent|date|gesendet|datum|envoyé|enviado|fecha|inviato|data|verzonden|skickat|sendt|"
    r"wysłano|отправлено)\s?:",
    re.I,
)
TEXT_DIVIDER = re.compile(
    r"^\s*(-{2,}\s*(original message|ursprüngliche nachricht|message d'origine|mensaje original|"
    r"messaggio originale|oorspronkelijk bericht)\s*-{2,}|_{10,})\s*$",
    re.I,
)
SIG_DELIMITER = re.compile(r"^--\s?$")
QUOTE_LINE = re.compile(r"^\s*>")
#: Cheap test on normalized HTML: without one of these there is nothing to fold.
MAYBE = re.compile(
    r"gmail_quote|gmail_signature|type=\"cite\"|moz-cite-prefix|moz-signature|divRplyFwdMsg|"
    r"appendonsend|AppleMailSignature|OutlookMessageHeader|yahoo_quoted|id=\"Signature\"|"
    r"signature|--|__________|wrote|\b(from|von|de|da|van|från|fra|od|от)\s?:",
    re.I,
)


def is_forward(subject: str) -> bool:
    """Whether a subject says the mail forwards another (its quoted part is then the content)."""
    return bool(FORWARD.match(subject or ""))


QUOTE, SIGNATURE, ATTRIBUTION, DIVIDER = "quote", "signature", "attribution", "divider"
