"""The operator's allow-list, ``HELPLINE_EGRESS_ALLOW``."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from helpline.platform.egress._addresses import NAME, parse_address
from helpline.platform.egress._base import IPAddress, IPNetwork

if TYPE_CHECKING:
    from helpline.settings import Settings


@dataclass(frozen=True)
class _Entry:
    name: str | None
    network: IPNetwork | None
    port: int | None

    def covers_port(self, port: int) -> bool:
        return self.port is None or self.port == port


@dataclass(frozen=True)
class AllowList:
    """The parsed ``HELPLINE_EGRESS_ALLOW``."""

    entries: tuple[_Entry, ...] = ()

    def names(self, name: str, port: int) -> bool:
        """Whether an entry allows the host name ``name`` (whatever it resolves to) on ``port``."""
        return any(e.name == name and e.covers_port(port) for e in self.entries)

    def covers(self, ip: IPAddress, port: int) -> bool:
        """Whether an address or network entry allows ``ip`` on ``port``."""
        ips = [ip]
        if isinstance(ip, ipaddress.IPv6Address):
            if ip.scope_id:
                ips = [ipaddress.IPv6Address(int(ip))]
            if ip.ipv4_mapped is not None:
                ips.append(ip.ipv4_mapped)
        return any(
            e.network is not None and e.covers_port(port) and any(a in e.network for a in ips)
            for e in self.entries
        )


def _entry_port(text: str, item: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(f"entry {item!r}: {text!r} is not a port number (1-65535)")
    return int(text)


@lru_cache(maxsize=32)
def parse_allow(value: str) -> AllowList:
    """Parse ``HELPLINE_EGRESS_ALLOW``: comma-separated ``host``, ``host:port``, an address or a CIDR
    network, optionally ``:port`` (IPv6 in brackets then: ``[fd00::25]:25``). Raises ``ValueError``
    with one line naming the first bad entry."""
    entries: list[_Entry] = []
    for raw in value.split(","):
        item = raw.strip()
        if not item:
            continue
        host, port = item, None
        if item.startswith("["):
            end = item.find("]")
            if end < 0:
                raise ValueError(f"entry {item!r}: no closing ']'")
            host, rest = item[1:end], item[end + 1 :]
            if rest:
                if not rest.startswith(":"):
                    raise ValueError(f"entry {item!r}: write [IPv6]:port")
                port = _entry_port(rest[1:], item)
            if ":" not in host:
                raise ValueError(f"entry {item!r}: brackets hold an IPv6 address or network")
        elif item.count(":") == 1:
            host, port_text = item.split(":")
            port = _entry_port(port_text, item)
        name = host.lower().rstrip(".")
        if "/" in host or ":" in host or re.fullmatch(r"[0-9.]+", host):
            try:
                network = ipaddress.ip_network(host, strict=True)
            except ValueError as exc:
                raise ValueError(
                    f"entry {item!r}: not an IP address or CIDR network ({exc}); write IPv4 as four "
                    "decimal numbers, like 10.0.0.0/8 or 127.0.0.1:1143"
                ) from None
            entries.append(_Entry(None, network, port))
        elif parse_address(name) is not None:
            raise ValueError(f"entry {item!r}: write IPv4 addresses as four decimal numbers, like 127.0.0.1")
        elif NAME.match(name):
            entries.append(_Entry(name, None, port))
        else:
            raise ValueError(
                f"entry {item!r}: not a host name, host:port, IP address or CIDR network "
                "(entries are separated by commas)"
            )
    return AllowList(tuple(entries))


def allow_list(settings: Settings) -> AllowList:
    """The operator's allow-list (``HELPLINE_EGRESS_ALLOW``), read when asked: a test or a reload may
    change the setting."""
    return parse_allow(settings.egress_allow)
