"""The principal behind a credential (an API token's or a web session's hash), cached.

The principal of a credential is cached for :data:`PRINCIPAL_TTL` seconds in the platform cache
(in memory embedded, Redis distributed), keyed by the credential's hash, so most requests reach the
database only for their own work. Every cached principal carries the *generation* it was read
under; any committed write that can change a principal (a revoked token or session, a user
deactivated, a role or group membership changed, an organization's sharing changed; see
:data:`PRINCIPAL_TABLES`) replaces the generation, which makes every cached principal stale at once,
in every process sharing the cache. Expiry times are checked on every use.

The same commit also publishes one notice on :data:`AUTH_CHANNEL` (it carries nothing: no ids, no
secrets), so every process re-resolves the credentials of its live connections (``accounts.live``) and
ends those that lost their rights. :func:`principal_of_token` and :func:`principal_of_session` are
the one way a credential becomes a principal, for requests and live connections alike.

Other caches that must be as fresh as the principal ride on the same cache read: a domain registers
a generation key with :func:`read_along` (the custom-field catalogue does), and is told that key's
value on every lookup, at no extra round trip.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import orjson
import sqlalchemy as sa

from helpline.db.base import utcnow
from helpline.domains.accounts import principal as principals
from helpline.domains.accounts import queries as account_queries
from helpline.domains.accounts.models import ApiToken
from helpline.domains.accounts.principal import Principal
from helpline.platform.db import QUIET
from helpline.platform.runtime import Platform

#: Seconds a principal is cached. Changes through the application invalidate it at once; this
#: bounds what a change made behind its back (by hand in SQL) takes to show.
PRINCIPAL_TTL = 30
#: Writes that can change what a cached principal says, by table and kind of write.
PRINCIPAL_TABLES: dict[str, tuple[str, ...]] = {
    "users": ("update", "delete"),
    "memberships": ("update", "delete"),
    "groups": ("delete",),
    "group_members": ("insert", "update", "delete"),
    "api_tokens": ("update", "delete"),
    "web_sessions": ("update", "delete"),
    "contacts": ("update", "delete"),
    "organizations": ("update", "delete"),
    "workspaces": ("update", "delete"),  # disabled_at
}
#: Told once after each commit that wrote :data:`PRINCIPAL_TABLES`, after the generation changed.
AUTH_CHANNEL = "auth:changed"
AUTH_NOTICE: dict[str, str] = {"auth": "changed"}
_GEN_KEY = "principal:gen"
GEN_TTL = 7 * 24 * 3600

#: Generation keys read along with every principal lookup, and who is told their value.
_along: dict[str, Callable[[bytes], None]] = {}
#: How each cache read along installs its own invalidation on a platform.
_installs: dict[str, Callable[[Platform], None]] = {}


def read_along(key: str, told: Callable[[bytes], None], install: Callable[[Platform], None]) -> None:
    """Read the cache entry ``key`` with every principal lookup and call ``told`` with its value
    (``b""`` when absent): a request-scoped cache learns its generation without a round trip.
    ``install`` registers that cache's own invalidation; it runs whenever this cache installs."""
    _along[key] = told
    _installs[key] = install


def is_auth_notice(message: dict[str, Any]) -> bool:
    """Whether a pub/sub message is the notice :data:`AUTH_CHANNEL` carries (a subscription that
    includes that channel beside others tells it apart by its content)."""
    return message.get("auth") == "changed"


def install(platform: Platform) -> None:
    """Once per platform: make committed account changes invalidate cached principals and tell
    every process (:data:`AUTH_CHANNEL`), and install the caches read along with it. Looking a
    principal up installs it too."""
    for also in list(_installs.values()):
        also(platform)
    if platform.extras.get("principal_cache_hooked"):
        return
    platform.extras["principal_cache_hooked"] = True

    async def principals_changed() -> None:
        # The generation first: whoever hears the notice and re-resolves must miss the cache.
        await platform.cache.set(_GEN_KEY, os.urandom(8).hex().encode(), GEN_TTL)
        await platform.pubsub.publish(AUTH_CHANNEL, AUTH_NOTICE)

    platform.db.on_write(PRINCIPAL_TABLES, principals_changed)


def _epoch(t: Any) -> float | None:
    return None if t is None else float(t.timestamp())


async def _cached(platform: Platform, key: str) -> tuple[str, list[Any] | None]:
    """The current generation, and the cache entry under ``key`` if it belongs to that generation
    and has not expired."""
    along = list(_along.items())
    gen_raw, raw, *others = await platform.cache.get_many([_GEN_KEY, key, *(k for k, _ in along)])
    for (_, told), value in zip(along, others, strict=True):
        told(value or b"")
    gen = gen_raw.decode() if gen_raw else ""
    if raw is None:
        return gen, None
    entry = orjson.loads(raw)
    if entry[0] != gen or (entry[1] is not None and entry[1] <= time.time()):
        return gen, None
    return gen, entry


async def _store(platform: Platform, key: str, gen: str, expires: Any, extra: object, p: Principal) -> None:
    ttl = PRINCIPAL_TTL
    exp = _epoch(expires)
    if exp is not None:
        ttl = max(1, min(ttl, int(exp - time.time())))
    await platform.cache.set(key, orjson.dumps([gen, exp, extra, principals.dump(p)]), ttl)


async def principal_of_token(platform: Platform, digest: str) -> Principal | None:
    """The principal of the API token whose hash is ``digest`` (cached; exact right after a commit
    that changed it), or None when it is unknown, revoked or expired, or its person or membership
    is no longer active."""
    install(platform)
    key = f"principal:t:{digest}"
    gen, entry = await _cached(platform, key)
    if entry is not None:
        return principals.load(entry[3])
    async with platform.db.read() as conn:
        found = await account_queries.token_principal(conn, digest)
    if found is None:
        return None
    principal, last_used, expires = found
    if account_queries.stale(last_used):
        tokens = ApiToken.__table__
        async with platform.db.transaction() as uow:
            await uow.execute(
                sa.update(tokens)
                .where(tokens.c.id == principal.token_id)
                .values(last_used_at=utcnow())
                .execution_options(**{QUIET: True})  # a last-use time changes no cached principal
            )
    await _store(platform, key, gen, expires, None, principal)
    return principal


async def principal_of_session(platform: Platform, digest: str) -> tuple[Principal, str] | None:
    """The principal and CSRF token of the web session whose cookie hashes to ``digest`` (cached
    like tokens), or None when it is unknown, ended or expired, or its person or membership is no
    longer active."""
    install(platform)
    key = f"principal:s:{digest}"
    gen, entry = await _cached(platform, key)
    if entry is not None:
        return principals.load(entry[3]), entry[2]
    async with platform.db.read() as conn:
        found = await account_queries.session_principal(conn, digest)
    if found is None:
        return None
    principal, csrf, expires = found
    await _store(platform, key, gen, expires, csrf, principal)
    return principal, csrf
