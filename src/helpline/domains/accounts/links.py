"""Signed, expiring, single-use links sent by email: password reset and sign-in links.

A link carries ``purpose.user_id.expiry`` and an HMAC over it *and over a fingerprint of the user's
current state* (password hash and latest session). Using the link changes that state (a new password,
a new session), so the same link cannot work twice, and nothing needs to be stored for it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

import sqlalchemy as sa

from helpline.domains.accounts.models import User, WebSession
from helpline.platform.db import UnitOfWork

users, sessions = User.__table__, WebSession.__table__
RESET, SIGN_IN = "reset", "signin"
#: Links mailed to one address (sign-in and password-reset links together) per window, whoever asks.
LINKS_PER_WINDOW, LINK_WINDOW = 5, 15 * 60


async def allowed(cache: Any, email: str) -> bool:
    """Count one more link mailed to ``email``; False once the window's allowance is spent (so a
    stranger cannot flood an inbox through the forms that mail links)."""
    key = f"links:sent:{email.strip().lower()[:320]}"
    return await cache.incr(key, LINK_WINDOW) <= LINKS_PER_WINDOW  # type: ignore[no-any-return]


async def _fingerprint(uow: UnitOfWork, user_id: int) -> str | None:
    row = (
        await uow.execute(sa.select(users.c.password_hash, users.c.is_active).where(users.c.id == user_id))
    ).first()
    if row is None or not row.is_active:
        return None
    last = (
        await uow.execute(sa.select(sa.func.max(sessions.c.id)).where(sessions.c.user_id == user_id))
    ).scalar()
    return f"{row.password_hash or ''}|{last or 0}"


def _sign(secret: str, payload: str, fingerprint: str) -> str:
    mac = hmac.new(secret.encode(), f"{payload}|{fingerprint}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:24]).decode().rstrip("=")


async def make(uow: UnitOfWork, secret: str, purpose: str, user_id: int, *, ttl: int) -> str:
    fingerprint = await _fingerprint(uow, user_id)
    if fingerprint is None:
        raise ValueError("no such active user")
    payload = f"{purpose}.{user_id}.{int(time.time()) + ttl}"
    return f"{payload}.{_sign(secret, payload, fingerprint)}"


async def read(uow: UnitOfWork, secret: str, purpose: str, token: str) -> int | None:
    """The user id the link is for, or None when it is forged, expired, used or for another purpose."""
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != purpose or not parts[1].isdigit() or not parts[2].isdigit():
        return None
    if int(parts[2]) < time.time() or len(parts[1]) > 19:
        return None
    user_id = int(parts[1])
    fingerprint = await _fingerprint(uow, user_id)
    if fingerprint is None:
        return None
    expected = _sign(secret, ".".join(parts[:3]), fingerprint)
    return user_id if hmac.compare_digest(expected, parts[3]) else None
