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
"""

from __future__ import annotations

import html as htmllib
import re
from dataclasses import dataclass, field

from helpline.domains.tickets import content

SUMMARY = "Show quoted text"
SUMMARY_HTML = f"<summary>{SUMMARY}</summary>"

#: Void elements: never closed, never have children.
_VOID = {"br", "hr", "img", "wbr", "area", "col", "embed", "input", "source", "track"}
#: Elements that start a new line of text.
_BLOCK = {
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
_FORWARD = re.compile(r"^\s*(fwd?|wg|tr|rv|i|enc|vb|vs|pd|doorst)\s*:", re.I)
#: A forwarded message's own header line (Gmail, Apple Mail, Thunderbird, Outlook, in a few languages).
_FORWARDED = re.compile(
    r"forwarded message|weitergeleitete nachricht|message transféré|mensaje reenviado|"
    r"messaggio inoltrato|doorgestuurd bericht|mensagem encaminhada|vidarebefordrat meddelande",
    re.I,
)
_WS = re.compile(r"[\s\u00a0\u200b\u200c\u200d\ufeff]+")
#: "On Mon, 8 Jan 2024 at 10:02, Bob <bob@example.com> wrote:" and its translations.
_ATTRIBUTION = re.compile(
    r"(wrote|writes|schrieb|a\s+écrit|escribió|escreveu|schreef|ha\s+scritto|skrev|kirjoitti|"
    r"napsal|napisał|napisal|написал|написала|yazd\u0131)\s*:?\s*$",
    re.I,
)
_ATTRIBUTION_START = re.compile(r"^\s*(on|am|le|el|em|op|il|den|dne|w\s+dniu|в)\b", re.I)
_FROM_LINE = re.compile(r"^\s*(from|von|de|da|van|från|fra|od|от)\s?:", re.I)
_SENT_LINE = re.compile(
    r"^\s*(sent|date|gesendet|datum|envoyé|enviado|fecha|inviato|data|verzonden|skickat|sendt|"
    r"wysłano|отправлено)\s?:",
    re.I,
)
_TEXT_DIVIDER = re.compile(
    r"^\s*(-{2,}\s*(original message|ursprüngliche nachricht|message d'origine|mensaje original|"
    r"messaggio originale|oorspronkelijk bericht)\s*-{2,}|_{10,})\s*$",
    re.I,
)
_SIG_DELIMITER = re.compile(r"^--\s?$")
_QUOTE_LINE = re.compile(r"^\s*>")
#: Cheap test on normalized HTML: without one of these there is nothing to fold.
_MAYBE = re.compile(
    r"gmail_quote|gmail_signature|type=\"cite\"|moz-cite-prefix|moz-signature|divRplyFwdMsg|"
    r"appendonsend|AppleMailSignature|OutlookMessageHeader|yahoo_quoted|id=\"Signature\"|"
    r"signature|--|__________|wrote|\b(from|von|de|da|van|från|fra|od|от)\s?:",
    re.I,
)


def is_forward(subject: str) -> bool:
    """Whether a subject says the mail forwards another (its quoted part is then the content)."""
    return bool(_FORWARD.match(subject or ""))


# --- a small tree over normalized HTML ---------------------------------------------------------


#: The tokens of nh3's serialization (html5ever's): tags whose attributes are double-quoted, and text
#: in which ``<`` and ``&`` are always escaped. (A regular expression over that output is many times
#: faster than ``html.parser`` and needs no error recovery.)
_TOKEN = re.compile(r'<(/?)([a-zA-Z][a-zA-Z0-9]*)((?:\s+[^\s/>"=]+(?:="[^"]*")?)*)\s*/?>|[^<]+|<')
_ATTR = re.compile(r'([^\s/>"=]+)(?:="([^"]*)")?')


class _Node:
    """An element (``tag``) or a text (``tag`` None) of the tree."""

    __slots__ = ("attrs", "children", "depth", "parent", "plain", "tag", "text")

    def __init__(
        self,
        tag: str | None,
        attrs: str = "",
        *,
        children: list[_Node] | None = None,
        parent: _Node | None = None,
        text: str = "",
        plain: str = "",
        depth: int = 0,
    ) -> None:
        self.tag = tag
        self.attrs = attrs  # as serialized: ` class="x" id="y"`
        self.children: list[_Node] = children if children is not None else []
        self.parent = parent
        self.text = text  # as serialized (escaped)
        self.plain = plain  # the text itself
        self.depth = depth

    def attr(self, name: str) -> str:
        for m in _ATTR.finditer(self.attrs):
            if m.group(1).lower() == name:
                return htmllib.unescape(m.group(2) or "")
        return ""


def _parse(html: str) -> tuple[_Node, int]:
    """The tree of normalized HTML, and its depth."""
    root = _Node("#root")
    cur = root
    deepest = 0
    for m in _TOKEN.finditer(html):
        if m.group(2) is None:
            raw = m.group(0)
            cur.children.append(_Node(None, text=raw, plain=htmllib.unescape(raw), parent=cur))
            continue
        tag = m.group(2).lower()
        if m.group(1):
            node: _Node | None = cur
            while node is not None and node is not root and node.tag != tag:
                node = node.parent
            if node is not None and node is not root and node.parent is not None:
                cur = node.parent
            continue
        child = _Node(tag, m.group(3), parent=cur, depth=cur.depth + 1)
        cur.children.append(child)
        if tag not in _VOID:
            cur = child
            deepest = max(deepest, child.depth)
    return root, deepest


def _serialize(node: _Node, out: list[str]) -> None:
    if node.tag is None:
        out.append(node.text)
        return
    if node.tag != "#root":
        out.append(f"<{node.tag}{node.attrs}>")
        if node.tag in _VOID:
            return
    for child in node.children:
        _serialize(child, out)
    if node.tag != "#root":
        out.append(f"</{node.tag}>")


def _details(children: list[_Node]) -> _Node:
    summary = _Node("summary")
    summary.children = [_Node(None, text=SUMMARY, plain=SUMMARY, parent=summary)]
    node = _Node("details", children=[summary, *children])
    for child in node.children:
        child.parent = node
    return node


def _has_content(node: _Node) -> bool:
    if node.tag is None:
        return bool(_WS.sub("", node.plain))
    if node.tag == "img":
        return True
    return any(_has_content(c) for c in node.children)


# --- markers -------------------------------------------------------------------------------------

QUOTE, SIGNATURE, ATTRIBUTION, DIVIDER = "quote", "signature", "attribution", "divider"


def _marker(node: _Node) -> str | None:
    """What a client's markup says an element is: a quote, a signature, an attribution line ("On …
    wrote:"), or a divider after which the rest of the message is the quoted original."""
    if not node.attrs:
        return None
    tag = node.tag
    classes = set(node.attr("class").split())
    ident = node.attr("id")
    if ident in ("divRplyFwdMsg", "appendonsend") or "OutlookMessageHeader" in classes:
        return DIVIDER
    if tag == "blockquote" and node.attr("type").lower() == "cite":
        return QUOTE
    if classes & {"gmail_quote", "gmail_quote_container", "yahoo_quoted"} or ident.startswith("yahoo_quoted"):
        return QUOTE
    if "moz-cite-prefix" in classes or "gmail_attr" in classes:
        return ATTRIBUTION
    if classes & {"gmail_signature", "gmail_signature_prefix", "moz-signature"}:
        return SIGNATURE
    if ident in ("AppleMailSignature", "Signature", "ms-outlook-mobile-signature"):
        return SIGNATURE
    return None


