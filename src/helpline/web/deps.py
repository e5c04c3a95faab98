"""FastAPI dependencies: the platform, and the principal behind a bearer token or a session cookie
(looked up and cached by ``accounts.principal_cache``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.requests import HTTPConnection
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from helpline.domains.accounts.principal import Principal
from helpline.domains.accounts.principal_cache import principal_of_session, principal_of_token
from helpline.domains.accounts.security import same, token_hash
from helpline.errors import Forbidden, Unauthorized
from helpline.platform.runtime import Platform

SESSION_COOKIE = "helpline_session"
CSRF_HEADER = "x-csrf-token"
_SAFE = {"GET", "HEAD", "OPTIONS"}

_bearer = HTTPBearer(auto_error=False, description="An API token: `Authorization: Bearer hl_…`")


async def get_platform(request: Request) -> Platform:
    """``async`` although it awaits nothing: FastAPI runs a plain ``def`` dependency in its thread
    pool, a hand-off to another thread and back on every request (~4 % of a ticket create's CPU)."""
    platform: Platform = request.app.state.platform
    return platform


PlatformDep = Annotated[Platform, Depends(get_platform)]


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
