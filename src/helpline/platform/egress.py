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

import asyncio
import contextlib
import ipaddress
import re
import socket
import ssl as ssl_module
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol

import httpcore
import httpx

if TYPE_CHECKING:
    from helpline.settings import Settings

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
_NAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*$")
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
class _Target:
    shown: str  # as given, for messages
    name: str  # lower case, no brackets or trailing dot: what allow entries are matched against
    address: IPAddress | None  # when the host is an address


def _target(host: str, port: int) -> _Target:
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
    if address is None and not _NAME.match(name):
        raise EgressRefused(f"{host!r} is not a host name or IP address", host=host, port=port)
    return _Target(host, str(address) if address is not None else name, address)


def _bare(host: str) -> str:
    """The host as a resolver takes it (an IPv6 address without its brackets)."""
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


# --- the operator's allow-list ------------------------------------------------------------------


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
        elif _NAME.match(name):
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


# --- the verdict --------------------------------------------------------------------------------


def _a(kind: str) -> str:
    return ("an " if kind[0].lower() in "aeiou" else "a ") + kind


def _judge(
    target: _Target,
    port: int,
    purpose: Purpose,
    rules: AllowList,
    addresses: Sequence[IPAddress | None],
    *,
    peer: bool = False,
) -> None:
    where = (
        f"[{target.shown}]:{port}"
        if ":" in target.shown and not target.shown.startswith("[")
        else f"{target.shown}:{port}"
    )
    hint = f"Helpline connects only to public addresses unless the operator allows this one ({SETTING})"
    allowed = 0
    for ip in addresses:
        if ip is None:
            raise EgressRefused(
                f"{where} is refused: the resolver answered something that is not an IP address",
                host=target.shown,
                port=port,
            )
        if rules.covers(ip, port):
            allowed += 1
            continue
        kind = refused_kind(ip)
        if kind is None:
            continue
        if peer:
            what = f"the connection to {target.shown} reached {_a(kind)} address"
        elif target.address is not None:
            what = f"{target.shown} is {_a(kind)} address"
        else:  # the address a name resolves to is not shown: the form is no DNS oracle
            what = f"{target.shown} resolves to {_a(kind)} address"
        raise EgressRefused(f"{what}; {hint}", host=target.shown, port=port)
    if not (addresses and allowed == len(addresses)) and port not in purpose.ports:
        ports = ", ".join(str(p) for p in sorted(purpose.ports))
        raise EgressRefused(
            f"port {port} is not one of the {purpose.name} ports ({ports}); Helpline uses another port only "
            f"when the operator allows {where} ({SETTING})",
            host=target.shown,
            port=port,
            part="port",
        )


def _system_resolve(host: str, port: int) -> list[str]:
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def _addresses(found: Iterable[str]) -> list[IPAddress | None]:
    return [parse_address(str(a).split("%", 1)[0]) for a in found]


def _check_sync(host: str, port: int, purpose: Purpose, settings: Settings, resolve: Resolve | None) -> None:
    target = _target(host, port)
    rules = allow_list(settings)
    if rules.names(target.name, port):
        return
    if target.address is not None:
        addresses: list[IPAddress | None] = [target.address]
    else:
        try:
            addresses = _addresses((resolve or _system_resolve)(target.name, port))
        except (OSError, UnicodeError):
            addresses = []  # unresolved: nothing to reach; the connection is checked again
    _judge(target, port, purpose, rules, addresses)


async def check(
    host: str, port: int, purpose: Purpose, settings: Settings, *, resolve: Resolve | None = None
) -> None:
    """Raise :class:`EgressRefused` when the policy refuses ``host:port`` for ``purpose``; return
    None when it may be tried. ``host`` is resolved (``resolve``, default ``getaddrinfo``, at most
    :data:`RESOLVE_TIMEOUT`); a name that does not resolve is not refused (the connection itself is
    checked again when it is made)."""
    target = _target(host, port)
    rules = allow_list(settings)
    if rules.names(target.name, port):
        return
    if target.address is not None:
        addresses: list[IPAddress | None] = [target.address]
    else:
        try:
            found = await asyncio.wait_for(
                asyncio.to_thread(lambda: list((resolve or _system_resolve)(target.name, port))),
                RESOLVE_TIMEOUT,
            )
            addresses = _addresses(found)
        except (OSError, UnicodeError, TimeoutError):
            addresses = []
    _judge(target, port, purpose, rules, addresses)


