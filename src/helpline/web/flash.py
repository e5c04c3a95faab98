"""The console's one-time status line after a redirect (a "flash"), carried in a signed cookie.

A flash is written only by the server: the text travels in a cookie signed with the install's secret
and bound to the session that made the change, so a link such as ``/inbox?flash=…`` cannot put words
in the console's status banner. The page that shows it deletes the cookie."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from helpline.web import deps
from helpline.web.pages import redirect

COOKIE = "helpline_flash"
KINDS = ("ok", "error")


def _mac(secret: str, digest: str, payload: str) -> str:
    return hmac.new(secret.encode(), f"{digest}\n{payload}".encode(), hashlib.sha256).hexdigest()[:32]


def flash_redirect(
    request: Request, secret: str, url: str, message: str, *, kind: str = "ok"
) -> RedirectResponse:
    """Redirect to ``url`` (already made safe by the caller) with ``message`` shown once there."""
    response = redirect(url)
    payload = base64.urlsafe_b64encode(json.dumps([kind, message[:500]]).encode()).decode()
    mac = _mac(secret, deps.session_digest(request) or "", payload)
    response.set_cookie(COOKIE, f"{payload}.{mac}", max_age=120, httponly=True, samesite="lax", path="/")
    return response


def read_flash(request: Request, secret: str) -> tuple[str, str] | None:
    """The (kind, message) this session's last redirect left, if its signature holds."""
    raw = request.cookies.get(COOKIE) or ""
    payload, _, mac = raw.partition(".")
    if not payload or not hmac.compare_digest(mac, _mac(secret, deps.session_digest(request) or "", payload)):
        return None
    try:
        kind, message = json.loads(base64.urlsafe_b64decode(payload.encode()))
    except (ValueError, TypeError):
        return None
    return (kind if kind in KINDS else "ok", str(message))


def clear_flash(request: Request, response: Response) -> Response:
    """Delete the flash cookie once a page showed it."""
    if COOKIE in request.cookies:
        response.delete_cookie(COOKIE, path="/")
    return response
