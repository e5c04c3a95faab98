"""OAuth2 access tokens of mailboxes (XOAUTH2 over IMAP and SMTP), renewed before they expire.

A mailbox with an OAuth2 client (``oauth_token_url`` and ``oauth_refresh_token``, usually with
``oauth_client_id`` / ``oauth_client_secret``) logs in with a cached access token
(``oauth_access_token``, ``oauth_expires_at``). Before a login, when that token is missing or expires
within :data:`MARGIN`, :func:`bearer` asks the token endpoint for a new one (``grant_type=
refresh_token``, RFC 6749 section 6) and stores it, with a rotated refresh token when the provider
returns one, in its own short transaction. A mailbox without an OAuth2 client logs in with the
access token saved as its IMAP or SMTP secret, which someone else must keep fresh.

A refresh the provider refuses (400/401: ``invalid_grant`` when the refresh token was revoked or
expired, ``invalid_client`` for a wrong client secret) is stored as ``oauth_error`` with a sentence an
admin can act on; for :data:`REFUSED_PAUSE` after it no further attempt reaches the provider (every
login fails at once with the same sentence), and saving new OAuth2 settings clears it. Unreachable
endpoints and 5xx answers are not stored: the caller's own backoff (the fetcher's, the send job's)
paces the next try.

The token endpoint is reached through the egress guard (:func:`egress.http_client`: https only,
port 443 unless the operator allows the host in ``HELPLINE_EGRESS_ALLOW``, every connection's peer
checked before anything is sent). Errors are our own sentences: the provider's ``error`` code when it
is one of RFC 6749's, never its ``error_description`` or body (those go to the log).

Concurrent refreshes: one at a time per mailbox in a process (a lock), and the row is read again
before refreshing, so a token another process just stored is used instead. Two processes that still
refresh at once both get a working token; the last write wins. When the provider rotates refresh
tokens, the slower of the two is refused the old one: if the faster has stored its new token by
then, the refusal is not recorded and the slower logs in with what was stored (or refreshes once
more with the new refresh token); otherwise that one login fails, and the faster's write clears the
recorded refusal a moment later.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import weakref
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import sqlalchemy as sa

from helpline.db.base import utcnow
from helpline.domains.channels.email import tls as email_tls
from helpline.domains.channels.email.failures import Failure, describe
from helpline.domains.channels.email.models import Mailbox
from helpline.platform import egress

if TYPE_CHECKING:
    from helpline.platform.runtime import Platform

log = logging.getLogger(__name__)
mailboxes = Mailbox.__table__

#: A cached token that expires sooner than this is renewed before logging in.
MARGIN = timedelta(minutes=5)
#: After a refusal, the token endpoint is not asked again for this long (unless the settings change).
REFUSED_PAUSE = timedelta(minutes=15)
#: Lifetime assumed when the token endpoint does not say (``expires_in`` is only RECOMMENDED).
DEFAULT_LIFETIME = timedelta(hours=1)
TIMEOUT = 20.0

#: The settings that make the OAuth2 client; changing any of them drops the cached token and error.
CLIENT_FIELDS = (
    "oauth_token_url",
    "oauth_client_id",
    "oauth_client_secret",
    "oauth_refresh_token",
    "oauth_scope",
)
#: What a change of the client settings resets.
RESET = {"oauth_access_token": "", "oauth_expires_at": None, "oauth_error": None, "oauth_error_at": None}
_STATE = ("oauth_refresh_token", "oauth_access_token", "oauth_expires_at", "oauth_error", "oauth_error_at")


class OAuth2Error(Failure):
    """The access token could not be had; the message says why in words an admin can act on."""


def configured(mailbox: dict[str, Any]) -> bool:
    """Whether the mailbox renews its own access tokens (it has a token endpoint and a refresh token)."""
    return bool(mailbox.get("oauth_token_url") and mailbox.get("oauth_refresh_token"))


def fresh(mailbox: dict[str, Any], now: datetime | None = None) -> bool:
    """Whether the cached access token is there and good for at least :data:`MARGIN` more."""
    expires = mailbox.get("oauth_expires_at")
    return (
        bool(mailbox.get("oauth_access_token"))
        and expires is not None
        and (expires - (now or utcnow()) > MARGIN)
    )


def token_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a token endpoint, or None: ``https://`` only (the client secret and the
    refresh token travel in the request), except ``http://`` to this machine (127.0.0.0/8, ::1,
    ``localhost``), where nothing crosses a network. This is the URL's form only: the egress guard
    also refuses internal addresses (this machine included) unless the operator allows them."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return "not a URL"
    if not host or parts.username is not None or parts.password is not None or parts.fragment:
        return "an https:// URL with a host name and no user name or #fragment"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and _loopback(host):
        return None
    return "must start with https:// (http:// only to this machine: 127.0.0.1, ::1 or localhost)"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def bearer(platform: Platform, mailbox: dict[str, Any], secret_field: str) -> str:
    """The access token to log in with by XOAUTH2: renewed from the mailbox's OAuth2 client when it
    has one (``mailbox`` is updated in place with the new token), else the saved ``secret_field``
    (``imap_secret`` or ``smtp_secret``). Raises :class:`OAuth2Error` when no token can be had."""
    if not configured(mailbox):
        return str(mailbox.get(secret_field) or "")
    if fresh(mailbox):
        return str(mailbox["oauth_access_token"])
    async with _lock(int(mailbox["id"])):
        await _reload(platform, mailbox)  # another task or process may have just renewed it
        if not configured(mailbox):
            return str(mailbox.get(secret_field) or "")
        if fresh(mailbox):
            return str(mailbox["oauth_access_token"])
        error, since = mailbox.get("oauth_error"), mailbox.get("oauth_error_at")
        if error and since is not None and utcnow() - since < REFUSED_PAUSE:
            raise OAuth2Error(str(error))
        return await _refresh(platform, mailbox, retry=True)


_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def _lock(mailbox_id: int) -> asyncio.Lock:
    per_loop = _locks.setdefault(asyncio.get_running_loop(), {})
    return per_loop.setdefault(mailbox_id, asyncio.Lock())


async def _reload(platform: Platform, mailbox: dict[str, Any]) -> None:
    async with platform.db.read() as conn:
        row = (
            (
                await conn.execute(
                    sa.select(*(mailboxes.c[k] for k in (*CLIENT_FIELDS, *_STATE))).where(
                        mailboxes.c.id == mailbox["id"]
                    )
                )
            )
            .mappings()
            .first()
        )
    if row is None:
        raise OAuth2Error("the mailbox was deleted")
    mailbox.update(row)


async def _refresh(platform: Platform, mailbox: dict[str, Any], *, retry: bool) -> str:
    url = str(mailbox["oauth_token_url"])
    problem = token_url_problem(url)
    if problem:
        raise OAuth2Error(f"the OAuth2 token endpoint {url!r} cannot be used: {problem}")
    used = str(mailbox["oauth_refresh_token"])
    form = {"grant_type": "refresh_token", "refresh_token": used}
    if mailbox.get("oauth_scope"):
        form["scope"] = str(mailbox["oauth_scope"])
    client_id, client_secret = (
        str(mailbox.get("oauth_client_id") or ""),
        str(mailbox.get("oauth_client_secret") or ""),
    )
    host = urlsplit(url).netloc
    try:
        async with egress.http_client(
            platform.settings,
            purpose=egress.HTTPS,
            verify=email_tls.client_context(platform.settings),
            timeout=TIMEOUT,
            follow_redirects=False,
        ) as http:
            # Client credentials in the body (what Google and Microsoft document); a server that
            # insists on HTTP Basic (RFC 6749 section 2.3.1) answers invalid_client, so ask it that way.
            body = {**form, "client_id": client_id} if client_id else dict(form)
            if client_secret:
                body["client_secret"] = client_secret
            r = await http.post(url, data=body, headers={"Accept": "application/json"})
            if r.status_code in (400, 401) and client_secret and _error_of(r)[0] == "invalid_client":
                r = await http.post(
                    url,
                    data=form,
                    auth=httpx.BasicAuth(_form_encode(client_id), _form_encode(client_secret)),
                    headers={"Accept": "application/json"},
                )
    except egress.EgressRefused as exc:
        raise OAuth2Error(f"the OAuth2 token endpoint {host} cannot be used: {exc}") from exc
    except (httpx.HTTPError, OSError, email_tls.TlsSetupError) as exc:
        raise OAuth2Error(f"the OAuth2 token endpoint {host} could not be reached: {describe(exc)}") from exc
    if r.status_code in (400, 401):
        code, description = _error_of(r)
        if description:  # the provider's words: for the operator's log, not the admin's page
            log.warning("mailbox %s: the OAuth2 token endpoint said %s: %s", mailbox["id"], code, description)
        reason = _refused(code if code in RFC6749_ERRORS else f"HTTP {r.status_code}")
        if await _record_refusal(platform, mailbox, used, reason):
            log.warning("mailbox %s: %s", mailbox["id"], reason)
            raise OAuth2Error(reason)
        # Another process rotated the refresh token (or an admin saved a new one) meanwhile.
        await _reload(platform, mailbox)
        if fresh(mailbox):
            return str(mailbox["oauth_access_token"])
        if retry and configured(mailbox):
            return await _refresh(platform, mailbox, retry=False)
        raise OAuth2Error(reason)
    if r.status_code != 200:
        raise OAuth2Error(
            f"the OAuth2 token endpoint {host} answered HTTP {r.status_code}; trying again later"
        )
    try:
        data = r.json()
    except ValueError:
        data = None
    token = data.get("access_token") if isinstance(data, dict) else None
    if not isinstance(token, str) or not token:
        raise OAuth2Error(f"the OAuth2 token endpoint {host} answered without an access token")
    kind = data.get("token_type")
    if isinstance(kind, str) and kind.lower() != "bearer":
        log.warning("mailbox %s: the OAuth2 token endpoint gave a %r token", mailbox["id"], kind[:50])
        raise OAuth2Error(f"the OAuth2 token endpoint {host} gave a token that is not a Bearer token")
    lifetime = DEFAULT_LIFETIME
    expires_in = data.get("expires_in")
    try:
        if expires_in is not None:
            lifetime = timedelta(seconds=max(0, int(expires_in)))
    except (TypeError, ValueError):
        pass
    values: dict[str, Any] = {
        "oauth_access_token": token,
        "oauth_expires_at": utcnow() + lifetime,
        "oauth_error": None,
        "oauth_error_at": None,
    }
    rotated = data.get("refresh_token")
    if isinstance(rotated, str) and rotated and rotated != used:
        values["oauth_refresh_token"] = rotated
    async with platform.db.transaction() as uow:
        # Only over the refresh token this answer is for: an admin may have saved another meanwhile.
        await uow.execute(
            mailboxes.update()
            .where(mailboxes.c.id == mailbox["id"], mailboxes.c.oauth_refresh_token == used)
            .values(**values)
        )
    mailbox.update(values)
    log.info("mailbox %s: OAuth2 access token renewed until %s", mailbox["id"], values["oauth_expires_at"])
    return token


def _form_encode(value: str) -> str:
    """RFC 6749 section 2.3.1: the client id and secret are form-encoded before HTTP Basic."""
    from urllib.parse import quote_plus

    return quote_plus(value)


def _error_of(r: httpx.Response) -> tuple[str, str]:
    """The OAuth2 ``error`` code and ``error_description`` of an error answer (RFC 6749 section 5.2)."""
    try:
        data = r.json()
    except ValueError:
        return "", ""
    if not isinstance(data, dict):
        return "", ""
    code = data.get("error")
    description = data.get("error_description")
    return (
        code[:100] if isinstance(code, str) else "",
        description[:300] if isinstance(description, str) else "",
    )


#: The ``error`` codes of RFC 6749 section 5.2: shown by name; anything else as its HTTP status.
RFC6749_ERRORS = frozenset(
    {
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
    }
)


def _refused(code: str) -> str:
    if code == "invalid_grant":
        reason = (
            "the OAuth2 refresh token was refused: invalid_grant — sign in to the provider again and "
            "save a new refresh token"
        )
    elif code in ("invalid_client", "unauthorized_client"):
        reason = (
            f"the OAuth2 client was refused: {code} — check the client id and client secret, and that "
            "this client may use refresh tokens"
        )
    else:
        reason = f"the OAuth2 token endpoint refused the refresh: {code} — check the OAuth2 settings"
    return reason


async def _record_refusal(platform: Platform, mailbox: dict[str, Any], used: str, reason: str) -> bool:
    """Store the refusal, unless the refresh token changed meanwhile; whether it was stored."""
    now = utcnow()
    async with platform.db.transaction() as uow:
        result = await uow.execute(
            mailboxes.update()
            .where(mailboxes.c.id == mailbox["id"], mailboxes.c.oauth_refresh_token == used)
            .values(oauth_error=reason[:1000], oauth_error_at=now)
        )
    if result.rowcount != 1:
        return False
    mailbox.update(oauth_error=reason[:1000], oauth_error_at=now)
    return True