def check_peer(peer: Any, host: str, port: int, purpose: Purpose, settings: Settings) -> None:
    """Raise :class:`EgressRefused` unless ``peer`` (a connected socket's peer address: a
    ``getpeername()`` tuple or an address string) may be reached for ``host:port``. A host that the
    operator allows by name is trusted whatever it resolved to."""
    target = _target(host, port)
    rules = allow_list(settings)
    if rules.names(target.name, port):
        return
    raw = peer[0] if isinstance(peer, tuple | list) and peer else peer
    address = parse_address(str(raw).split("%", 1)[0]) if isinstance(raw, str) else None
    if address is None:
        raise EgressRefused(
            f"{target.shown}:{port} is refused: the connection's peer address is unknown",
            host=target.shown,
            port=port,
        )
    _judge(target, port, purpose, rules, [address], peer=True)


class _HasExtraInfo(Protocol):
    def get_extra_info(self, name: str, default: Any = None) -> Any: ...


def check_connected(conn: _HasExtraInfo, host: str, port: int, purpose: Purpose, settings: Settings) -> None:
    """:func:`check_peer` for an asyncio transport or ``StreamWriter`` (its ``peername``). The caller
    closes the connection when this raises, before sending anything."""
    check_peer(conn.get_extra_info("peername"), host, port, purpose, settings)


# --- connecting ---------------------------------------------------------------------------------


def connect_blocking(
    host: str,
    port: int,
    purpose: Purpose,
    settings: Settings,
    *,
    timeout: float | None = None,
    resolve: Resolve | None = None,
) -> socket.socket:
    """A connected TCP socket to ``host:port``, for blocking libraries in a worker thread (imaplib):
    checked before (:func:`check`'s rules) and after connecting (the real peer); on a refusal the
    socket is closed before anything is sent and :class:`EgressRefused` is raised."""
    _check_sync(host, port, purpose, settings, resolve)
    sock = socket.create_connection((_bare(host), port), timeout)
    try:
        check_peer(sock.getpeername(), host, port, purpose, settings)
    except BaseException:
        sock.close()
        raise
    return sock


async def open_socket(
    host: str,
    port: int,
    purpose: Purpose,
    settings: Settings,
    *,
    resolve: Resolve | None = None,
) -> socket.socket:
    """A connected, non-blocking TCP socket to ``host:port`` (checked before and after connecting),
    for asyncio libraries that take one (aiosmtplib's ``sock=``); the caller owns it. Bound it with
    ``asyncio.timeout``: a cancelled attempt leaves no socket open."""
    await check(host, port, purpose, settings, resolve=resolve)
    loop = asyncio.get_running_loop()

    async def connect() -> socket.socket:
        infos = await loop.getaddrinfo(_bare(host), port, type=socket.SOCK_STREAM)
        error: OSError | None = None
        for family, kind, proto, _, address in infos:
            sock = socket.socket(family, kind, proto)
            try:
                sock.setblocking(False)
                await loop.sock_connect(sock, address)
            except OSError as exc:
                sock.close()
                error = exc
                continue
            except BaseException:  # cancelled (a timeout): do not leave it half open
                sock.close()
                raise
            return sock
        raise error or OSError(f"{host} has no address")

    sock = await connect()
    try:
        check_peer(sock.getpeername(), host, port, purpose, settings)
    except BaseException:
        sock.close()
        raise
    return sock


