"""Fold the quoted history and the signature of an email into a collapsed ``<details>``.

A reply from a mail client carries the earlier conversation (Gmail's ``gmail_quote``, Apple Mail's
and Thunderbird's ``<blockquote type="cite">``, Outlook's ``divRplyFwdMsg`` or "From: … Sent: …"
header, ``>`` lines in plain text) and often a signature (after a ``-- `` line, ``gmail_signature``,
``moz-signature``, Apple's ``AppleMailSignature``, Outlook's ``Signature``). Agents read the new part
first; the rest stays one click (or Enter) away inside ``<details><summary>Show quoted text</summary>``.

Only what *trails* the new text is folded (everything from the first quote or signature after which
nothing new was written), plus a quote that *leads* the message when it is the only one (a
bottom-posted reply). Quotes between the sender's own paragraphs (an inline answer) stay open: they
are the questions being answered. A message that is nothing but a quote is left as it is, and so is a
forward (its "quote" is the point).

Folding happens once, when the mail is processed (``process.render``), not on every page view: the
stored HTML is what the ticket page and the portal both show, no page parses mail HTML, and messages
are append-only, so what was stored before this existed is shown as it was.

Pure functions, no I/O. :func:`fold_html` works on untrusted HTML and returns HTML that the caller
must still sanitize (``tickets.content.sanitize_html`` keeps ``details``/``summary``).

- ``_patterns``: what clients' markup and text lines look like (``is_forward``)
- ``_tree``: a small tree over normalized HTML
- ``_html``: ``fold_html``
- ``_text``: ``split_text``, ``text_to_html``, ``without_summaries``
"""

from helpline.domains.channels.email.quotes._html import fold_html
from helpline.domains.channels.email.quotes._patterns import MAX_DEPTH, SUMMARY, SUMMARY_HTML, is_forward
from helpline.domains.channels.email.quotes._text import split_text, text_to_html, without_summaries

__all__ = [
    "MAX_DEPTH",
    "SUMMARY",
    "SUMMARY_HTML",
    "fold_html",
    "is_forward",
    "split_text",
    "text_to_html",
    "without_summaries",
]
