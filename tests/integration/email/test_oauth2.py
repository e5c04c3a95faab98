"""OAuth2 mailboxes past the first hour: Helpline renews the access token from the refresh token at
the provider's token endpoint (a local one here, whose tokens Dovecot's introspection server and an
aiosmtpd XOAUTH2 authenticator accept), before IMAP and SMTP logins, once per expiry; a refused
refresh token is reported in words and not retried in a loop; the OAuth2 client's secrets are
write-only in the API and the admin form; migration 0033 goes up, down and up again without
touching the mailboxes' mail records.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from aiosmtpd.smtp import MISSING, AuthResult

from helpline.db import migrate
from helpline.db.base import utcnow
from helpline.domains.accounts import service as accounts
from helpline.domains.accounts.models import Role
from helpline.domains.channels.email import imap, oauth2
from helpline.domains.channels.email.connection import test_connection as connection_test
from helpline.domains.channels.email.health import mailbox_health
from helpline.domains.channels.email.models import InboundMail, Mailbox
from helpline.platform.db import Database
from helpline.platform.runtime import build_platform
from helpline.settings import Settings
from tests.conftest import WS, drain
from tests.integration.email.conftest import allow, deliver, mail, make_mailbox
from tests.integration.email.dovecot import Dovecot, dovecot_tls  # noqa: F401 - the fixture
from tests.integration.email.test_mailbox_pages import form
from tests.integration.email.test_tls_auth import (
    SMTP_USER,
    TLS_HOST,
    AuthSink,
    append,
    certs,  # noqa: F401 - the fixture
    imap_mailbox,
    reload,
    reply,
    smtp_tls,  # noqa: F401 - the fixture
    ticket_with_smtp,
    tickets_of,
    trust,
)
from tests.integration.email.tls import Certs, Introspection, TokenEndpoint, token_endpoint

mailboxes_t = Mailbox.__table__
inbound_t = InboundMail.__table__

REFUSED = (
    "the OAuth2 refresh token was refused: invalid_grant — sign in to the provider again and save a "
    "new refresh token"
)


@pytest.fixture
def idp(dovecot_tls: Dovecot, settings: Settings) -> Iterator[TokenEndpoint]:  # noqa: F811
    """The provider's token endpoint, over TLS with the Dovecot's private CA; its access tokens are
    the ones Dovecot's introspection server accepts."""
    dc = dovecot_tls
    assert dc.oauth is not None and dc.certs is not None
    with token_endpoint(dc.oauth, host=TLS_HOST, context=dc.certs.server_context()) as endpoint:
        allow(settings, TLS_HOST, endpoint_port(endpoint))
        yield endpoint


def endpoint_port(endpoint: TokenEndpoint) -> int:
    port = urlsplit(endpoint.url).port
    assert port is not None
    return port


def client_of(endpoint: TokenEndpoint, user: str) -> dict[str, Any]:
    """A mailbox's OAuth2 client settings, with a fresh refresh token for ``user``."""
    return {
        "oauth_token_url": endpoint.url,
        "oauth_client_id": endpoint.client_id,
        "oauth_client_secret": endpoint.client_secret,
        "oauth_refresh_token": endpoint.grant(user),
    }


async def oauth_box(ws: WS, dc: Dovecot, endpoint: TokenEndpoint, **extra: Any) -> tuple[dict[str, Any], str]:
    """An IMAP mailbox signing in by XOAUTH2 with an OAuth2 client, and its (new, empty) folder."""
    return await imap_mailbox(
        ws, dc, "ssl", imap_auth="xoauth2", imap_secret="", **client_of(endpoint, dc.user), **extra
    )


async def set_cache(ws: WS, mailbox_id: int, token: str, expires_in: timedelta | None) -> None:
    """Put an access token in the mailbox's cache, expiring ``expires_in`` from now (negative: past)."""
    async with ws.platform.db.transaction() as uow:
        await uow.execute(
            mailboxes_t.update()
            .where(mailboxes_t.c.id == mailbox_id)
            .values(
                oauth_access_token=token,
                oauth_expires_at=None if expires_in is None else utcnow() + expires_in,
            )
        )


