"""Who a visitor is: an anonymous visitor carries a token signed with the install's secret key
(kept by the widget in the host page's storage: browsers block third-party cookies); a visitor
signed in on the host site is proven by ``user_hash = HMAC-SHA256(widget identity secret, user_id)``,
computed by the host site's server."""

from __future__ import annotations

import base64
import hashlib
import hmac


def _sig(secret: str, widget_id: int, visitor_id: int) -> str:
    mac = hmac.new(
        secret.encode(), f"chat-visitor:{widget_id}:{visitor_id}".encode(), hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(mac[:18]).decode()


def visitor_token(secret: str, widget_id: int, visitor_id: int) -> str:
    return f"{visitor_id}.{_sig(secret, widget_id, visitor_id)}"


def read_token(secret: str, widget_id: int, token: str | None) -> int | None:
    """The visitor id a token proves for this widget, or None."""
    if not token or "." not in token or len(token) > 100:
        return None
    vid, sig = token.split(".", 1)
    if not vid.isdigit():
        return None
    return int(vid) if hmac.compare_digest(sig, _sig(secret, widget_id, int(vid))) else None


def user_hash(identity_secret: str, user_id: str) -> str:
    """What the host site's server computes for a signed-in user (hex)."""
    return hmac.new(identity_secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def verify_user(identity_secret: str, user_id: str, given: str) -> bool:
    if not user_id or not given or len(user_id) > 255:
        return False
    return hmac.compare_digest(user_hash(identity_secret, user_id), given.lower())
