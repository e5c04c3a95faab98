"""What parsing gives (:class:`ParsedMail` and its :class:`Part` files), its :class:`Limits`, and
:class:`Rejected` for mail that cannot be taken in."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
