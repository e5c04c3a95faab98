"""httpx through the guard: every request checked, every connection's peer checked."""

from __future__ import annotations

import ssl as ssl_module
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import httpcore
import httpx

from helpline.platform.egress._addresses import target_of
from helpline.platform.egress._allow import allow_list
from helpline.platform.egress._base import HTTPS, EgressRefused, Purpose, Resolve
from helpline.platform.egress._policy import check, check_peer

if TYPE_CHECKING:
    from helpline.settings import Settings


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
            and not operator_names(host, port, self._settings)
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


def operator_names(host: str, port: int, settings: Settings) -> bool:
    """Whether an allow entry names ``host`` itself (by name, or the address it is), no DNS asked."""
    try:
        target = target_of(host, port)
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
