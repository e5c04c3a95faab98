"""The egress guard (``helpline.platform.egress``, ADR 0012): which hosts and ports a connection made
on a user's behalf may reach, in every notation; the operator's allow-list; and the check of the
connected peer that defeats DNS rebinding, for each way of connecting (asyncio streams, a socket for
aiosmtplib, a blocking socket for imaplib, httpx with its redirects).

Names are resolved by an injected resolver where the test needs an answer no machine gives without
root (a public name that resolves to loopback), and by the system's for ``localhost``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
from pydantic import ValidationError

from helpline.platform import egress
from helpline.settings import Settings
from tests.integration.test_cli import helpline, one_line_error
from tests.security.listeners import listening

PUBLIC = "93.184.216.34"


def settings(allow: str = "") -> Settings:
    return Settings(egress_allow=allow, secret_key="egress-tests")


def resolver(*addresses: str) -> egress.Resolve:
    def resolve(host: str, port: int) -> Iterable[str]:
        return list(addresses)

    return resolve


def no_resolver(host: str, port: int) -> Iterable[str]:
    raise AssertionError(f"{host!r} is an address: our own parsing must judge it, not a resolver")


async def refused(
    host: str, port: int = 993, purpose: egress.Purpose = egress.IMAP, *, allow: str = "", **kw: object
) -> egress.EgressRefused:
    with pytest.raises(egress.EgressRefused) as caught:
        await egress.check(host, port, purpose, settings(allow), **kw)
    assert caught.value.code == "egress_refused"
    return caught.value


# --- ranges ------------------------------------------------------------------------------------

REFUSED = [
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("::1", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.255", "private"),
    ("192.168.1.1", "private"),
    ("fc00::1", "private"),
    ("fd12:3456::1", "private"),
    ("169.254.1.1", "link-local"),
    ("fe80::1", "link-local"),
    ("fe80::1%eth0", "link-local"),
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "unspecified"),
    ("::", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("ff02::1", "multicast"),
    ("255.255.255.255", "broadcast"),
    ("240.0.0.1", "reserved"),
    ("192.0.0.8", "reserved"),
    ("192.88.99.1", "reserved"),
    ("2001:2::1", "reserved"),
    ("4000::1", "reserved"),
    ("198.18.0.1", "benchmarking"),
    ("198.19.255.255", "benchmarking"),
    ("192.0.2.1", "documentation"),
    ("198.51.100.7", "documentation"),
    ("203.0.113.9", "documentation"),
    ("2001:db8::1", "documentation"),
    ("3fff::1", "documentation"),
    ("100.64.0.1", "carrier-grade NAT"),
    ("100.127.255.254", "carrier-grade NAT"),
    ("169.254.169.254", "cloud metadata"),
    ("fd00:ec2::254", "cloud metadata"),
    ("100.100.100.200", "cloud metadata"),
    ("fec0::1", "site-local"),
    ("100::1", "discard-only"),
    ("::ffff:127.0.0.1", "IPv4-mapped loopback"),
    ("::ffff:10.0.0.1", "IPv4-mapped private"),
    ("::ffff:169.254.169.254", "IPv4-mapped cloud metadata"),
    ("::127.0.0.1", "IPv4-compatible"),
    ("64:ff9b::7f00:1", "NAT64 loopback"),
    ("64:ff9b::a9fe:a9fe", "NAT64 cloud metadata"),
    ("64:ff9b:1::1", "local NAT64"),
    ("2002:7f00:1::1", "6to4 loopback"),
    ("2002:c0a8:101::1", "6to4 private"),
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "Teredo loopback"),  # client 127.0.0.1, obfuscated
]


@pytest.mark.parametrize(("address", "kind"), REFUSED)
async def test_every_internal_range_is_refused(address: str, kind: str) -> None:
    assert egress.refused_kind(ipaddress.ip_address(address)) == kind
    got = await refused(address, resolve=no_resolver)
    assert got.part == "host" and f"{kind} address" in str(got), got
    # A name resolving to it is refused the same way, without saying the address (no DNS oracle).
    got = await refused("mail.example.com", resolve=resolver(PUBLIC, address))
    article = "an" if kind[0].lower() in "aeiou" else "a"
    assert f"mail.example.com resolves to {article} {kind} address" in str(got), got
    assert address not in str(got)


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", PUBLIC, "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"],
)
async def test_public_addresses_pass(address: str) -> None:
    assert egress.refused_kind(ipaddress.ip_address(address)) is None
    await egress.check(address, 993, egress.IMAP, settings(), resolve=no_resolver)
    await egress.check("imap.example.com", 993, egress.IMAP, settings(), resolve=resolver(address))


# --- notations ---------------------------------------------------------------------------------

NOTATIONS = [
    "0x7f000001",
    "0X7F000001",
    "2130706433",
    "017700000001",
    "127.1",
    "127.0.1",
    "0177.0.0.1",
    "0x7f.0.0.1",
    "127.000.000.001",
    "127.0.0.1.",
    "127.0.0.1..",
    "[::1]",
    "[0:0:0:0:0:0:0:1]",
    "[::ffff:7f00:1]",
    "::FFFF:127.0.0.1",
    "[::ffff:127.0.0.1]",
    "\uff11\uff12\uff17\u3002\uff10\u3002\uff10\u3002\uff11",  # full-width 127.0.0.1, which IDNA maps
    "0",
    "0x0",
    "0xa9fea9fe",  # 169.254.169.254
    "2852039166",  # 169.254.169.254
]


@pytest.mark.parametrize("host", NOTATIONS)
async def test_odd_notations_are_refused_by_our_own_parsing(host: str) -> None:
    got = await refused(host, resolve=no_resolver)
    assert got.part == "host" and "address" in str(got), got


@pytest.mark.parametrize(
    "answer", ["127.0.0.1", "::1", "::ffff:127.0.0.1", "0x7f000001", "127.1", "not-an-address"]
)
async def test_what_a_resolver_answers_is_parsed_the_same_way(answer: str) -> None:
    """A resolver (or a hosts file) answering in another notation, or with junk, is refused too."""
    await refused("intranet.example.com", resolve=resolver(answer))


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST", "localhost.", "LocalHost."])
async def test_a_name_the_system_resolves_to_loopback_is_refused(host: str) -> None:
    """The real resolver: ``localhost`` is in every /etc/hosts."""
    got = await refused(host)
    assert "resolves to a loopback address" in str(got) and "127.0.0.1" not in str(got), got


async def test_any_internal_address_among_several_refuses_the_name() -> None:
    await refused("mail.example.com", resolve=resolver(PUBLIC, "2606:4700:4700::1111", "10.0.0.7"))
    await egress.check(
        "mail.example.com", 993, egress.IMAP, settings(), resolve=resolver(PUBLIC, "2606:4700:4700::1111")
    )


@pytest.mark.parametrize(
    "host", ["a b", "mail.example.com/x", "user@mail.example.com", "", "-", "a..b", "::zz"]
)
async def test_what_is_not_a_host_is_refused(host: str) -> None:
    got = await refused(host, resolve=no_resolver)
    assert "not a host name" in str(got)


async def test_a_name_that_does_not_resolve_is_left_to_the_connection() -> None:
    def nxdomain(host: str, port: int) -> Iterable[str]:
        raise OSError("Name or service not known")

    await egress.check("imap.example.invalid", 993, egress.IMAP, settings(), resolve=nxdomain)
    got = await refused("imap.example.invalid", 6379, resolve=nxdomain)  # the port still counts
    assert got.part == "port"


# --- ports -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("purpose", "good", "bad"),
    [
        (egress.IMAP, [143, 993], [25, 80, 443, 587, 6379, 9200, 22, 1143]),
        (egress.SMTP, [25, 465, 587, 2525], [143, 993, 80, 443, 6379, 11211]),
        (egress.HTTPS, [443], [80, 8080, 8443, 6379, 993]),
        (egress.HTTP, [80, 443], [8080, 6379, 25]),
    ],
)
async def test_only_the_purposes_ports(purpose: egress.Purpose, good: list[int], bad: list[int]) -> None:
    for port in good:
        await egress.check("mail.example.com", port, purpose, settings(), resolve=resolver(PUBLIC))
    for port in bad:
        got = await refused("mail.example.com", port, purpose, resolve=resolver(PUBLIC))
        assert got.part == "port" and f"port {port} is not one of the {purpose.name} ports" in str(got)


# --- the operator's allow-list -----------------------------------------------------------------


async def test_an_allowed_host_port_passes_and_nothing_else_does() -> None:
    allow = "127.0.0.1:1143, 10.0.0.0/8, mail.internal:2525, [fd00::25]:25"
    s = settings(allow)
    await egress.check("127.0.0.1", 1143, egress.IMAP, s, resolve=no_resolver)
    await egress.check("0x7f000001", 1143, egress.IMAP, s, resolve=no_resolver)  # the same address
    await egress.check("localhost", 1143, egress.IMAP, s, resolve=resolver("127.0.0.1"))
    await egress.check("10.20.30.40", 6379, egress.IMAP, s)  # a network: every port
    await egress.check("mail.internal", 2525, egress.SMTP, s, resolve=resolver("192.168.7.7"))
    await egress.check("[fd00::25]", 25, egress.SMTP, s)
    await refused("127.0.0.1", 1144, allow=allow)
    await refused("127.0.0.1", 993, allow=allow)
    await refused("127.0.0.2", 1143, allow=allow)
    await refused("11.0.0.0", 6379, allow=allow, resolve=no_resolver)  # public, and not an IMAP port
    await refused("mail.internal", 25, egress.SMTP, allow=allow, resolve=resolver("192.168.7.7"))
    await refused("other.internal", 2525, egress.SMTP, allow=allow, resolve=resolver("192.168.7.7"))
    await refused("fd00::26", 25, egress.SMTP, allow=allow)
    # A name allowed by an address entry only where every address it has is allowed.
    await refused("localhost", 1143, allow=allow, resolve=resolver("127.0.0.1", "::1"))


@pytest.mark.parametrize(
    ("value", "entry"),
    [
        ("10.0.0.1/8", "10.0.0.1/8"),
        ("10.0.0.0/33", "10.0.0.0/33"),
        ("127.1", "127.1"),
        ("0x7f000001:1143", "0x7f000001:1143"),
        ("mail.internal:99999", "mail.internal:99999"),
        ("mail.internal:", "mail.internal:"),
        ("good.example, bad host", "bad host"),
        ("[::1", "[::1"),
        ("[::1]25", "[::1]25"),
        ("[127.0.0.1]:25", "[127.0.0.1]:25"),
    ],
)
def test_a_bad_allow_list_stops_start_up_naming_the_entry(value: str, entry: str) -> None:
    with pytest.raises(ValidationError) as caught:
        settings(value)
    [error] = caught.value.errors()
    assert error["loc"] == ("egress_allow",) and f"entry {entry!r}" in error["msg"], error


def test_helpline_serve_says_so_in_one_line(tmp_path: Path) -> None:
    result = helpline(tmp_path, "serve", HELPLINE_EGRESS_ALLOW="127.0.0.1:1143,10.0.0.0/33")
    one_line_error(result, "HELPLINE_EGRESS_ALLOW", "'10.0.0.0/33'")


# --- the connection's real peer (DNS rebinding) --------------------------------------------------


def on(port: int, *, plain_http: bool = False) -> egress.Purpose:
    """A purpose whose port is the listener's, so only the address decides."""
    return egress.Purpose("test", frozenset({port}), plain_http=plain_http)


