"""The egress guard: every outbound connection Helpline makes on an admin's or a user's behalf (a
mailbox's IMAP and SMTP servers, an OAuth2 token endpoint; later webhooks, OIDC, SMS providers)
goes through here, so a setting typed into a form cannot make the server reach its own network.

The policy (ADR 0012), applied to a ``host``, a ``port`` and a :class:`Purpose`:

- The host is parsed as an IP address in every notation a resolver accepts (``0x7f000001``,
  ``2130706433``, ``017700000001``, ``127.1``, ``[::ffff:7f00:1]``, trailing dots, upper case), else
  resolved, and refused when ANY of its addresses is internal (:func:`refused_kind`: loopback,
  private, link-local, unspecified, multicast, broadcast, reserved, documentation, benchmarking,
  carrier-grade NAT, cloud metadata, site-local, and IPv4-mapped, NAT64, 6to4 or Teredo addresses
  that embed one of those). A name that does not resolve is not refused here: nothing can be
  reached through it, and the connection is checked again when it is made.
- The port must be one of the purpose's (IMAP 143/993, SMTP 25/465/587/2525, HTTPS 443; plain
  ``http://`` and port 80 only for a purpose that allows it).
- The operator may allow more with ``HELPLINE_EGRESS_ALLOW``: comma-separated ``host``,
  ``host:port``, addresses and CIDR networks (``10.0.0.0/8``, ``127.0.0.1:1143``). An entry lifts the
  address and port checks for what it names only.
- After the TCP connection is made, the socket's real peer is checked against the same policy and
  the connection is closed before a byte is sent when it is refused, so a name that resolved to a
  public address for the check and to an internal one for the connection (DNS rebinding) gets
  nowhere.

Entry points: :func:`check` (validate on save), :func:`open_connection` (asyncio streams),
:func:`open_socket` (a connected socket for libraries that take one, e.g. aiosmtplib's ``sock=``),
:func:`connect_blocking` (worker threads, e.g. imaplib), :func:`check_connected` /
:func:`check_peer` (a connection made some other way), and :func:`http_client` (httpx).

The platform's own connections configured by the operator (``HELPLINE_SMTP_*``, the database,
Redis) are the operator's, not a user's, and do not go through this guard.
"""

from __future__ import annotations

from helpline.platform.egress._addresses import parse_address, refused_kind
from helpline.platform.egress._allow import AllowList, allow_list, parse_allow
from helpline.platform.egress._base import (
    HTTP,
    HTTPS,
    IMAP,
    RESOLVE_TIMEOUT,
    SETTING,
    SMTP,
    EgressRefused,
    Purpose,
    Resolve,
)
from helpline.platform.egress._connect import connect_blocking, open_connection, open_socket
from helpline.platform.egress._http import http_client
from helpline.platform.egress._policy import check, check_connected, check_peer

__all__ = [
    "HTTP",
    "HTTPS",
    "IMAP",
    "RESOLVE_TIMEOUT",
    "SETTING",
    "SMTP",
    "AllowList",
    "EgressRefused",
    "Purpose",
    "Resolve",
    "allow_list",
    "check",
    "check_connected",
    "check_peer",
    "connect_blocking",
    "http_client",
    "open_connection",
    "open_socket",
    "parse_address",
    "parse_allow",
    "refused_kind",
]
