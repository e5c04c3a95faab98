"""A sign-in in progress, between the redirect to the identity provider and its answer.

What the answer is checked against (OIDC: the ``nonce`` and PKCE verifier; SAML: the AuthnRequest's
id) stays on the server, in the platform cache (Redis when distributed), under the SHA-256 of the
flow's key (the OIDC ``state``, the SAML ``RelayState``), for :data:`FLOW_TTL` seconds. It is used
once: :func:`take` claims it with an atomic counter before reading, so two requests racing with the
same key cannot both succeed, and a replayed answer finds nothing.

The flow is also bound to the browser that started it: a random value in the ``helpline_sso`` cookie
(HttpOnly, path ``/sso/``), whose hash the flow keeps. An answer arriving in another browser (a
sign-in link planted on a victim: login CSRF) is refused. The OIDC callback is a top-level GET, so
``SameSite=Lax`` suffices; the SAML answer is a cross-site POST, which carries only ``SameSite=None;
Secure`` cookies, so SAML needs the site served over https.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

import orjson
from fastapi import Request, Response

COOKIE = "helpline_sso"
COOKIE_PATH = "/sso/"
FLOW_TTL = 600


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def browser_of(request: Request) -> str:
    """The browser's binding value: the one its cookie holds (so sign-ins in two tabs both work),
    or a new one."""
    value = request.cookies.get(COOKIE, "")
    return value if 32 <= len(value) <= 128 and value.isascii() else secrets.token_urlsafe(32)


def bind(response: Response, browser: str, *, secure: bool, cross_site_post: bool) -> Response:
    """Set the binding cookie on the response that sends the browser to the provider."""
    response.set_cookie(
        COOKIE,
        browser,
        max_age=FLOW_TTL,
        httponly=True,
        secure=secure,
        samesite="none" if cross_site_post and secure else "lax",
        path=COOKIE_PATH,
    )
    return response


def unbind(response: Response) -> Response:
    response.delete_cookie(COOKIE, path=COOKIE_PATH)
    return response


async def remember(cache: Any, key: str, browser: str, data: dict[str, Any]) -> None:
    """Keep ``data`` for the answer that will carry ``key``, bound to ``browser``."""
    await cache.set(f"sso:flow:{_hash(key)}", orjson.dumps({**data, "browser": _hash(browser)}), FLOW_TTL)


async def take(cache: Any, key: str, browser: str | None) -> dict[str, Any] | None:
    """The flow of ``key``, once: None when it is unknown, expired, already taken, or was started
    by another browser (a failed attempt uses the flow up too)."""
    if not key or len(key) > 512:
        return None
    digest = _hash(key)
    raw = (await cache.get_many([f"sso:flow:{digest}"]))[0]
    if raw is None or await cache.incr(f"sso:flow-used:{digest}", FLOW_TTL) != 1:
        return None
    await cache.delete(f"sso:flow:{digest}")
    data: dict[str, Any] = orjson.loads(raw)
    if not browser or not hmac.compare_digest(str(data.pop("browser", "")), _hash(browser)):
        return None
    return data