#: The check resolves ``localhost`` to a public address; the connection, made by the system, reaches
#: 127.0.0.1: what a DNS name with a zero TTL that answers differently the second time does.
REBOUND = resolver(PUBLIC)


async def test_asyncio_streams_close_before_a_byte_when_the_peer_is_internal() -> None:
    async with listening() as srv:
        with pytest.raises(
            egress.EgressRefused, match="the connection to localhost reached a loopback address"
        ):
            await egress.open_connection("localhost", srv.port, on(srv.port), settings(), resolve=REBOUND)
        # With TLS asked for: no ClientHello either (TLS starts only after the peer was checked).
        with pytest.raises(egress.EgressRefused):
            await egress.open_connection(
                "localhost",
                srv.port,
                on(srv.port),
                settings(),
                resolve=REBOUND,
                ssl=ssl.create_default_context(),
            )
        await srv.settled()
        assert srv.connections == 2 and srv.all_received == b""
        # The same call with the peer allowed by the operator goes through (the listener works).
        _reader, writer = await egress.open_connection(
            "localhost", srv.port, on(srv.port), settings(f"127.0.0.1:{srv.port}"), resolve=REBOUND
        )
        writer.write(b"hello\r\n")
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        await srv.settled()
        assert srv.all_received == b"hello\r\n"


