"""A small tree over normalized HTML (nh3's serialization): parse, serialize, read its text."""

from __future__ import annotations

import html as htmllib
import re

from helpline.domains.channels.email.quotes._patterns import SUMMARY, VOID, WS

#: The tokens of nh3's serialization (html5ever's): tags whose attributes are double-quoted, and text
#: in which ``<`` and ``&`` are always escaped. (A regular expression over that output is many times
#: faster than ``html.parser`` and needs no error recovery.)
TOKEN = re.compile(r'<(/?)([a-zA-Z][a-zA-Z0-9]*)((?:\s+[^\s/>"=]+(?:="[^"]*")?)*)\s*/?>|[^<]+|<')
ATTR = re.compile(r'([^\s/>"=]+)(?:="([^"]*)")?')


class Node:
    """An element (``tag``) or a text (``tag`` None) of the tree."""

    __slots__ = ("attrs", "children", "depth", "parent", "plain", "tag", "text")

    def __init__(
        self,
        tag: str | None,
        attrs: str = "",
        *,
        children: list[Node] | None = None,
        parent: Node | None = None,
        text: str = "",
        plain: str = "",
        depth: int = 0,
    ) -> None:
        self.tag = tag
        self.attrs = attrs  # as serialized: ` class="x" id="y"`
        self.children: list[Node] = children if children is not None else []
        self.parent = parent
        self.text = text  # as serialized (escaped)
        self.plain = plain  # the text itself
        self.depth = depth

    def attr(self, name: str) -> str:
        for m in ATTR.finditer(self.attrs):
            if m.group(1).lower() == name:
                return htmllib.unescape(m.group(2) or "")
        return ""


def parse(html: str) -> tuple[Node, int]:
    """The tree of normalized HTML, and its depth."""
    root = Node("#root")
    cur = root
    deepest = 0
    for m in TOKEN.finditer(html):
        if m.group(2) is None:
            raw = m.group(0)
            cur.children.append(Node(None, text=raw, plain=htmllib.unescape(raw), parent=cur))
            continue
        tag = m.group(2).lower()
        if m.group(1):
            node: Node | None = cur
            while node is not None and node is not root and node.tag != tag:
                node = node.parent
            if node is not None and node is not root and node.parent is not None:
                cur = node.parent
            continue
        child = Node(tag, m.group(3), parent=cur, depth=cur.depth + 1)
        cur.children.append(child)
        if tag not in VOID:
            cur = child
            deepest = max(deepest, child.depth)
    return root, deepest


def serialize(node: Node, out: list[str]) -> None:
    if node.tag is None:
        out.append(node.text)
        return
    if node.tag != "#root":
        out.append(f"<{node.tag}{node.attrs}>")
        if node.tag in VOID:
            return
    for child in node.children:
        serialize(child, out)
    if node.tag != "#root":
        out.append(f"</{node.tag}>")


def details_of(children: list[Node]) -> Node:
    summary = Node("summary")
    summary.children = [Node(None, text=SUMMARY, plain=SUMMARY, parent=summary)]
    node = Node("details", children=[summary, *children])
    for child in node.children:
        child.parent = node
    return node


def has_content(node: Node) -> bool:
    if node.tag is None:
        return bool(WS.sub("", node.plain))
    if node.tag == "img":
        return True
    return any(has_content(c) for c in node.children)


def text_from(node: Node, limit: int) -> str:
    """About ``limit`` characters of text from ``node`` on, in reading order (past its parent's end)."""
    parts: list[str] = []
    size = 0
    current, skip = node, 0
    while current.parent is not None and size < limit:
        siblings = current.parent.children
        for sibling in siblings[siblings.index(current) + skip :]:
            parts.append(text_of(sibling))
            size += len(parts[-1])
            if size >= limit:
                break
        current, skip = current.parent, 1  # then what follows the parent, not the parent again
    return "".join(parts)[:limit]


def text_of(node: Node) -> str:
    if node.tag is None:
        return node.plain
    return "".join(text_of(c) for c in node.children)
