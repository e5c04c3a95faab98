"""What every HTML page needs: who is signed in (by the session cookie), CSRF on every form, safe
redirects, and the workspace's branding.

API routes answer 401/403 problem+json; page routes send the browser to the sign-in page instead
(:class:`LoginRequired`, handled in :mod:`helpline.web.errors`). Forms carry the session's CSRF token
as a hidden ``csrf_token`` field; htmx requests send it as the ``X-CSRF-Token`` header (set once on
``<body hx-headers>``). Forms shown before sign-in use a double-submit cookie instead.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from urllib.parse import quote

import sqlalchemy as sa
from fastapi import Depends, Request
from fastapi.responses import RedirectResponse

from helpline.domains.accounts.models import Workspace
from helpline.domains.accounts.principal import Principal
from helpline.domains.accounts.security import same
from helpline.errors import Forbidden
from helpline.web.deps import SESSION_COOKIE, PlatformDep, session_principal

ANON_CSRF_COOKIE = "helpline_csrf"
_SAFE = {"GET", "HEAD", "OPTIONS"}
_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
#: Logo types a browser shows as an image and never runs (no SVG: it can hold script).
LOGO_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")


class LoginRequired(Exception):
    """The page needs a signed-in user (of a kind); the handler redirects to ``login_url``."""

    def __init__(self, login_url: str) -> None:
        super().__init__(login_url)
        self.login_url = login_url


def safe_next(target: str | None, default: str = "/") -> str:
    """Only a path on this site: no scheme, no host, no ``//evil`` or ``/\\evil`` (open redirects)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")) or "\\" in target:
        return default
    if any(c in target for c in "\r\n\t") or ":" in target.split("?", 1)[0]:
        return default
    return target


def redirect(url: str, *, status: int = 303) -> RedirectResponse:
    return RedirectResponse(safe_next(url), status_code=status)


def _luminance(hex_colour: str) -> float:
    def channel(v: int) -> float:
        c = v / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two ``#rrggbb`` colours."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def brand_css(colour: str | None) -> str:
    """The console's bar in the brand colour: text on it black or white, whichever reads better; the
    current tab darkens the bar under white text and lightens it under black text."""
    if not colour:
        return ""
    ink = "#ffffff" if contrast(colour, "#ffffff") >= contrast(colour, "#000000") else "#000000"
    current = "rgba(0,0,0,.28)" if ink == "#ffffff" else "rgba(255,255,255,.45)"
    return f":root {{ --brand: {colour}; --brand-ink: {ink}; --nav-current: {current}; }}\n"


def brand_of(workspace_name: str, settings: dict[str, Any] | None) -> dict[str, Any]:
    """The branding a page shows, from the workspace's settings, each value checked before use."""
    s = settings or {}
    colour = s.get("primary_colour") if isinstance(s.get("primary_colour"), str) else None
    return {
        "name": s.get("display_name") or workspace_name,
        "primary_colour": colour if colour and _HEX.match(colour) else None,
        "logo": s.get("logo_sha256") if isinstance(s.get("logo_sha256"), str) else None,
        "logo_type": s.get("logo_type") if s.get("logo_type") in LOGO_TYPES else None,
        "timezone": s.get("timezone") or "UTC",
        "languages": s.get("languages") or ["en"],
    }


async def workspace_brand(platform: Any, workspace_id: int) -> dict[str, Any]:
    ws = Workspace.__table__
    async with platform.db.read() as conn:
        row = (
            await conn.execute(
                sa.select(ws.c.id, ws.c.slug, ws.c.name, ws.c.settings).where(ws.c.id == workspace_id)
            )
        ).first()
    if row is None:
        return brand_of("Helpline", {})
    return {**brand_of(row.name, row.settings), "workspace_id": row.id, "slug": row.slug}


async def session_of(request: Request, platform: Any) -> tuple[Principal, str] | None:
    """The signed-in principal and CSRF token of a page request (the same cached lookup as the API)."""
    return await session_principal(request, platform)