async def test_a_socket_for_aiosmtplib_is_closed_before_a_byte_when_the_peer_is_internal() -> None:
    async with listening() as srv:
        with pytest.raises(egress.EgressRefused, match="reached a loopback address"):
            await egress.open_socket("localhost", srv.port, on(srv.port), settings(), resolve=REBOUND)
        await srv.settled()
        assert srv.connections == 1 and srv.all_received == b""
        sock = await egress.open_socket(
            "localhost", srv.port, on(srv.port), settings(f"127.0.0.1:{srv.port}"), resolve=REBOUND
        )
        sock.close()


async def test_a_blocking_socket_for_imaplib_is_closed_before_a_byte_when_the_peer_is_internal() -> None:
    async with listening() as srv:
        with pytest.raises(egress.EgressRefused, match="reached a loopback address"):
            await asyncio.to_thread(
                egress.connect_blocking,
                "localhost",
                srv.port,
                on(srv.port),
                settings(),
                timeout=5,
                resolve=REBOUND,
            )
        await srv.settled()
        assert srv.connections == 1 and srv.all_received == b""


def http_answer(status: str, headers: str = "") -> Callable[[bytes], bytes | None]:
    def answer(line: bytes) -> bytes | None:
        if line == b"\r\n":  # the end of a request's head
            return f"HTTP/1.1 {status}\r\n{headers}Content-Length: 2\r\n\r\nok".encode()
        return None

    return answer