async def health_of(ws: WS, mailbox_id: int) -> dict[str, Any]:
    async with ws.platform.db.read() as conn:
        [found] = [h for h in await mailbox_health(conn, ws.id) if h["id"] == mailbox_id]
    return found


# --- IMAP ----------------------------------------------------------------------------------------


async def test_an_expired_token_is_renewed_once_before_the_login_and_the_fetch_succeeds(
    ws: WS,
    dovecot_tls: Dovecot,  # noqa: F811
    idp: TokenEndpoint,
) -> None:
    dc = dovecot_tls
    assert dc.oauth is not None and dc.certs is not None
    trust(ws, dc.certs.ca)  # the IMAP server's and the token endpoint's certificates
    box, folder = await oauth_box(ws, dc, idp, oauth_scope="https://mail.google.com/")
    refresh_token = box["oauth_refresh_token"]
    # The cached token expired ten minutes ago (Dovecot would refuse it: it is not active there).
    await set_cache(ws, box["id"], "ya29.expired", -timedelta(minutes=10))
    box = await reload(ws, box["id"])
    append(dc, folder, mail(to=box["address"], subject="An hour later"))

    assert await imap.fetch_once(ws.platform, box) == 1
    assert len(idp.refreshes) == 1, idp.refreshes
    [sent] = idp.refreshes
    assert sent == {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "scope": "https://mail.google.com/",
        "client_id": idp.client_id,
        "client_secret": idp.client_secret,
        "auth": "body",
    }
    [token] = idp.issued
    assert dc.oauth.seen[-1] == token  # Dovecot checked the renewed token, not the expired one
    assert "ya29.expired" not in dc.oauth.seen
    saved = await reload(ws, box["id"])
    assert saved["oauth_access_token"] == token and saved["oauth_error"] is None
    assert saved["oauth_expires_at"] is not None
    assert abs((saved["oauth_expires_at"] - utcnow()) - timedelta(hours=1)) < timedelta(minutes=1)
    assert saved["oauth_refresh_token"] == refresh_token  # not rotated by this provider

    # The cached token is good for an hour: the next logins (fetcher, connection test) reuse it.
    append(dc, folder, mail(to=box["address"], subject="Still in the hour"))
    assert await imap.fetch_once(ws.platform, await reload(ws, box["id"])) == 1
    result = await connection_test(ws.platform, await reload(ws, box["id"]))
    assert result["imap"]["state"] == "ok", result
    assert len(idp.refreshes) == 1 and dc.oauth.seen[-1] == token

    # Expiring within five minutes counts as expired; six minutes left does not.
    await set_cache(ws, box["id"], token, timedelta(minutes=4))
    assert await imap.fetch_once(ws.platform, await reload(ws, box["id"])) == 0
    assert len(idp.refreshes) == 2 and dc.oauth.seen[-1] == idp.issued[-1] != token
    await set_cache(ws, box["id"], idp.issued[-1], timedelta(minutes=6))
    assert await imap.fetch_once(ws.platform, await reload(ws, box["id"])) == 0
    assert len(idp.refreshes) == 2

    # A provider that rotates refresh tokens: the new one is stored and used next time.
    idp.rotate = True
    await set_cache(ws, box["id"], "", None)
    assert await imap.fetch_once(ws.platform, await reload(ws, box["id"])) == 0
    saved = await reload(ws, box["id"])
    assert saved["oauth_refresh_token"] != refresh_token
    assert saved["oauth_refresh_token"] in idp.refresh_tokens and refresh_token not in idp.refresh_tokens
    rotated = saved["oauth_refresh_token"]

    # Another process that read the old refresh token before the rotation and refreshes after it is
    # refused (invalid_grant): that refusal is not recorded, and it logs in with the stored token.
    stale = dict(saved)
    stale["oauth_refresh_token"] = refresh_token
    before = len(idp.refreshes)
    assert await oauth2._refresh(ws.platform, stale, retry=True) == saved["oauth_access_token"]
    assert len(idp.refreshes) == before + 1 and idp.refreshes[-1]["refresh_token"] == refresh_token
    saved = await reload(ws, box["id"])
    assert saved["oauth_error"] is None and saved["oauth_refresh_token"] == rotated

    # Several logins at once in one process: one refresh between them.
    await set_cache(ws, box["id"], "", None)
    before = len(idp.refreshes)
    rows = [await reload(ws, box["id"]) for _ in range(5)]
    tokens = await asyncio.gather(*(oauth2.bearer(ws.platform, row, "imap_secret") for row in rows))
    assert len(set(tokens)) == 1 and len(idp.refreshes) == before + 1
    await drain(ws.platform)
    assert [s for _, s in await tickets_of(ws, box["id"])] == ["An hour later", "Still in the hour"]


