"""What the rest of the guard shares: the refusal, the purposes, the resolver's type."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: A resolver: ``(host, port)`` → the addresses it resolves to (as strings); raises ``OSError`` when it
#: cannot resolve. The default is the system's ``getaddrinfo``; tests pass their own.
Resolve = Callable[[str, int], Iterable[str]]

#: How long the check waits for a name to resolve before treating it as unresolved.
RESOLVE_TIMEOUT = 10.0
SETTING = "HELPLINE_EGRESS_ALLOW"


class EgressRefused(Exception):
    """A connection the egress policy refuses; the message is a sentence for an admin (it never holds
    anything read from the remote). ``part`` says what was refused: ``host`` (the address it is or
    resolves to, or not a host at all), ``port``, or ``scheme`` (plain ``http://``)."""

    code = "egress_refused"

    def __init__(self, message: str, *, host: str = "", port: int | None = None, part: str = "host") -> None:
        super().__init__(message)
        self.message = message
        self.host = host
        self.port = port
        self.part = part


@dataclass(frozen=True)
class Purpose:
    """What a connection is for: the ports it may use, and whether plain ``http://`` is allowed."""

    name: str
    ports: frozenset[int]
    plain_http: bool = False


IMAP = Purpose("IMAP", frozenset({143, 993}))
SMTP = Purpose("SMTP", frozenset({25, 465, 587, 2525}))
HTTPS = Purpose("HTTPS", frozenset({443}))
HTTP = Purpose("HTTP", frozenset({80, 443}), plain_http=True)