async def test_httpx_checks_every_connection_and_every_redirect() -> None:
    async with listening(answer=http_answer("200 OK")) as target:
        # Rebinding: the request's check resolves localhost to a public address, the connection lands
        # on 127.0.0.1: refused before the request is sent.
        async with egress.http_client(
            settings(), purpose=on(target.port, plain_http=True), resolve=REBOUND
        ) as http:
            with pytest.raises(egress.EgressRefused, match="reached a loopback address"):
                await http.get(f"http://localhost:{target.port}/")
        await target.settled()
        assert target.connections == 1 and target.all_received == b""

        async with listening(
            answer=http_answer("302 Found", f"Location: http://127.0.0.1:{target.port}/secret\r\n")
        ) as redirector:
            s = settings(f"127.0.0.1:{redirector.port}")
            async with egress.http_client(
                s, purpose=on(redirector.port, plain_http=True), follow_redirects=True
            ) as http:
                with pytest.raises(egress.EgressRefused, match=r"127\.0\.0\.1 is a loopback address"):
                    await http.get(f"http://127.0.0.1:{redirector.port}/")
            assert b"GET / HTTP/1.1" in redirector.all_received  # the allowed server was asked …
            await target.settled()
            assert target.connections == 1 and target.all_received == b""  # … the redirect went nowhere
            # Allowed too, the redirect is followed (the test servers work).
            s = settings(f"127.0.0.1:{redirector.port}, 127.0.0.1:{target.port}")
            async with egress.http_client(s, purpose=on(redirector.port), follow_redirects=True) as http:
                r = await http.get(f"http://127.0.0.1:{redirector.port}/")
                assert r.status_code == 200 and r.text == "ok"
            assert b"GET /secret HTTP/1.1" in target.all_received


async def test_httpx_refuses_metadata_plain_http_and_a_way_around_the_guard() -> None:
    async with egress.http_client(settings()) as http:
        with pytest.raises(egress.EgressRefused, match="cloud metadata"):
            await http.get("https://169.254.169.254/latest/meta-data/")
        with pytest.raises(egress.EgressRefused) as caught:
            await http.get("http://example.com/")
        assert caught.value.part == "scheme"
        with pytest.raises(egress.EgressRefused, match="loopback"):
            await http.get("https://0x7f000001/")
    for kw in ({"transport": None}, {"mounts": {}}, {"proxy": "http://proxy:3128"}, {"trust_env": True}):
        with pytest.raises(TypeError, match="bypass the egress guard"):
            egress.http_client(settings(), **kw)
