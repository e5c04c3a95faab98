"""Folding a plain-text body: its leading quote, the sender's own text, and the trailing quote and
signature, each made HTML."""

from __future__ import annotations

from helpline.domains.channels.email.quotes._patterns import (
    ATTRIBUTION,
    ATTRIBUTION_LINE,
    ATTRIBUTION_START,
    DIVIDER,
    FORWARDED,
    FROM_LINE,
    QUOTE,
    QUOTE_LINE,
    SENT_LINE,
    SIG_DELIMITER,
    SUMMARY_HTML,
    TEXT_DIVIDER,
)
from helpline.domains.tickets import content


def split_text(text: str) -> tuple[str, str, str]:
    """(leading quote, the sender's own text, trailing quote and signature) of a plain-text body."""
    lines = text.replace("\r\n", "\n").split("\n")

    def kind(i: int) -> str:
        line = lines[i]
        stripped = line.strip()
        if not stripped:
            return "empty"
        if QUOTE_LINE.match(line):
            return QUOTE
        if SIG_DELIMITER.match(line.rstrip("\n")) or TEXT_DIVIDER.match(stripped):
            return DIVIDER
        if FROM_LINE.match(stripped) and any(SENT_LINE.match(x) for x in lines[i + 1 : i + 5]):
            return DIVIDER
        if len(stripped) <= 400 and ATTRIBUTION_LINE.search(stripped):
            return ATTRIBUTION
        return ""

    kinds = [kind(i) for i in range(len(lines))]
    # "On Mon, 8 Jan 2024 at 10:02, Bob <bob@example.com>" / "wrote:" (wrapped at 78 characters)
    for i in range(1, len(lines)):
        if (
            kinds[i] == ATTRIBUTION
            and kinds[i - 1] == ""
            and ATTRIBUTION_LINE.match(lines[i].strip())
            and ATTRIBUTION_START.match(lines[i - 1])
        ):
            kinds[i - 1] = ATTRIBUTION
    end = next((i for i, k in enumerate(kinds) if k == DIVIDER), len(lines))
    last_real = max((i for i in range(end) if kinds[i] == ""), default=-1)
    cut = len(lines)
    if last_real >= 0:
        start = last_real + 1
        while start < len(lines) and kinds[start] == "empty":
            start += 1
        forwarded = FORWARDED.search("\n".join([lines[last_real], *lines[start : start + 3]]))
        if not forwarded and (end < len(lines) or any(k == QUOTE for k in kinds[start:end])):
            cut = start
    first_real = next((i for i, k in enumerate(kinds) if k == ""), None)
    lead = 0
    if (
        first_real is not None
        and first_real < cut
        and any(k == QUOTE for k in kinds[:first_real])
        and not any(k == QUOTE for k in kinds[first_real:cut])
    ):
        lead = first_real
    return "\n".join(lines[:lead]), "\n".join(lines[lead:cut]), "\n".join(lines[cut:])


def _folded(inner_html: str) -> str:
    return f"<details>{SUMMARY_HTML}{inner_html}</details>"


def text_to_html(text: str) -> str:
    """A plain-text body as HTML (``tickets.content.text_to_html``), its quotes and signature folded."""
    lead, own, tail = split_text(text)
    if not own.strip():
        return content.text_to_html(text)
    out = ""
    if lead.strip():
        out += _folded(content.text_to_html(lead))
    out += content.text_to_html(own)
    if tail.strip():
        out += _folded(content.text_to_html(tail))
    return out


def without_summaries(html: str) -> str:
    """``html`` without the "Show quoted text" labels this module added (to derive plain text)."""
    return html.replace(SUMMARY_HTML, "")