@dataclass(eq=False)
class _Line:
    leaves: list[_Node] = field(default_factory=list)
    text: str = ""
    has_image: bool = False
    kind: str = ""  # "", ATTRIBUTION, DIVIDER, "empty"


@dataclass(eq=False)
class _Event:
    kind: str  # "line", QUOTE, SIGNATURE, ATTRIBUTION, DIVIDER, "hr"
    node: _Node
    line: _Line | None = None


class _Walker:
    """The message in reading order, as lines of the sender's own text and the markers between them
    (what is inside a quote or signature is not looked into)."""

    def __init__(self) -> None:
        self.events: list[_Event] = []
        self.line: _Line | None = None

    def end_line(self) -> None:
        self.line = None

    def walk(self, node: _Node) -> None:
        for child in node.children:
            if child.tag is None:
                if self.line is None:
                    self.line = _Line()
                    self.events.append(_Event("line", child, self.line))
                self.line.leaves.append(child)
                self.line.text += child.plain
            elif child.tag == "br":
                self.end_line()
            elif child.tag == "hr":
                self.end_line()
                self.events.append(_Event("hr", child))
            elif child.tag == "img":
                if self.line is None:
                    self.line = _Line()
                    self.events.append(_Event("line", child, self.line))
                self.line.leaves.append(child)
                self.line.has_image = True
            else:
                kind = _marker(child)
                if kind is not None:
                    self.end_line()
                    self.events.append(_Event(kind, child))  # a divider's own text is not looked into
                    continue
                block = child.tag in _BLOCK
                if block:
                    self.end_line()
                self.walk(child)
                if block:
                    self.end_line()


