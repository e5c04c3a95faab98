"""The verdict: before connecting (:func:`check`) and on the connected peer (:func:`check_peer`)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from helpline.platform.egress._addresses import Target, parse_address, refused_kind, target_of
from helpline.platform.egress._allow import AllowList, allow_list
from helpline.platform.egress._base import (
    RESOLVE_TIMEOUT,
    SETTING,
    EgressRefused,
    IPAddress,
    Purpose,
    Resolve,
)

if TYPE_CHECKING:
    from helpline.settings import Settings


def _a(kind: str) -> str:
    return ("an " if kind[0].lower() in "aeiou" else "a ") + kind


def judge(
    target: Target,
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


def check_sync(host: str, port: int, purpose: Purpose, settings: Settings, resolve: Resolve | None) -> None:
    target = target_of(host, port)
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
    judge(target, port, purpose, rules, addresses)


async def check(
    host: str, port: int, purpose: Purpose, settings: Settings, *, resolve: Resolve | None = None
) -> None:
    """Raise :class:`EgressRefused` when the policy refuses ``host:port`` for ``purpose``; return
    None when it may be tried. ``host`` is resolved (``resolve``, default ``getaddrinfo``, at most
    :data:`RESOLVE_TIMEOUT`); a name that does not resolve is not refused (the connection itself is
    checked again when it is made)."""
    target = target_of(host, port)
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
    judge(target, port, purpose, rules, addresses)


def check_peer(peer: Any, host: str, port: int, purpose: Purpose, settings: Settings) -> None:
    """Raise :class:`EgressRefused` unless ``peer`` (a connected socket's peer address: a
    ``getpeername()`` tuple or an address string) may be reached for ``host:port``. A host that the
    operator allows by name is trusted whatever it resolved to."""
    target = target_of(host, port)
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
    judge(target, port, purpose, rules, [address], peer=True)


class _HasExtraInfo(Protocol):
    def get_extra_info(self, name: str, default: Any = None) -> Any: ...


def check_connected(conn: _HasExtraInfo, host: str, port: int, purpose: Purpose, settings: Settings) -> None:
    """:func:`check_peer` for an asyncio transport or ``StreamWriter`` (its ``peername``). The caller
    closes the connection when this raises, before sending anything."""
    check_peer(conn.get_extra_info("peername"), host, port, purpose, settings)