async def test_two_processes_renewing_at_once_both_log_in(
    ws: WS,
    dovecot_tls: Dovecot,  # noqa: F811
    idp: TokenEndpoint,
) -> None:
    """Two platforms (as two processes: their own event loop, engine and lock) find the token expired
    at the same moment; both get a token Dovecot accepts and the stored state stays usable."""
    dc = dovecot_tls
    assert dc.oauth is not None and dc.certs is not None
    trust(ws, dc.certs.ca)
    box, folder = await oauth_box(ws, dc, idp)
    append(dc, folder, mail(to=box["address"], subject="Raced"))
    start = threading.Barrier(2)

    def other_process() -> int:
        async def run() -> int:
            platform = build_platform(ws.platform.settings)
            try:
                row = await reload_with(platform, box["id"])
                start.wait(10)
                conn = await imap.connect(platform, row)
                await asyncio.to_thread(conn.close)
                return len(idp.refreshes)
            finally:
                await platform.close()

        return asyncio.run(run())

    theirs = asyncio.create_task(asyncio.to_thread(other_process))
    mine = await reload(ws, box["id"])
    await asyncio.to_thread(start.wait, 10)
    assert await imap.fetch_once(ws.platform, mine) == 1
    await theirs
    assert 1 <= len(idp.refreshes) <= 2, idp.refreshes
    saved = await reload(ws, box["id"])
    assert saved["oauth_error"] is None and saved["oauth_access_token"] in idp.issued
    assert dc.oauth.tokens.get(saved["oauth_access_token"]) == dc.user
    # The stored token works for the next login without another refresh.
    before = len(idp.refreshes)
    assert await imap.fetch_once(ws.platform, saved) == 0
    assert len(idp.refreshes) == before


async def reload_with(platform: Any, mailbox_id: int) -> dict[str, Any]:
    async with platform.db.read() as conn:
        return dict(
            (await conn.execute(sa.select(mailboxes_t).where(mailboxes_t.c.id == mailbox_id)))
            .mappings()
            .one()
        )