def _classify(events: list[_Event]) -> None:
    lines = [e for e in events if e.kind == "line" and e.line is not None]
    for i, e in enumerate(lines):
        line = e.line
        assert line is not None
        text = _WS.sub(" ", line.text).strip()
        if not text and not line.has_image:
            line.kind = "empty"
        elif _SIG_DELIMITER.match(text) or _TEXT_DIVIDER.match(text):
            line.kind = DIVIDER
        elif _FROM_LINE.match(text) and any(
            _SENT_LINE.match(_WS.sub(" ", n.line.text)) for n in lines[i + 1 : i + 5] if n.line
        ):
            line.kind = DIVIDER  # Outlook's header of the original: From, Sent, To, Subject
        elif len(text) <= 400 and _ATTRIBUTION.search(text) and not line.has_image:
            line.kind = ATTRIBUTION


def _is_divider(e: _Event) -> bool:
    return e.kind == DIVIDER or (e.kind == "line" and e.line is not None and e.line.kind == DIVIDER)


def _is_real(e: _Event) -> bool:
    """The sender's own new text (or picture)."""
    return e.kind == "line" and e.line is not None and e.line.kind == ""


def _lift(node: _Node, root: _Node) -> _Node:
    """The outermost element that starts with ``node`` (nothing with content before it inside)."""
    while node.parent is not None and node.parent is not root:
        siblings = node.parent.children
        if any(_has_content(s) for s in siblings[: siblings.index(node)]):
            break
        node = node.parent
    return node


def _cut_to_end(root: _Node, cut: _Node) -> None:
    """Move ``cut`` and everything after it into a ``<details>`` at the end, re-opening the elements
    the cut was inside so the moved part keeps its structure."""
    node = cut
    parent = node.parent
    assert parent is not None
    index = parent.children.index(node)
    carry = parent.children[index:]
    del parent.children[index:]
    while parent is not root:
        shell = _Node(parent.tag, parent.attrs, children=carry)
        for child in carry:
            child.parent = shell
        grand = parent.parent
        assert grand is not None
        index = grand.children.index(parent)
        carry = [shell, *grand.children[index + 1 :]]
        del grand.children[index + 1 :]
        parent = grand
    details = _details(carry)
    details.parent = root
    root.children.append(details)


def _wrap(nodes: list[_Node]) -> None:
    """Put sibling ``nodes`` (in order, one parent) into a ``<details>`` where they stood."""
    parent = nodes[0].parent
    assert parent is not None
    start = parent.children.index(nodes[0])
    end = parent.children.index(nodes[-1])
    details = _details(parent.children[start : end + 1])
    details.parent = parent
    parent.children[start : end + 1] = [details]


def _leading_group(events: list[_Event], first_real: int) -> list[_Node] | None:
    """The quote that opens a bottom-posted reply, with its attribution: siblings to wrap, or None."""
    quote = next((e.node for e in reversed(events[:first_real]) if e.kind == QUOTE), None)
    if quote is None or quote.parent is None:
        return None
    siblings = quote.parent.children
    start = siblings.index(quote)
    i = start - 1
    while i >= 0:
        s = siblings[i]
        if s.tag in ("br", "hr") or not _has_content(s):
            i -= 1
            continue
        text = _WS.sub(" ", _text(s)).strip()
        if _marker(s) == ATTRIBUTION or (len(text) <= 400 and _ATTRIBUTION.search(text)):
            start = i
            i -= 1
            continue
        break
    # Every sibling in the group precedes the sender's first own line: nothing of theirs is hidden.
    return siblings[start : siblings.index(quote) + 1]


