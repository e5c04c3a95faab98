"""Article text: markdown rendered by markdown-it-py (raw HTML off) and then sanitized by the same
nh3 rules as every other stored HTML; plain text for search; slugs; excerpts with highlighted matches."""

from __future__ import annotations

import html
import re
import unicodedata
from functools import cache

from markdown_it import MarkdownIt
from markupsafe import Markup

from helpline.domains.tickets.content import html_to_text, sanitize_html

_WORD = re.compile(r"\w+", re.UNICODE)
_SLUG_DROP = re.compile(r"[^a-z0-9]+")

#: PostgreSQL text-search configuration per language (the stemmer); anything else is "simple".
PG_CONFIG = {
    "da": "danish", "de": "german", "en": "english", "es": "spanish", "fi": "finnish", "fr": "french",
    "hu": "hungarian", "it": "italian", "nl": "dutch", "no": "norwegian", "nb": "norwegian",
    "pt": "portuguese", "ro": "romanian", "ru": "russian", "sv": "swedish", "tr": "turkish",
}  # fmt: skip

#: Language names shown in the language switcher (their own name, so a reader finds theirs).
LANGUAGE_NAMES = {
    "da": "Dansk", "de": "Deutsch", "en": "English", "es": "Español", "fi": "Suomi", "fr": "Français",
    "it": "Italiano", "nl": "Nederlands", "no": "Norsk", "pt": "Português", "pt-BR": "Português (Brasil)",
    "ru": "Русский", "sv": "Svenska", "tr": "Türkçe", "ja": "日本語", "zh": "中文",
}  # fmt: skip


def pg_config(locale: str) -> str:
    return PG_CONFIG.get(locale.split("-")[0].lower(), "simple")


def language_name(locale: str) -> str:
    return LANGUAGE_NAMES.get(locale) or LANGUAGE_NAMES.get(locale.split("-")[0], locale)


@cache
def _md() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")


def render_markdown(source: str) -> tuple[str, str]:
    """(sanitized HTML, plain text) of ``source``. Raw HTML in the markdown is shown as text."""
    safe = sanitize_html(_md().render(source or ""))
    return safe, html_to_text(safe)


def slugify(title: str) -> str:
    ascii_ = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    return _SLUG_DROP.sub("-", ascii_).strip("-")[:80] or "article"


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def chunks(title: str, text: str, limit: int = 64) -> list[str]:
    """What the sentence model embeds: the title, then each paragraph or list item of two words or more."""
    out = [title.strip()]
    for line in text.splitlines():
        line = line.strip(" -*\t")
        if len(line.split()) >= 2 and line not in out:
            out.append(line[:500])
        if len(out) >= limit:
            break
    return out


def _stem(word: str) -> str:
    """A crude prefix "stem" for highlighting only (refund, refunds, refunded all mark)."""
    return word if len(word) <= 4 else word[: max(4, len(word) - 3)]


def excerpt(text: str, query_words: list[str], length: int = 180) -> Markup:
    """About ``length`` characters of ``text`` around the first query word, escaped, matches in <mark>."""
    stems = sorted({_stem(w) for w in query_words if len(w) > 2}, key=len, reverse=True)
    text = " ".join(text.split())
    pattern = (
        re.compile(r"\b(" + "|".join(re.escape(s) for s in stems) + r")\w*", re.IGNORECASE) if stems else None
    )
    start = 0
    if pattern and (m := pattern.search(text)):
        start = max(0, m.start() - length // 3)
        if start:
            space = text.find(" ", start)
            start = space + 1 if 0 <= space < m.start() else start
    piece = text[start : start + length]
    if start + length < len(text):
        piece = piece.rsplit(" ", 1)[0] + " …"
    if start:
        piece = "… " + piece
    if pattern is None:
        return Markup(html.escape(piece))  # noqa: S704 (escaped)
    out, last = [], 0
    for m in pattern.finditer(piece):
        out.append(html.escape(piece[last : m.start()]))
        out.append("<mark>" + html.escape(m.group(0)) + "</mark>")
        last = m.end()
    out.append(html.escape(piece[last:]))
    return Markup("".join(out))  # noqa: S704 (every piece escaped)
