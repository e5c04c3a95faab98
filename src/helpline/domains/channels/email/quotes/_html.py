"""Folding an HTML body: the message in reading order as the sender's own lines and the markers between
them, then the trailing quote and signature (and a leading quote) moved into ``<details>``."""

from __future__ import annotations

from dataclasses import dataclass, field

from helpline.domains.channels.email.quotes._patterns import (
    ATTRIBUTION,
    ATTRIBUTION_LINE,
    BLOCK,
    DIVIDER,
    FORWARDED,
    FROM_LINE,
    MAX_DEPTH,
    MAYBE,
    QUOTE,
    SENT_LINE,
    SIG_DELIMITER,
    SIGNATURE,
    TEXT_DIVIDER,
    WS,
)
from helpline.domains.channels.email.quotes._tree import (
    Node,
    details_of,
    has_content,
    parse,
    serialize,
    text_from,
    text_of,
)
from helpline.domains.tickets import content


def _marker(node: Node) -> str | None:
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
    leaves: list[Node] = field(default_factory=list)
    text: str = ""
    has_image: bool = False
    kind: str = ""  # "", ATTRIBUTION, DIVIDER, "empty"


@dataclass(eq=False)
class _Event:
    kind: str  # "line", QUOTE, SIGNATURE, ATTRIBUTION, DIVIDER, "hr"
    node: Node
    line: _Line | None = None


class _Walker:
    """The message in reading order, as lines of the sender's own text and the markers between them
    (what is inside a quote or signature is not looked into)."""

    def __init__(self) -> None:
        self.events: list[_Event] = []
        self.line: _Line | None = None

    def end_line(self) -> None:
        self.line = None

    def walk(self, node: Node) -> None:
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
                block = child.tag in BLOCK
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
        text = WS.sub(" ", line.text).strip()
        if not text and not line.has_image:
            line.kind = "empty"
        elif SIG_DELIMITER.match(text) or TEXT_DIVIDER.match(text):
            line.kind = DIVIDER
        elif FROM_LINE.match(text) and any(
            SENT_LINE.match(WS.sub(" ", n.line.text)) for n in lines[i + 1 : i + 5] if n.line
        ):
            line.kind = DIVIDER  # Outlook's header of the original: From, Sent, To, Subject
        elif len(text) <= 400 and ATTRIBUTION_LINE.search(text) and not line.has_image:
            line.kind = ATTRIBUTION


def _is_divider(e: _Event) -> bool:
    return e.kind == DIVIDER or (e.kind == "line" and e.line is not None and e.line.kind == DIVIDER)


def _is_real(e: _Event) -> bool:
    """The sender's own new text (or picture)."""
    return e.kind == "line" and e.line is not None and e.line.kind == ""


def _lift(node: Node, root: Node) -> Node:
    """The outermost element that starts with ``node`` (nothing with content before it inside)."""
    while node.parent is not None and node.parent is not root:
        siblings = node.parent.children
        if any(has_content(s) for s in siblings[: siblings.index(node)]):
            break
        node = node.parent
    return node


def _cut_to_end(root: Node, cut: Node) -> None:
    """Move ``cut`` and everything after it into a ``<details>`` at the end, re-opening the elements
    the cut was inside so the moved part keeps its structure."""
    node = cut
    parent = node.parent
    assert parent is not None
    index = parent.children.index(node)
    carry = parent.children[index:]
    del parent.children[index:]
    while parent is not root:
        shell = Node(parent.tag, parent.attrs, children=carry)
        for child in carry:
            child.parent = shell
        grand = parent.parent
        assert grand is not None
        index = grand.children.index(parent)
        carry = [shell, *grand.children[index + 1 :]]
        del grand.children[index + 1 :]
        parent = grand
    details = details_of(carry)
    details.parent = root
    root.children.append(details)


def _wrap(nodes: list[Node]) -> None:
    """Put sibling ``nodes`` (in order, one parent) into a ``<details>`` where they stood."""
    parent = nodes[0].parent
    assert parent is not None
    start = parent.children.index(nodes[0])
    end = parent.children.index(nodes[-1])
    details = details_of(parent.children[start : end + 1])
    details.parent = parent
    parent.children[start : end + 1] = [details]


def _leading_group(events: list[_Event], first_real: int) -> list[Node] | None:
    """The quote that opens a bottom-posted reply, with its attribution: siblings to wrap, or None."""
    quote = next((e.node for e in reversed(events[:first_real]) if e.kind == QUOTE), None)
    if quote is None or quote.parent is None:
        return None
    siblings = quote.parent.children
    start = siblings.index(quote)
    i = start - 1
    while i >= 0:
        s = siblings[i]
        if s.tag in ("br", "hr") or not has_content(s):
            i -= 1
            continue
        text = WS.sub(" ", text_of(s)).strip()
        if _marker(s) == ATTRIBUTION or (len(text) <= 400 and ATTRIBUTION_LINE.search(text)):
            start = i
            i -= 1
            continue
        break
    # Every sibling in the group precedes the sender's first own line: nothing of theirs is hidden.
    return siblings[start : siblings.index(quote) + 1]


def fold_html(html: str) -> str:
    """``html`` with its trailing quote and signature (and a leading quote) inside ``<details>``.

    The result is normalized (parsed and serialized again) but not sanitized: sanitize it after.
    """
    normalized = content.sanitize_html(html, keep_markers=True)
    if not MAYBE.search(normalized):
        return normalized
    root, depth = parse(normalized)
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
        forwarded = FORWARDED.search(last.text if last else "") or FORWARDED.search(text_from(cut, 300))
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
    serialize(root, out)
    return "".join(out)