async def check_csrf(request: Request, expected: str) -> None:
    """Refuse a state-changing request whose form field or header does not carry ``expected``."""
    if request.method in _SAFE:
        return
    given = request.headers.get("x-csrf-token", "")
    if not given:
        ctype = request.headers.get("content-type", "")
        if "form" in ctype:
            form = await request.form()
            value = form.get("csrf_token")
            given = value if isinstance(value, str) else ""
    if not expected or not same(given, expected):
        if "form" in request.headers.get("content-type", ""):
            await (await request.form()).close()  # uploaded parts of a refused form go now, not at GC
        raise Forbidden("the form has expired or did not come from this site; reload the page and try again")


def public_url(request: Request) -> str:
    """Where this install is reached, for links a page shows (snippets, canonical links): the
    configured ``HELPLINE_BASE_URL``, else the address this request came to."""
    settings = request.app.state.platform.settings
    return str(settings.public_url(str(request.base_url)))


def login_url_for(request: Request, login_path: str) -> str:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"{login_path}?next={quote(here, safe='/')}"


#: Run for every console page shown (GET) after sign-in, in order: a domain adds what the shared
#: chrome shows (``request.state.nav``: chat adds its count to the main navigation).
STAFF_PAGE_HOOKS: list[Callable[[Request, Any, Principal], Awaitable[None]]] = []


async def _page_actor(request: Request, platform: PlatformDep, *, staff: bool) -> Principal:
    found = await session_of(request, platform)
    if found is None or found[0].is_staff != staff:
        if staff:
            raise LoginRequired(login_url_for(request, "/login"))
        slug = request.path_params.get("slug", "")
        raise LoginRequired(login_url_for(request, f"/portal/{slug}/login" if slug else "/portal"))
    actor, csrf = found
    request.state.actor, request.state.csrf_token = actor, csrf
    request.state.brand = await workspace_brand(platform, actor.workspace_id)
    await check_csrf(request, csrf)
    if staff and request.method == "GET":
        for hook in STAFF_PAGE_HOOKS:
            await hook(request, platform, actor)
    return actor


async def staff_page(request: Request, platform: PlatformDep) -> Principal:
    """A signed-in admin, agent or light agent; anyone else is sent to the console's sign-in."""
    return await _page_actor(request, platform, staff=True)


async def customer_page(request: Request, platform: PlatformDep) -> Principal:
    """A signed-in customer; anyone else is sent to the portal's sign-in."""
    return await _page_actor(request, platform, staff=False)


StaffPage = Annotated[Principal, Depends(staff_page)]
CustomerPage = Annotated[Principal, Depends(customer_page)]


def anon_csrf(request: Request) -> str:
    """The double-submit token for a form shown before sign-in (set as a cookie by :func:`keep_anon_csrf`)."""
    token = request.cookies.get(ANON_CSRF_COOKIE) or getattr(request.state, "anon_csrf", None)
    if not token:
        token = secrets.token_urlsafe(24)
    request.state.anon_csrf = token
    request.state.csrf_token = token
    return token


def keep_anon_csrf(request: Request, response: Any) -> Any:
    token = getattr(request.state, "anon_csrf", None)
    if token and request.cookies.get(ANON_CSRF_COOKIE) != token:
        secure = str(request.base_url).startswith("https://")
        response.set_cookie(
            ANON_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=secure, path="/"
        )
    return response


async def check_anon_csrf(request: Request) -> None:
    await check_csrf(request, request.cookies.get(ANON_CSRF_COOKIE, ""))


def set_session_cookie(response: Any, cookie: str, *, days: int, secure: bool) -> None:
    """The session cookie: HttpOnly, SameSite=Lax, Secure when the site is served over https."""
    response.set_cookie(
        SESSION_COOKIE, cookie, max_age=days * 86400, httponly=True, samesite="lax", secure=secure, path="/"
    )