async def open_connection(
    host: str,
    port: int,
    purpose: Purpose,
    settings: Settings,
    *,
    ssl: ssl_module.SSLContext | None = None,
    server_hostname: str | None = None,
    resolve: Resolve | None = None,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """``asyncio.open_connection`` through the guard: checked before connecting, then the peer
    (``get_extra_info("peername")``) is checked before anything is sent, and only then is TLS started
    when ``ssl`` is given (so no ClientHello reaches a refused peer). Bound it with ``asyncio.timeout``."""
    await check(host, port, purpose, settings, resolve=resolve)
    reader, writer = await asyncio.open_connection(_bare(host), port)
    try:
        check_connected(writer, host, port, purpose, settings)
        if ssl is not None:
            await writer.start_tls(ssl, server_hostname=server_hostname or _bare(host))
    except BaseException:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
        raise
    return reader, writer


# --- HTTP ---------------------------------------------------------------------------------------


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend with the peer of every new connection checked before TLS or a
    request is sent over it."""

    def __init__(self, settings: Settings, purpose: Purpose) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._settings = settings
        self._purpose = purpose

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_tcp(
            host, port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )
        try:
            check_peer(stream.get_extra_info("server_addr"), host, port, self._purpose, self._settings)
        except BaseException:
            await stream.aclose()
            raise
        return stream

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise EgressRefused("connections to Unix sockets are refused", host=path)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport whose every request (redirects included: each is a request of its own) is
    checked first, over a connection pool whose every connection's peer is checked."""

    def __init__(
        self,
        settings: Settings,
        purpose: Purpose,
        resolve: Resolve | None,
        *,
        verify: ssl_module.SSLContext | str | bool = True,
        cert: Any = None,
        http1: bool = True,
        http2: bool = False,
        limits: httpx.Limits | None = None,
        retries: int = 0,
    ) -> None:
        limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20)
        context = httpx.create_ssl_context(verify=verify, cert=cert, trust_env=False)
        super().__init__(verify=context, trust_env=False, http1=http1, http2=http2, limits=limits)
        if not isinstance(getattr(self, "_pool", None), httpcore.AsyncConnectionPool):  # pragma: no cover
            raise RuntimeError(
                "this httpx keeps its connection pool elsewhere: the egress guard needs updating"
            )
        # httpx 0.28 takes no network backend; the pool it made is replaced by the same one over ours.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=http1,
            http2=http2,
            retries=retries,
            network_backend=_GuardedBackend(settings, purpose),
        )
        self._settings = settings
        self._purpose = purpose
        self._resolve = resolve

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        host = url.host
        port = url.port or (443 if url.scheme == "https" else 80)
        if url.scheme not in ("http", "https"):
            raise EgressRefused(
                f"{url.scheme}:// is refused: only http:// and https://", host=host, part="scheme"
            )
        if (
            url.scheme == "http"
            and not self._purpose.plain_http
            and not _operator_names(host, port, self._settings)
        ):
            try:  # an internal address is the better reason, when it is one
                await check(host, port, self._purpose, self._settings, resolve=self._resolve)
            except EgressRefused as exc:
                if exc.part == "host":
                    raise
            raise EgressRefused(
                f"http://{host}:{port} is refused: {self._purpose.name} needs https://",
                host=host,
                port=port,
                part="scheme",
            )
        await check(host, port, self._purpose, self._settings, resolve=self._resolve)
        return await super().handle_async_request(request)


def _operator_names(host: str, port: int, settings: Settings) -> bool:
    """Whether an allow entry names ``host`` itself (by name, or the address it is), no DNS asked."""
    try:
        target = _target(host, port)
    except EgressRefused:
        return False
    rules = allow_list(settings)
    return rules.names(target.name, port) or (
        target.address is not None and rules.covers(target.address, port)
    )


_NOT_FOR_CALLERS = ("transport", "mounts", "proxy", "trust_env", "app", "uds")
_TRANSPORT_ARGS = ("verify", "cert", "http1", "http2", "limits", "retries")


def http_client(
    settings: Settings, *, purpose: Purpose = HTTPS, resolve: Resolve | None = None, **kwargs: Any
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` through the guard: every request (each redirect too) is checked
    (:func:`check`; plain ``http://`` only when ``purpose`` allows it or an allow entry names the
    host), and every connection's peer is checked before anything is sent. Environment proxies are
    not used. ``verify``, ``cert``, ``http1``, ``http2``, ``limits`` and ``retries`` configure the
    transport; other keyword arguments go to ``httpx.AsyncClient``. A refusal raises
    :class:`EgressRefused` from the request."""
    for k in _NOT_FOR_CALLERS:
        if k in kwargs:
            raise TypeError(f"http_client() does not take {k!r}: it would bypass the egress guard")
    transport_args = {k: kwargs.pop(k) for k in _TRANSPORT_ARGS if k in kwargs}
    transport = _GuardedTransport(settings, purpose, resolve, **transport_args)
    return httpx.AsyncClient(transport=transport, trust_env=False, **kwargs)


__all__ = [
    "HTTP",
    "HTTPS",
    "IMAP",
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