def _text_from(node: _Node, limit: int) -> str:
    """About ``limit`` characters of text from ``node`` on, in reading order (past its parent's end)."""
    parts: list[str] = []
    size = 0
    current, skip = node, 0
    while current.parent is not None and size < limit:
        siblings = current.parent.children
        for sibling in siblings[siblings.index(current) + skip :]:
            parts.append(_text(sibling))
            size += len(parts[-1])
            if size >= limit:
                break
        current, skip = current.parent, 1  # then what follows the parent, not the parent again
    return "".join(parts)[:limit]


def _text(node: _Node) -> str:
    if node.tag is None:
        return node.plain
    return "".join(_text(c) for c in node.children)


def fold_html(html: str) -> str:
    """``html`` with its trailing quote and signature (and a leading quote) inside ``<details>``.

    The result is normalized (parsed and serialized again) but not sanitized: sanitize it after.
    """
    normalized = content.sanitize_html(html, keep_markers=True)
    if not _MAYBE.search(normalized):
        return normalized
    root, depth = _parse(normalized)
    if depth > MAX_DEPTH:
        return normalized
    walker = _Walker()
    walker.walk(root)
    events = walker.events
    _classify(events)
    changed = False

    # Trailing: from the first divider, or from the first marker after the sender's last own line.
    end = next((i for i, e in enumerate(events) if _is_divider(e)), len(events))
    last_real = max((i for i in range(end) if _is_real(events[i])), default=-1)
    start = last_real + 1
    tail = events[start:]
    folds_something = any(e.kind in (QUOTE, SIGNATURE) or _is_divider(e) for e in tail)
    if last_real >= 0 and tail and folds_something:
        first = tail[0]
        cut = _lift(first.line.leaves[0] if first.kind == "line" and first.line else first.node, root)
        last = events[last_real].line
        forwarded = _FORWARDED.search(last.text if last else "") or _FORWARDED.search(_text_from(cut, 300))
        if not forwarded:  # what follows "Forwarded message" is the content, not history
            _cut_to_end(root, cut)
            changed = True

    # Leading: one quote before the sender's first own line, and no other quote among their lines.
    first_real = next((i for i, e in enumerate(events) if _is_real(e)), None)
    if first_real is not None and first_real <= last_real:
        quotes_between = any(e.kind == QUOTE for e in events[first_real:start])
        if not quotes_between:
            group = _leading_group(events, first_real)
            if group:
                _wrap(group)
                changed = True

    if not changed:
        return normalized
    out: list[str] = []
    _serialize(root, out)
    return "".join(out)


# --- plain text ----------------------------------------------------------------------------------


def split_text(text: str) -> tuple[str, str, str]:
    """(leading quote, the sender's own text, trailing quote and signature) of a plain-text body."""
    lines = text.replace("\r\n", "\n").split("\n")

    def kind(i: int) -> str:
        line = lines[i]
        stripped = line.strip()
        if not stripped:
            return "empty"
        if _QUOTE_LINE.match(line):
            return QUOTE
        if _SIG_DELIMITER.match(line.rstrip("\n")) or _TEXT_DIVIDER.match(stripped):
            return DIVIDER
        if _FROM_LINE.match(stripped) and any(_SENT_LINE.match(x) for x in lines[i + 1 : i + 5]):
            return DIVIDER
        if len(stripped) <= 400 and _ATTRIBUTION.search(stripped):
            return ATTRIBUTION
        return ""

    kinds = [kind(i) for i in range(len(lines))]
    # "On Mon, 8 Jan 2024 at 10:02, Bob <bob@example.com>" / "wrote:" (wrapped at 78 characters)
    for i in range(1, len(lines)):
        if (
            kinds[i] == ATTRIBUTION
            and kinds[i - 1] == ""
            and _ATTRIBUTION.match(lines[i].strip())
            and _ATTRIBUTION_START.match(lines[i - 1])
        ):
            kinds[i - 1] = ATTRIBUTION
    end = next((i for i, k in enumerate(kinds) if k == DIVIDER), len(lines))
    last_real = max((i for i in range(end) if kinds[i] == ""), default=-1)
    cut = len(lines)
    if last_real >= 0:
        start = last_real + 1
        while start < len(lines) and kinds[start] == "empty":
            start += 1
        forwarded = _FORWARDED.search("\n".join([lines[last_real], *lines[start : start + 3]]))
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