async def test_a_revoked_refresh_token_is_reported_in_words_and_not_retried_in_a_loop(
    ws: WS,
    dovecot_tls: Dovecot,  # noqa: F811
    idp: TokenEndpoint,
    console: Any,
) -> None:
    dc = dovecot_tls
    assert dc.oauth is not None and dc.certs is not None
    trust(ws, dc.certs.ca)
    box, folder = await oauth_box(ws, dc, idp)
    idp.revoke(box["oauth_refresh_token"])
    append(dc, folder, mail(to=box["address"], subject="Waiting for a new sign-in"))
    _, page = await console(Role.admin)
    admin = await ws.person(Role.admin)

    # The connection test says why, in words, without asking Dovecot anything.
    async with ws.client(admin) as c:
        r = await c.post(f"/mailboxes/{box['id']}/test")
    assert r.status_code == 200, r.text
    got = r.json()["imap"]
    assert got["state"] == "fail" and got["detail"].startswith(REFUSED), got
    # What the provider said (its error_description) goes to the log, not to the page (ADR 0012).
    assert "Token has been expired or revoked." not in got["detail"]
    assert len(idp.refreshes) == 1
    async with ws.client(admin) as c:
        item = (await c.get(f"/mailboxes/{box['id']}")).json()
    assert item["oauth_error"].startswith(REFUSED) and item["oauth_refresh_token_set"] is True

    # The fetcher records it as its error and backs off; the refused token is not sent again.
    stop = threading.Event()
    task = asyncio.create_task(imap.run_fetcher(ws.platform, box["id"], stop, owner="oauth-test"))
    try:
        deadline = time.monotonic() + 10
        while not (await reload(ws, box["id"]))["last_error"]:
            assert time.monotonic() < deadline, "the fetcher recorded no error"
            assert not task.done(), task
            await asyncio.sleep(0.05)
        first = (await reload(ws, box["id"]))["last_error_at"]
        deadline = time.monotonic() + 10
        while (await reload(ws, box["id"]))["last_error_at"] == first:  # its second attempt (after 2 s)
            assert time.monotonic() < deadline, "the fetcher did not try again"
            assert not task.done(), task
            await asyncio.sleep(0.1)
        assert not task.done()  # not crashed
        assert len(idp.refreshes) == 1  # both attempts failed at once on the recorded refusal
        saved = await reload(ws, box["id"])
        assert saved["last_error"].startswith(REFUSED), saved["last_error"]
        health = await health_of(ws, box["id"])
        assert health["state"] == "fail" and health["oauth_error"].startswith(REFUSED), health
        assert REFUSED in health["detail"]
        html = (await page.get(f"/admin/mailboxes/{box['id']}")).text
        assert REFUSED in html and "Not renewed" in html
        html = (await page.get("/admin/mailboxes")).text
        assert "Failing" in html
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
    assert await tickets_of(ws, box["id"]) == []

    # After the pause the endpoint is asked once more (and refuses again).
    async with ws.platform.db.transaction() as uow:
        await uow.execute(
            mailboxes_t.update()
            .where(mailboxes_t.c.id == box["id"])
            .values(oauth_error_at=utcnow() - oauth2.REFUSED_PAUSE - timedelta(seconds=5))
        )
    with pytest.raises(oauth2.OAuth2Error, match="invalid_grant"):
        await imap.fetch_once(ws.platform, await reload(ws, box["id"]))
    assert len(idp.refreshes) == 2

    # The admin signs in at the provider again and saves the new refresh token: the error goes, and
    # the next fetch renews the token and gets the mail.
    async with ws.client(admin) as c:
        r = await c.patch(f"/mailboxes/{box['id']}", json={"oauth_refresh_token": idp.grant(dc.user)})
    assert r.status_code == 200 and r.json()["oauth_error"] is None, r.text
    assert await imap.fetch_once(ws.platform, await reload(ws, box["id"])) == 1
    assert len(idp.refreshes) == 3
    assert (await health_of(ws, box["id"]))["oauth_error"] is None


# --- SMTP ----------------------------------------------------------------------------------------


@dataclass
class XOAuth2Sink(AuthSink):
    """An SMTP server that also takes ``AUTH XOAUTH2`` (a handler's ``auth_XOAUTH2`` method, which
    aiosmtpd offers besides its own PLAIN and LOGIN), accepting the tokens in ``tokens`` (access token
    → user: the token endpoint's). A refused token gets what Gmail answers: a ``334`` challenge with a
    JSON error, then ``535`` once the client sends its empty line."""

    tokens: dict[str, str] = field(default_factory=dict)
    xoauth2: list[str] = field(default_factory=list)  # the tokens presented, in order

    async def auth_XOAUTH2(self, server: Any, args: list[str]) -> AuthResult:
        if len(args) == 2:
            blob: Any = base64.b64decode(args[1])
        else:
            blob = await server.challenge_auth("")
            if blob is MISSING:
                return AuthResult(success=False)
        fields = dict(part.split("=", 1) for part in blob.decode().split("\x01") if "=" in part)
        user, token = fields.get("user", ""), fields.get("auth", "").removeprefix("Bearer ")
        self.xoauth2.append(token)
        ok = bool(token) and self.tokens.get(token) == user
        self.logins.append((user, ok))
        if ok:
            return AuthResult(success=True, auth_data=user)
        error = {"status": "401", "schemes": "Bearer", "scope": "https://mail.google.com/"}
        await server.challenge_auth(json.dumps(error, separators=(",", ":")))
        return AuthResult(
            success=False, handled=False, message="535 5.7.8 Username and Password not accepted"
        )


