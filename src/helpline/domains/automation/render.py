"""Placeholders in canned responses: ``{{ customer.first_name }}``, ``{{ ticket.number }}``,
``{{ agent.name }}`` and the rest of :data:`PLACEHOLDERS`.

A body is a Jinja2 template run in a :class:`~jinja2.sandbox.SandboxedEnvironment`, and only a small
subset of the language is accepted: text, ``{{ name.attribute }}`` placeholders, and a few harmless
filters (``{{ customer.first_name|default("there") }}``). Loops, conditions, calls and the rest are
refused by :func:`check`, so a canned response can neither reach Python objects nor run for long.

The result is plain text (autoescape off): it is inserted into a reply textarea, and the page that
shows it escapes it like any other text. Values are copied into plain dicts of strings first, so a
template sees only the fields listed in :data:`PLACEHOLDERS`; any other placeholder renders empty.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

from jinja2 import ChainableUndefined, TemplateSyntaxError, nodes
from jinja2.sandbox import SandboxedEnvironment

#: Every placeholder a canned response may use, as shown on the admin page.
PLACEHOLDERS: dict[str, tuple[str, ...]] = {
    "customer": ("first_name", "name", "email"),
    "ticket": ("number", "subject", "requester.name", "requester.first_name", "requester.email"),
    "agent": ("first_name", "name"),
}
#: Every dotted name a placeholder may use; any other is left in the text as written.
KNOWN = frozenset(f"{obj}.{attr}" for obj, attrs in PLACEHOLDERS.items() for attr in attrs)
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*)\s*(?:\|[^{}]*)?\}\}")
#: Filters that only reshape a string (no loops, no attribute access).
FILTERS = frozenset({"default", "d", "upper", "lower", "title", "capitalize", "trim"})
MAX_BODY = 20_000

_ALLOWED_NODES = (
    nodes.Template,
    nodes.Output,
    nodes.TemplateData,
    nodes.Name,
    nodes.Getattr,
    nodes.Const,
    nodes.Filter,
)

_env = SandboxedEnvironment(autoescape=False, undefined=ChainableUndefined, keep_trailing_newline=True)


class PlaceholderError(ValueError):
    """A body that is not a valid canned-response template; the message says why, for the form."""


def check(body: str) -> None:
    """Refuse a body that does not parse or uses more than placeholders and the listed filters."""
    try:
        tree = _env.parse(body)
    except TemplateSyntaxError as exc:
        raise PlaceholderError(f"placeholder syntax error on line {exc.lineno}: {exc.message}") from None
    for node in tree.find_all(nodes.Node):
        if not isinstance(node, _ALLOWED_NODES):
            raise PlaceholderError(
                "only placeholders such as {{ customer.first_name }} are allowed "
                f"(found a {type(node).__name__.lower()})"
            )
        if isinstance(node, nodes.Filter) and node.name not in FILTERS:
            allowed = ", ".join(sorted(FILTERS))
            raise PlaceholderError(f"the filter {node.name!r} is not allowed; use one of {allowed}")
        if isinstance(node, nodes.Getattr) and not isinstance(node.node, nodes.Name | nodes.Getattr):
            raise PlaceholderError("only placeholders such as {{ customer.first_name }} are allowed")
        if isinstance(node, nodes.Name) and node.ctx != "load":
            raise PlaceholderError("only placeholders such as {{ customer.first_name }} are allowed")


def _get(obj: Any, key: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _first(name: str) -> str:
    parts = name.split()
    return parts[0] if parts else ""


def _person(obj: Any) -> dict[str, str]:
    name = _text(_get(obj, "name")).strip()
    email = _text(_get(obj, "email"))
    first = _text(_get(obj, "first_name")).strip() or _first(name)
    return {"name": name or email.split("@")[0], "first_name": first, "email": email}


def context(*, customer: Any = None, ticket: Any = None, agent: Any = None) -> dict[str, dict[str, str]]:
    """The values a template sees: plain strings only, whatever kind of object was passed in."""
    cust = _person(customer)
    ag = _person(agent)
    return {
        "customer": {k: cust[k] for k in PLACEHOLDERS["customer"]},
        "ticket": {
            "number": _text(_get(ticket, "number")),
            "subject": _text(_get(ticket, "subject")),
            **{f"requester.{k}": cust[k] for k in ("name", "first_name", "email")},
        },
        "agent": {k: ag[k] for k in PLACEHOLDERS["agent"]},
    }


def _keep_unknown(body: str) -> str:
    """``body`` with each placeholder that names nothing known (``{{ ticket.colour }}``) made literal
    text, so the agent sees it and fixes it instead of sending a blank."""

    def keep(m: re.Match[str]) -> str:
        if m.group(1) in KNOWN:
            return m.group(0)
        return "{% raw %}" + m.group(0) + "{% endraw %}"

    return _PLACEHOLDER.sub(keep, body)


def _space(values: dict[str, str]) -> SimpleNamespace:
    """Nested namespaces of the non-empty values (``requester.name`` → ``requester`` → ``name``)."""
    top: dict[str, Any] = {}
    for key, value in values.items():
        if not value:
            continue
        head, _, rest = key.partition(".")
        if rest:
            top.setdefault(head, {})[rest] = value
        else:
            top[head] = value
    return SimpleNamespace(**{k: _space(v) if isinstance(v, dict) else v for k, v in top.items()})


def fill(body: str, *, customer: Any = None, ticket: Any = None, agent: Any = None) -> str:
    """``body`` with its placeholders filled in, as plain text.

    ``customer`` (a contact: ``name``, ``email``), ``ticket`` (``number``, ``subject``) and ``agent``
    (a principal or user: ``name``) may be mappings or objects, or None; the ticket's requester is
    ``customer`` (``{{ ticket.requester.name }}``). Missing values render empty; placeholders that
    name nothing known are left in the text as written. A body that :func:`check` refuses (saved
    before the rules, or edited in the database) comes back unchanged rather than half-run.
    """
    try:
        check(body)
        values = context(customer=customer, ticket=ticket, agent=agent)
        # Namespaces, not dicts: ``{{ customer.items }}`` must not find a dict method. An empty value
        # is left out, so it is undefined and ``|default("there")`` applies.
        spaces = {k: _space(v) for k, v in values.items()}
        return _env.from_string(_keep_unknown(body)).render(spaces)
    except Exception:  # a refused or broken template is shown as written, never raised into a page
        return body
