"""Connecting through the guard: a blocking socket, a non-blocking one, asyncio streams."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl as ssl_module
from typing import TYPE_CHECKING

from helpline.platform.egress._addresses import bare
from helpline.platform.egress._base import Purpose, Resolve
from helpline.platform.egress._policy import check, check_connected, check_peer, check_sync

if TYPE_CHECKING:
    from helpline.settings import Settings


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
    check_sync(host, port, purpose, settings, resolve)
    sock = socket.create_connection((bare(host), port), timeout)
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
        infos = await loop.getaddrinfo(bare(host), port, type=socket.SOCK_STREAM)
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
    reader, writer = await asyncio.open_connection(bare(host), port)
    try:
        check_connected(writer, host, port, purpose, settings)
        if ssl is not None:
            await writer.start_tls(ssl, server_hostname=server_hostname or bare(host))
    except BaseException:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
        raise
    return reader, writer