async def test_a_reply_goes_out_over_smtp_xoauth2_with_a_renewed_token(
    ws: WS,
    smtp_tls: Any,  # noqa: F811
    certs: Certs,  # noqa: F811
) -> None:
    trust(ws, certs.ca)
    tokens = Introspection(url="")  # no introspection server: the SMTP sink reads the tokens itself
    sink = XOAuth2Sink(tokens=tokens.tokens)
    ctl, _ = smtp_tls("starttls", sink)
    agent = await ws.person(Role.agent)
    with token_endpoint(tokens, host=TLS_HOST, context=certs.server_context()) as endpoint:
        allow(ws.platform.settings, TLS_HOST, endpoint_port(endpoint))
        box, ticket_id = await ticket_with_smtp(
            ws, ctl, "starttls", smtp_auth="xoauth2", smtp_secret="", **client_of(endpoint, SMTP_USER)
        )
        await set_cache(ws, box["id"], "ya29.expired", -timedelta(seconds=1))

        item = await reply(ws, agent, ticket_id, body="Sent with a renewed token.")
        assert item["status"] == "sent", item
        assert len(endpoint.refreshes) == 1 and sink.xoauth2 == endpoint.issued
        [(mail_from, rcpts, raw, encrypted, user)] = sink.messages
        assert mail_from == box["address"] and rcpts == ["carla@customer.test"]
        assert encrypted and user == SMTP_USER and sink.logins == [(SMTP_USER, True)]
        assert b"Sent with a renewed token." in raw
        result = await connection_test(ws.platform, await reload(ws, box["id"]))
        assert result["smtp"]["state"] == "ok" and "(XOAUTH2)" in result["smtp"]["detail"], result
        assert len(endpoint.refreshes) == 1  # the cached token served the test too

        # The server stops accepting the cached token (revoked at the provider): the reply is retried,
        # with the server's own words, JSON challenge included.
        tokens.tokens.clear()
        item = await reply(ws, agent, ticket_id, body="Second reply.")
        assert item["status"] == "retrying 1", item
        assert "refused the OAuth2 access token (XOAUTH2)" in item["last_error"], item
        # The code, not the server's words or its JSON challenge (those go to the log).
        assert "(SMTP 535)" in item["last_error"] and '"status":"401"' not in item["last_error"], item

        # The refresh token is revoked too and the cache has expired: the reason is the provider's.
        endpoint.revoke(box["oauth_refresh_token"])
        await set_cache(ws, box["id"], "", None)
        refreshes = len(endpoint.refreshes)
        item = await reply(ws, agent, ticket_id, body="Third reply.")
        assert item["status"] == "retrying 1" and REFUSED in item["last_error"], item
        assert len(endpoint.refreshes) == refreshes + 1
        result = await connection_test(ws.platform, await reload(ws, box["id"]))
        assert result["smtp"]["state"] == "fail" and result["smtp"]["detail"].startswith(REFUSED), result
        assert result["imap"]["state"] == "skip"
        assert len(endpoint.refreshes) == refreshes + 1  # the recorded refusal: not asked again
        health = await health_of(ws, box["id"])
        assert health["state"] == "fail" and REFUSED in health["detail"], health
        assert len(sink.messages) == 1


