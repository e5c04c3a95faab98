"""Which addresses are internal, and hosts in every notation a resolver takes."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from helpline.platform.egress._base import EgressRefused, IPAddress, IPNetwork

# --- which addresses are internal ---------------------------------------------------------------


def _nets(*pairs: tuple[str, str]) -> tuple[tuple[IPNetwork, str], ...]:
    return tuple((ipaddress.ip_network(net), kind) for net, kind in pairs)


_METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, …
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
    )
)
# Order matters where ranges nest: the first match names the kind.
_V4 = _nets(
    ("0.0.0.0/8", "unspecified"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "carrier-grade NAT"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "reserved"),
    ("192.0.2.0/24", "documentation"),
    ("192.88.99.0/24", "reserved"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("255.255.255.255/32", "broadcast"),
    ("240.0.0.0/4", "reserved"),
)
_V6 = _nets(
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("::/96", "IPv4-compatible"),
    ("64:ff9b:1::/48", "local NAT64"),
    ("100::/64", "discard-only"),
    ("2001:db8::/32", "documentation"),
    ("2001::/23", "reserved"),
    ("3fff::/20", "documentation"),
    ("fc00::/7", "private"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local"),
    ("ff00::/8", "multicast"),
)
#: Global unicast IPv6: everything outside it is refused.
_GLOBAL_V6 = ipaddress.IPv6Network("2000::/3")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_6TO4 = ipaddress.IPv6Network("2002::/16")
_TEREDO = ipaddress.IPv6Network("2001::/32")


def refused_kind(ip: IPAddress) -> str | None:
    """The kind of internal address ``ip`` is (``"loopback"``, ``"private"``, ``"cloud metadata"``,
    …), or None for a public address. IPv6 addresses that carry an IPv4 address (IPv4-mapped, NAT64
    ``64:ff9b::/96``, 6to4, Teredo) are judged by the IPv4 address they carry."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            ip = ipaddress.IPv6Address(int(ip))
        if ip.ipv4_mapped is not None:
            inner = refused_kind(ip.ipv4_mapped)
            return f"IPv4-mapped {inner}" if inner else None
        carried: list[ipaddress.IPv4Address] = []
        label = ""
        if ip in _NAT64:
            carried, label = [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)], "NAT64"
        elif ip in _6TO4 and ip.sixtofour is not None:
            carried, label = [ip.sixtofour], "6to4"
        elif ip in _TEREDO and ip.teredo is not None:
            carried, label = list(ip.teredo), "Teredo"
        if carried:
            for v4 in carried:
                inner = refused_kind(v4)
                if inner:
                    return f"{label} {inner}"
            return None
    if ip in _METADATA:
        return "cloud metadata"
    for net, kind in _V4 if ip.version == 4 else _V6:
        if ip in net:
            return kind
    if isinstance(ip, ipaddress.IPv6Address) and ip not in _GLOBAL_V6:
        return "reserved"
    return None


# --- hosts in every notation --------------------------------------------------------------------

_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
NAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*$")
_NUMBER = re.compile(r"^(?:0x[0-9a-f]+|0[0-7]*|[1-9][0-9]*)$")


def _inet_aton(text: str) -> ipaddress.IPv4Address | None:
    """IPv4 in the forms ``inet_aton`` takes: 1 to 4 parts, each decimal, ``0x`` hex or ``0`` octal,
    the last filling the bytes left (``127.1``, ``2130706433``, ``0x7f.1``)."""
    parts = text.split(".")
    if not 1 <= len(parts) <= 4 or not all(_NUMBER.match(p) for p in parts):
        return None
    values = [
        int(p, 16) if p.startswith("0x") else int(p, 8) if len(p) > 1 and p[0] == "0" else int(p)
        for p in parts
    ]
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (4 - len(head)):
        return None
    number = 0
    for v in head:
        number = number * 256 + v
    return ipaddress.IPv4Address((number << (8 * (4 - len(head)))) | last)


def parse_address(text: str) -> IPAddress | None:
    """``text`` as an IP address in any notation a resolver would take it in (brackets, a trailing
    dot, upper case, the ``inet_aton`` forms), or None when it is not an address."""
    t = text.strip().lower()
    if t.startswith("[") and t.endswith("]"):
        t = t[1:-1]
    t = t.rstrip(".")
    try:
        return ipaddress.ip_address(t)
    except ValueError:
        pass
    return _inet_aton(t) if ":" not in t else None


@dataclass(frozen=True)
class Target:
    shown: str  # as given, for messages
    name: str  # lower case, no brackets or trailing dot: what allow entries are matched against
    address: IPAddress | None  # when the host is an address


def target_of(host: str, port: int) -> Target:
    if not isinstance(port, int) or not 1 <= port <= 65535:
        raise EgressRefused(f"{port!r} is not a port number", host=host, port=None, part="port")
    h = host
    if not h.isascii():
        try:  # IDNA maps look-alikes (full-width digits and dots) to what a resolver would use
            h = h.encode("idna").decode("ascii")
        except UnicodeError:
            raise EgressRefused(f"{host!r} is not a host name", host=host, port=port) from None
    address = parse_address(h)
    name = h.lower()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    name = name.rstrip(".")
    if address is None and not NAME.match(name):
        raise EgressRefused(f"{host!r} is not a host name or IP address", host=host, port=port)
    return Target(host, str(address) if address is not None else name, address)


def bare(host: str) -> str:
    """The host as a resolver takes it (an IPv6 address without its brackets)."""
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host
