"""FastAPI dependencies: the platform, and the principal behind a bearer token or a session cookie.

The principal of a credential is cached for :data:`PRINCIPAL_TTL` seconds in the platform cache
(in memory embedded, Redis distributed), keyed by the credential's hash, so most requests reach the
database only for their own work. Every cached principal carries the *generation* it was read
under; any committed write that can change a principal (a revoked token or session, a user
deactivated, a role or group membership changed, an organization's sharing changed; see
:data:`PRINCIPAL_TABLES`) replaces the generation, which makes every cached principal stale at once,
in every process sharing the cache. Expiry times are checked on every use.

The same commit also publishes one notice on :data:`AUTH_CHANNEL` (it carries nothing: no ids, no
secrets), so every process re-resolves the credentials of its live connections (``web.live``) and
ends those that lost their rights. :func:`principal_of_token` and :func:`principal_of_session` are
the one way a credential becomes a principal, for requests and live connections alike.
"""

from __future__ import annotations

import os
import time
from typing import Annotated, Any

import orjson
import sqlalchemy as sa
from fastapi import Depends, Request
from fastapi.requests import HTTPConnection
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from helpline.db.base import utcnow
from helpline.domains.accounts import queries as account_queries
from helpline.domains.accounts.models import ApiToken
from helpline.domains.accounts.security import same, token_hash
from helpline.domains.tickets import fields
from helpline.platform.db import QUIET
from helpline.platform.runtime import Platform
from helpline.web import principal as principals
from helpline.web.errors import Forbidden, Unauthorized
from helpline.web.principal import Principal

SESSION_COOKIE = "helpline_session"
CSRF_HEADER = "x-csrf-token"
_SAFE = {"GET", "HEAD", "OPTIONS"}

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
FIELD_TABLES: dict[str, tuple[str, ...]] = {
    "custom_fields": ("insert", "update", "delete"),
    "workspaces": ("delete",),
}
#: Told once after each commit that wrote :data:`PRINCIPAL_TABLES`, after the generation changed.
AUTH_CHANNEL = "auth:changed"
AUTH_NOTICE: dict[str, str] = {"auth": "changed"}
_GEN_KEY = "principal:gen"
_FIELDS_GEN_KEY = "fields:gen"
_GEN_TTL = 7 * 24 * 3600

_bearer = HTTPBearer(auto_error=False, description="An API token: `Authorization: Bearer hl_…`")


async def get_platform(request: Request) -> Platform:
    """``async`` although it awaits nothing: FastAPI runs a plain ``def`` dependency in its thread
    pool, a hand-off to another thread and back on every request (~4 % of a ticket create's CPU)."""
    platform: Platform = request.app.state.platform
    return platform


PlatformDep = Annotated[Platform, Depends(get_platform)]


def is_auth_notice(message: dict[str, Any]) -> bool:
    """Whether a pub/sub message is the notice :data:`AUTH_CHANNEL` carries (a subscription that
    includes that channel beside others tells it apart by its content)."""
    return message.get("auth") == "changed"


def install(platform: Platform) -> None:
    """Once per platform: make committed account and custom-field changes invalidate the caches
    and tell every process (:data:`AUTH_CHANNEL`). The app installs it at start; authenticating
    installs it too, for a platform built without the app."""
    _hook(platform)


def _hook(platform: Platform) -> None:
    if platform.extras.get("principal_cache_hooked"):
        return
    platform.extras["principal_cache_hooked"] = True

    async def principals_changed() -> None:
        # The generation first: whoever hears the notice and re-resolves must miss the cache.
        await platform.cache.set(_GEN_KEY, os.urandom(8).hex().encode(), _GEN_TTL)
        await platform.pubsub.publish(AUTH_CHANNEL, AUTH_NOTICE)

    async def fields_changed() -> None:
        fields.forget_local()
        await platform.cache.set(_FIELDS_GEN_KEY, os.urandom(8).hex().encode(), _GEN_TTL)

    platform.db.on_write(PRINCIPAL_TABLES, principals_changed)
    platform.db.on_write(FIELD_TABLES, fields_changed)


def _epoch(t: Any) -> float | None:
    return None if t is None else float(t.timestamp())


async def _cached(platform: Platform, key: str) -> tuple[str, list[Any] | None]:
    """The current generation, and the cache entry under ``key`` if it belongs to that generation
    and has not expired."""
    gen_raw, fields_gen, raw = await platform.cache.get_many([_GEN_KEY, _FIELDS_GEN_KEY, key])
    fields.use_generation(fields_gen or b"")
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
    _hook(platform)
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
    _hook(platform)
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


async def current_principal(
    request: Request,
    platform: PlatformDep,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Authenticate the request; 401 problem+json when there is no valid credential."""
    challenge = {"WWW-Authenticate": "Bearer"}
    if creds is not None:
        principal = await principal_of_token(platform, token_hash(creds.credentials))
        if principal is None:
            raise Unauthorized("the token is unknown, revoked or expired", headers=challenge)
        return principal
    session = await session_principal(request, platform)
    if session is not None:
        principal, csrf = session
        if request.method not in _SAFE and not same(request.headers.get(CSRF_HEADER, ""), csrf):
            raise Forbidden("missing or wrong X-CSRF-Token header for a cookie-authenticated request")
        return principal
    raise Unauthorized("sign in, or send an API token as `Authorization: Bearer <token>`", headers=challenge)


def session_digest(conn: HTTPConnection) -> str | None:
    """The hash of the connection's session cookie (what sessions are looked up and cached by)."""
    cookie = conn.cookies.get(SESSION_COOKIE)
    return token_hash(cookie) if cookie else None


async def session_principal(request: HTTPConnection, platform: Platform) -> tuple[Principal, str] | None:
    """The principal and CSRF token of the request's session cookie (cached like tokens), or None.
    API routes, HTML pages and the console's WebSocket all authenticate sessions through this."""
    digest = session_digest(request)
    if digest is None:
        return None
    return await principal_of_session(platform, digest)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
"""Who is asking: the principal every read and write is scoped by."""