async def test_token_endpoint_client_authentication_and_failures(
    ws: WS,
    certs: Certs,  # noqa: F811
) -> None:
    tokens = Introspection(url="")
    with token_endpoint(tokens, host=TLS_HOST, context=certs.server_context()) as endpoint:
        allow(ws.platform.settings, TLS_HOST, endpoint_port(endpoint))
        box = await make_mailbox(
            ws.platform, ws.id, smtp_auth="xoauth2", smtp_username="mailer", **client_of(endpoint, "mailer")
        )
        # The token endpoint's certificate is verified like the mail servers' (HELPLINE_EMAIL_CA_FILE).
        with pytest.raises(oauth2.OAuth2Error, match="could not be reached: TLS certificate not trusted"):
            await oauth2.bearer(ws.platform, box, "smtp_secret")
        trust(ws, certs.ca)
        # A provider that wants the client's credentials by HTTP Basic (RFC 6749 section 2.3.1) says
        # invalid_client to them in the body; asked again that way, it answers.
        endpoint.basic_only = True
        assert await oauth2.bearer(ws.platform, box, "smtp_secret") == endpoint.issued[-1]
        assert [r["auth"] for r in endpoint.refreshes] == ["body", "basic"]
        assert "client_secret" not in endpoint.refreshes[-1]
        assert (await reload(ws, box["id"]))["oauth_error"] is None
        # A wrong client secret: refused, in words that point at the client settings.
        async with ws.platform.db.transaction() as uow:
            await uow.execute(
                mailboxes_t.update()
                .where(mailboxes_t.c.id == box["id"])
                .values(oauth_client_secret="wrong", oauth_access_token="", oauth_expires_at=None)
            )
        with pytest.raises(oauth2.OAuth2Error, match="OAuth2 client was refused: invalid_client"):
            await oauth2.bearer(ws.platform, await reload(ws, box["id"]), "smtp_secret")
        # A provider having a bad moment (503) is not recorded as a refusal: the next login asks again.
        endpoint.basic_only = False
        endpoint.answer = 503
        async with ws.platform.db.transaction() as uow:
            await uow.execute(
                mailboxes_t.update()
                .where(mailboxes_t.c.id == box["id"])
                .values(oauth_client_secret=endpoint.client_secret, oauth_error=None, oauth_error_at=None)
            )
        with pytest.raises(oauth2.OAuth2Error, match="answered HTTP 503"):
            await oauth2.bearer(ws.platform, await reload(ws, box["id"]), "smtp_secret")
        assert (await reload(ws, box["id"]))["oauth_error"] is None
        endpoint.answer = None
        asked = len(endpoint.refreshes)
        assert await oauth2.bearer(ws.platform, await reload(ws, box["id"]), "smtp_secret")
        assert len(endpoint.refreshes) == asked + 1
    # Without an OAuth2 client, the saved secret is the access token (someone else keeps it fresh).
    plain = await make_mailbox(ws.platform, ws.id, smtp_auth="xoauth2", smtp_secret="ya29.static")
    assert await oauth2.bearer(ws.platform, plain, "smtp_secret") == "ya29.static"


# --- administration ------------------------------------------------------------------------------


