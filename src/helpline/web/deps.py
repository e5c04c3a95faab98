"""FastAPI dependencies: the platform, and the principal behind a bearer token or a session cookie."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from helpline.db.base import utcnow
from helpline.domains.accounts import queries as account_queries
from helpline.domains.accounts.models import ApiToken
from helpline.domains.accounts.security import same, token_hash
from helpline.platform.runtime import Platform
from helpline.web.errors import Forbidden, Unauthorized
from helpline.web.principal import Principal

SESSION_COOKIE = "helpline_session"
CSRF_HEADER = "x-csrf-token"
_SAFE = {"GET", "HEAD", "OPTIONS"}

_bearer = HTTPBearer(auto_error=False, description="An API token: `Authorization: Bearer hl_…`")


def get_platform(request: Request) -> Platform:
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
        digest = token_hash(creds.credentials)
        async with platform.db.read() as conn:
            found = await account_queries.principal_for_token(conn, digest)
        if found is None:
            raise Unauthorized("the token is unknown, revoked or expired", headers=challenge)
        principal, last_used = found
        if account_queries.stale(last_used):
            tokens = ApiToken.__table__
            async with platform.db.transaction() as uow:
                await uow.execute(
                    sa.update(tokens).where(tokens.c.id == principal.token_id).values(last_used_at=utcnow())
                )
        return principal
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        async with platform.db.read() as conn:
            found_session = await account_queries.principal_for_session(conn, token_hash(cookie))
        if found_session is not None:
            principal, csrf = found_session
            if request.method not in _SAFE and not same(request.headers.get(CSRF_HEADER, ""), csrf):
                raise Forbidden("missing or wrong X-CSRF-Token header for a cookie-authenticated request")
            return principal
    raise Unauthorized("sign in, or send an API token as `Authorization: Bearer <token>`", headers=challenge)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