async def test_the_api_and_the_form_never_show_the_client_secret_or_the_refresh_token(
    ws: WS,
    console: Any,
) -> None:
    admin = await ws.person(Role.admin)
    body = {
        "name": "Google mailbox",
        "address": f"g-{uuid.uuid4().hex[:8]}@acme.test",
        "imap_auth": "xoauth2",
        "smtp_auth": "xoauth2",
        "oauth_token_url": "https://oauth2.example.test/token",
        "oauth_client_id": "1234.apps.example.test",
        "oauth_client_secret": "GOCSPX-client-secret-value",
        "oauth_refresh_token": "1//refresh-token-value",
    }
    async with ws.client(admin) as c:
        for url, ok in (
            ("http://oauth2.example.test/token", False),  # the secrets would cross the network in clear
            ("ftp://oauth2.example.test/token", False),
            ("https://user:pw@oauth2.example.test/token", False),
            # http:// only to this machine, which the egress guard refuses unless the operator
            # allows it (below)
            ("http://127.0.0.1:8080/token", False),
            ("http://[::1]/token", False),
            ("https://169.254.169.254/token", False),  # cloud metadata
            ("https://oauth2.example.test:8443/token", False),  # not the HTTPS port
        ):
            r = await c.post(
                "/mailboxes",
                json={**body, "address": f"u-{uuid.uuid4().hex[:8]}@a.test", "oauth_token_url": url},
            )
            assert (r.status_code == 201) is ok, (url, r.text)
            if not ok:
                assert r.status_code == 422 and r.json()["errors"][0]["field"] == "oauth_token_url", r.text
        allow(ws.platform.settings, "127.0.0.1", 8080)
        allow(ws.platform.settings, "::1", 80)
        for url in ("http://127.0.0.1:8080/token", "http://[::1]/token"):
            r = await c.post(
                "/mailboxes",
                json={**body, "address": f"u-{uuid.uuid4().hex[:8]}@a.test", "oauth_token_url": url},
            )
            assert r.status_code == 201, (url, r.text)
        r = await c.post("/mailboxes", json=body)
        assert r.status_code == 201, r.text
        item = r.json()
        mid = item["id"]
        for text in (r.text, (await c.get(f"/mailboxes/{mid}")).text, (await c.get("/mailboxes")).text):
            assert "client-secret-value" not in text and "refresh-token-value" not in text
        assert item["oauth_client_secret_set"] is True and item["oauth_refresh_token_set"] is True
        assert item["smtp_auth"] == "xoauth2" and item["oauth_client_id"] == "1234.apps.example.test"
        assert "oauth_access_token" not in item and "oauth_client_secret" not in item
        # The cached access token is never shown, and cannot be written.
        await set_cache(ws, mid, "ya29.cached-access-token", timedelta(hours=1))
        r = await c.get(f"/mailboxes/{mid}")
        assert "cached-access-token" not in r.text and r.json()["oauth_expires_at"]
        r = await c.patch(f"/mailboxes/{mid}", json={"oauth_access_token": "mine"})
        assert r.status_code == 422, r.text
        # The same settings again keep the cached token; another refresh token drops it.
        r = await c.patch(f"/mailboxes/{mid}", json={"oauth_token_url": body["oauth_token_url"]})
        assert r.status_code == 200 and r.json()["oauth_expires_at"], r.text
        r = await c.patch(f"/mailboxes/{mid}", json={"oauth_refresh_token": "1//another-refresh-token"})
        assert r.status_code == 200 and r.json()["oauth_expires_at"] is None, r.text
        assert "another-refresh-token" not in r.text
    saved = await reload(ws, mid)
    assert saved["oauth_refresh_token"] == "1//another-refresh-token" and saved["oauth_access_token"] == ""
    await set_cache(ws, mid, "ya29.cached-access-token", timedelta(hours=1))

    # The admin form: "Set" only, blank keeps, the remove box clears, typed secrets are not echoed.
    _, page = await console(Role.admin)
    html = (await page.get(f"/admin/mailboxes/{mid}")).text
    assert "client-secret-value" not in html and "another-refresh-token" not in html
    assert "cached-access-token" not in html
    assert re.search(r'id="h-oauth_client_secret"><strong>Set\.</strong>', html)
    assert re.search(r'id="h-oauth_refresh_token"><strong>Set\.</strong>', html)
    assert 'value="https://oauth2.example.test/token"' in html and "valid until" in html
    assert re.search(r'<option value="xoauth2" selected>', html)
    fields = {
        "name": "Google mailbox",
        "address": body["address"],
        "imap_auth": "xoauth2",
        "smtp_auth": "xoauth2",
        "oauth_token_url": body["oauth_token_url"],
        "oauth_client_id": body["oauth_client_id"],
        "oauth_client_secret": "",
        "oauth_refresh_token": "",
        "oauth_scope": "",
    }
    r = await page.post(f"/admin/mailboxes/{mid}", form(**fields))
    assert r.status_code == 303, r.text
    saved = await reload(ws, mid)
    assert saved["oauth_client_secret"] == "GOCSPX-client-secret-value"
    assert saved["oauth_refresh_token"] == "1//another-refresh-token"
    assert saved["oauth_access_token"] == "ya29.cached-access-token"  # nothing about the client changed
    # A bad token endpoint is shown by its field; the secret typed with it is not sent back.
    r = await page.post(
        f"/admin/mailboxes/{mid}",
        form(
            **{
                **fields,
                "oauth_token_url": "http://oauth2.example.test/token",
                "oauth_refresh_token": "1//typed-rt",
            }
        ),
    )
    assert r.status_code == 422, r.text
    assert (
        "must start with https://" in r.text and "1//typed-rt" not in r.text and "type them again" in r.text
    )
    # New refresh token typed in, the client secret removed.
    r = await page.post(
        f"/admin/mailboxes/{mid}",
        form(**{**fields, "oauth_refresh_token": "1//typed-rt", "clear_oauth_client_secret": "on"}),
    )
    assert r.status_code == 303, r.text
    saved = await reload(ws, mid)
    assert saved["oauth_refresh_token"] == "1//typed-rt" and saved["oauth_client_secret"] == ""
    assert saved["oauth_access_token"] == "" and saved["oauth_expires_at"] is None
    html = (await page.get(f"/admin/mailboxes/{mid}")).text
    assert "1//typed-rt" not in html
    assert re.search(r'id="h-oauth_client_secret"><strong>Not set\.</strong>', html)
    assert "No access token yet" in html


# --- migration -----------------------------------------------------------------------------------


async def _columns(url: str) -> set[str]:
    engine = Database.for_migrations(url)
    try:
        async with engine.connect() as conn:
            return {
                c["name"] for c in await conn.run_sync(lambda c: sa.inspect(c).get_columns("email_mailboxes"))
            }
    finally:
        await engine.dispose()


async def _seed(url: str, tmp: Path) -> int:
    """A workspace with a mailbox that has received one message; the mailbox id."""
    platform = build_platform(
        Settings(
            database_url=url,
            var_dir=tmp / "var",
            secret_key="test-secret-key-not-for-production",
            mail_transport="console",
            run_jobs_in_process=False,
        )
    )
    try:
        async with platform.db.transaction() as uow:
            ws_id = await accounts.create_workspace(uow, "Migrating", f"ws-{uuid.uuid4().hex[:12]}")
        box = await make_mailbox(platform, ws_id, oauth_token_url="https://oauth2.example.test/token")
        await deliver(platform, box, mail(to=box["address"]))
        return int(box["id"])
    finally:
        await platform.close()


async def _counts(url: str, mailbox_id: int) -> tuple[int, int]:
    engine = Database.for_migrations(url)
    try:
        async with engine.connect() as conn:
            boxes: int = (
                await conn.execute(
                    sa.text("SELECT count(*) FROM email_mailboxes WHERE id = :i"), {"i": mailbox_id}
                )
            ).scalar_one()
            mails: int = (
                await conn.execute(
                    sa.text("SELECT count(*) FROM email_inbound WHERE mailbox_id = :i"), {"i": mailbox_id}
                )
            ).scalar_one()
            return int(boxes), int(mails)
    finally:
        await engine.dispose()


NEW = {"smtp_auth", "oauth_token_url", "oauth_refresh_token", "oauth_access_token", "oauth_error_at"}


def _round_trip(url: str, tmp: Path) -> None:
    migrate.upgrade(url)
    mailbox_id = asyncio.run(_seed(url, tmp))
    assert asyncio.run(_columns(url)) >= NEW
    migrate.downgrade(url, "0032")
    assert not asyncio.run(_columns(url)) & NEW
    assert asyncio.run(_counts(url, mailbox_id)) == (1, 1)  # the mailbox and its mail are still there
    migrate.upgrade(url)
    assert asyncio.run(_columns(url)) >= NEW
    assert asyncio.run(_counts(url, mailbox_id)) == (1, 1)

    async def defaults() -> tuple[str, str]:
        engine = Database.for_migrations(url)
        try:
            async with engine.connect() as conn:
                row = (
                    await conn.execute(
                        sa.select(mailboxes_t.c.smtp_auth, mailboxes_t.c.oauth_token_url).where(
                            mailboxes_t.c.id == mailbox_id
                        )
                    )
                ).one()
                return str(row[0]), str(row[1])
        finally:
            await engine.dispose()

    assert asyncio.run(defaults()) == ("password", "")


def test_migration_sqlite_up_down_up(tmp_path: Path) -> None:
    _round_trip(f"sqlite+aiosqlite:///{tmp_path / 'oauth.db'}", tmp_path)


def test_migration_postgresql_up_down_up(tmp_path: Path) -> None:
    from tests.conftest import empty_pg_database

    with empty_pg_database("oauthmig") as url:
        _round_trip(url, tmp_path)
