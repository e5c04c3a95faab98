"""The email transports' security options against real servers: IMAP over implicit TLS and STARTTLS
(Dovecot with ``ssl = required``), certificate verification with a private CA
(``HELPLINE_EMAIL_CA_FILE``), IMAP XOAUTH2 tokens checked by Dovecot against a token introspection
endpoint, SMTP sending over STARTTLS and implicit TLS with AUTH (aiosmtpd) and DKIM, and STARTTLS on
our own SMTP receiver.

The TLS servers are reached at 127.0.0.2, the only name in their certificate (see
:mod:`tests.integration.email.dovecot`); 127.0.0.1 reaches the same Dovecot with a mismatching name.
"""

from __future__ import annotations

import asyncio
import imaplib
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiosmtplib
import dkim
import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from helpline.domains.accounts.models import Role
from helpline.domains.channels.email import imap
from helpline.domains.channels.email import tls as email_tls
from helpline.domains.channels.email.connection import test_connection as connection_test
from helpline.domains.channels.email.health import mailbox_health
from helpline.domains.channels.email.models import InboundMail, Mailbox, OutboundMail
from helpline.domains.channels.email.smtp_server import start_receiver
from helpline.domains.tickets.models import Ticket
from helpline.settings import Settings
from tests.conftest import WS, Person, drain, free_port
from tests.integration.email.conftest import allow, deliver, mail, make_mailbox
from tests.integration.email.dovecot import Dovecot, dovecot_tls  # noqa: F401 - the fixture
from tests.integration.email.tls import Certs, make_certs

inbound_t = InboundMail.__table__
mailboxes_t = Mailbox.__table__
outbox_t = OutboundMail.__table__
tickets_t = Ticket.__table__

TLS_HOST = "127.0.0.2"  # the name in the test certificates
SMTP_USER, SMTP_PASSWORD = "mailer", "smtp-secret"


@pytest.fixture(scope="session")
def certs() -> Iterator[Certs]:
    d = Path(tempfile.mkdtemp(prefix="helpline-certs-"))
    try:
        yield make_certs(d, TLS_HOST)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def trust(ws: WS, ca: Path | str) -> None:
    """Set HELPLINE_EMAIL_CA_FILE for this test's platform (its settings are made per test)."""
    ws.platform.settings.email_ca_file = str(ca)


# --- IMAP ----------------------------------------------------------------------------------------


def imap_admin(dc: Dovecot) -> imaplib.IMAP4:
    c = imaplib.IMAP4_SSL(dc.host, dc.imaps_port, ssl_context=dc.client_context(), timeout=10)
    c.login(dc.user, dc.password)
    return c


def append(dc: Dovecot, folder: str, raw: bytes) -> None:
    c = imap_admin(dc)
    try:
        c.append(f'"{folder}"', None, None, raw)
    finally:
        c.logout()


async def imap_mailbox(ws: WS, dc: Dovecot, tls: str, **extra: Any) -> tuple[dict[str, Any], str]:
    folder = f"T{uuid.uuid4().hex[:10]}"
    c = imap_admin(dc)
    c.create(f'"{folder}"')
    c.logout()
    values: dict[str, Any] = {
        "imap_host": dc.host,
        "imap_port": dc.imaps_port if tls == "ssl" else dc.port,
        "imap_tls": tls,
        "imap_username": dc.user,
        "imap_secret": dc.password,
        "imap_folder": folder,
        **extra,
    }
    return await make_mailbox(ws.platform, ws.id, **values), folder


async def reload(ws: WS, mailbox_id: int) -> dict[str, Any]:
    async with ws.platform.db.read() as conn:
        return dict(
            (await conn.execute(sa.select(mailboxes_t).where(mailboxes_t.c.id == mailbox_id)))
            .mappings()
            .one()
        )


async def tickets_of(ws: WS, mailbox_id: int) -> list[tuple[str, str]]:
    """(outcome, ticket subject) of each message the mailbox received, in order."""
    async with ws.platform.db.read() as conn:
        rows = await conn.execute(
            sa.select(inbound_t.c.outcome, tickets_t.c.subject)
            .select_from(inbound_t.outerjoin(tickets_t, tickets_t.c.id == inbound_t.c.ticket_id))
            .where(inbound_t.c.mailbox_id == mailbox_id)
            .order_by(inbound_t.c.id)
        )
        return [(str(o), str(s)) for o, s in rows]


async def test_imap_fetches_over_implicit_tls_and_starttls_trusting_a_private_ca(
    ws: WS,
    dovecot_tls: Dovecot,  # noqa: F811
) -> None:
    dc = dovecot_tls
    trust(ws, dc.certs.ca)  # type: ignore[union-attr]
    for mode in ("ssl", "starttls"):
        box, folder = await imap_mailbox(ws, dc, mode)
        append(dc, folder, mail(to=box["address"], subject=f"Printer on fire over {mode}"))
        # The session really is encrypted, with a verified certificate.
        conn = imap.ImapConnection(
            box,
            timeout=10,
            settings=ws.platform.settings,
            ssl_context=email_tls.client_context(ws.platform.settings),
        )
        try:
            sock = conn.imap.sock
            assert isinstance(sock, ssl.SSLSocket) and sock.version() in ("TLSv1.2", "TLSv1.3")
            peer = sock.getpeercert()
            assert peer and peer["subjectAltName"] == (("IP Address", TLS_HOST),)
        finally:
            conn.close()
        assert await imap.fetch_once(ws.platform, box) == 1
        await drain(ws.platform)
        assert await tickets_of(ws, box["id"]) == [("new_ticket", f"Printer on fire over {mode}")]
        assert (await reload(ws, box["id"]))["last_fetch_ok_at"] is not None
    # Dovecot logged both logins as encrypted (it would refuse a password on this port without TLS).
    logins = [line for line in dc.log().splitlines() if "Login: user=<agent>, method=PLAIN" in line]
    assert logins and all(", TLS, " in line for line in logins), logins[-3:]


async def test_certificates_are_verified_and_the_connection_test_says_why(
    ws: WS,
    dovecot_tls: Dovecot,  # noqa: F811
) -> None:
    dc = dovecot_tls
    assert dc.certs is not None
    admin = await ws.person(Role.admin)
    ssl_box, ssl_folder = await imap_mailbox(ws, dc, "ssl")
    starttls_box, _ = await imap_mailbox(ws, dc, "starttls")
    append(dc, ssl_folder, mail(to=ssl_box["address"]))

    async def check(box: dict[str, Any]) -> dict[str, Any]:
        async with ws.client(admin) as c:
            r = await c.post(f"/mailboxes/{box['id']}/test")
            assert r.status_code == 200, r.text
            return dict(r.json()["imap"])

    # Default: only the system's CAs. The private CA's certificate is refused, in both TLS modes.
    for box in (ssl_box, starttls_box):
        got = await check(box)
        assert got["state"] == "fail", got
        assert "TLS certificate not trusted" in got["detail"] and "HELPLINE_EMAIL_CA_FILE" in got["detail"], (
            got
        )
        assert f"{TLS_HOST}:{box['imap_port']}" in got["detail"]
    # The fetcher refuses too, stores nothing, and keeps the message on the server.
    with pytest.raises(imap.ImapError, match="TLS certificate not trusted"):
        await imap.fetch_once(ws.platform, ssl_box)
    assert await tickets_of(ws, ssl_box["id"]) == []
    # Trusting an unrelated CA does not help.
    trust(ws, dc.certs.other_ca)
    assert (await check(ssl_box))["state"] == "fail"
    # A CA file that is not there is reported as such.
    trust(ws, "/nonexistent/ca.pem")
    got = await check(ssl_box)
    assert got["state"] == "fail" and "HELPLINE_EMAIL_CA_FILE=/nonexistent/ca.pem" in got["detail"], got
    # Trusting the private CA: both modes log in.
    trust(ws, dc.certs.ca)
    for box in (ssl_box, starttls_box):
        got = await check(box)
        assert got["state"] == "ok" and "logged in" in got["detail"], got
    assert (await check(ssl_box))["detail"].endswith("1 message(s) to fetch")
    # Trusted CA, wrong name: the same server reached as 127.0.0.1 is refused.
    async with ws.platform.db.transaction() as uow:
        await uow.execute(
            mailboxes_t.update().where(mailboxes_t.c.id == ssl_box["id"]).values(imap_host="127.0.0.1")
        )
    got = await check(await reload(ws, ssl_box["id"]))
    assert got["state"] == "fail" and "TLS certificate is for another server" in got["detail"], got
    assert "127.0.0.1" in got["detail"]
    # No TLS at all: this server refuses the password in clear.
    plain, _ = await imap_mailbox(ws, dc, "none")
    got = await check(plain)
    # In our words, with what we know (no TLS); Dovecot's own ("Plaintext authentication
    # disallowed") stays in the log: the test never shows what a server said (ADR 0012).
    assert got["state"] == "fail" and "authentication failed" in got["detail"], got
    assert "not encrypted" in got["detail"] and "Plaintext" not in got["detail"], got


async def test_xoauth2_token_fetches_and_a_revoked_token_fails_clearly_without_stopping_the_fetcher(
    ws: WS,
    dovecot_tls: Dovecot,  # noqa: F811
) -> None:
    dc = dovecot_tls
    assert dc.oauth is not None and dc.certs is not None
    trust(ws, dc.certs.ca)
    token = f"ya29.{uuid.uuid4().hex}"
    dc.oauth.tokens[token] = dc.user
    box, folder = await imap_mailbox(ws, dc, "ssl", imap_auth="xoauth2", imap_secret=token)
    append(dc, folder, mail(to=box["address"], subject="Sent with a token"))
    assert await imap.fetch_once(ws.platform, box) == 1
    assert token in dc.oauth.seen  # Dovecot asked the introspection endpoint about this very token
    logins = [line for line in dc.log().splitlines() if "method=XOAUTH2" in line]
    assert logins and ", TLS, " in logins[-1]
    # A token for another user is refused even though it is active.
    stranger = f"ya29.{uuid.uuid4().hex}"
    dc.oauth.tokens[stranger] = "someone-else"
    other = {**box, "imap_secret": stranger}
    with pytest.raises(imap.ImapError, match="refused the OAuth2 access token"):
        await imap.fetch_once(ws.platform, other)

    # Revoked: the connection test and the fetcher's health say so, in words.
    del dc.oauth.tokens[token]
    result = await connection_test(ws.platform, await reload(ws, box["id"]))
    detail = result["imap"]["detail"]
    assert result["imap"]["state"] == "fail" and not result["ok"], result
    assert "refused the OAuth2 access token (XOAUTH2)" in detail, detail
    # Dovecot's challenge JSON and its error line are not shown (the log has them).
    assert '"status":"401"' not in detail and "AUTHENTICATIONFAILED" not in detail, detail

    stop = threading.Event()
    task = asyncio.create_task(imap.run_fetcher(ws.platform, box["id"], stop, owner="tls-test"))
    try:
        deadline = time.monotonic() + 10
        while not (await reload(ws, box["id"]))["last_error"]:
            assert time.monotonic() < deadline, "the fetcher recorded no error"
            assert not task.done(), task
            await asyncio.sleep(0.05)
        assert not task.done()  # it keeps going, with backoff
        async with ws.platform.db.read() as conn:
            [health] = [h for h in await mailbox_health(conn, ws.id) if h["id"] == box["id"]]
        assert health["state"] == "warn" and "refused the OAuth2 access token" in health["last_error"], health
        assert "refused the OAuth2 access token" in health["detail"]
        # A fresh token (what an admin or a token refresher PATCHes in): the same fetcher recovers.
        fresh = f"ya29.{uuid.uuid4().hex}"
        dc.oauth.tokens[fresh] = dc.user
        admin = await ws.person(Role.admin)
        async with ws.client(admin) as c:
            r = await c.patch(f"/mailboxes/{box['id']}", json={"imap_secret": fresh})
            assert r.status_code == 200, r.text
        append(dc, folder, mail(to=box["address"], subject="After the new token"))
        deadline = time.monotonic() + 15
        while len(await tickets_of(ws, box["id"])) < 2:
            assert time.monotonic() < deadline, "the fetcher did not recover with the new token"
            assert not task.done(), task
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
    box = await reload(ws, box["id"])
    assert box["last_error"] is None and box["imap_last_uid"] == 2
    await drain(ws.platform)
    assert [s for _, s in await tickets_of(ws, box["id"])] == ["Sent with a token", "After the new token"]


# --- SMTP out ------------------------------------------------------------------------------------


@dataclass
class AuthSink:
    """An SMTP server that records each message with whether it came over TLS and who logged in."""

    messages: list[tuple[str, list[str], bytes, bool, str]] = field(default_factory=list)
    logins: list[tuple[str, bool]] = field(default_factory=list)  # (user, accepted)

    def authenticator(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login == SMTP_USER.encode()
            and data.password == SMTP_PASSWORD.encode()
        )
        user = data.login.decode() if isinstance(data, LoginPassword) else "?"
        self.logins.append((user, ok))
        return AuthResult(success=ok, handled=False, auth_data=user if ok else None)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        encrypted = server.transport.get_extra_info("ssl_object") is not None
        user = session.auth_data if session.authenticated else ""
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content, encrypted, user))
        return "250 OK"


@pytest.fixture
def smtp_tls(certs: Certs, settings: Settings) -> Iterator[Callable[[str], tuple[Controller, AuthSink]]]:
    """Start an authenticating SMTP server: ``"starttls"`` (STARTTLS required before anything, AUTH only
    over TLS) or ``"ssl"`` (implicit TLS), with an :class:`AuthSink` (or the ``sink`` given: a subclass
    may add mechanisms as ``auth_<NAME>`` methods)."""
    started: list[Controller] = []

    def start(mode: str, sink: AuthSink | None = None) -> tuple[Controller, AuthSink]:
        sink = sink or AuthSink()
        common: dict[str, Any] = {
            "hostname": TLS_HOST,
            "port": free_port(),
            "authenticator": sink.authenticator,
        }
        if mode == "starttls":
            ctl = Controller(
                sink,
                tls_context=certs.server_context(),
                require_starttls=True,
                auth_require_tls=True,
                **common,
            )
        else:
            # aiosmtpd cannot tell that an implicit-TLS connection is encrypted (it only tracks its own
            # STARTTLS), so it would hide AUTH: the whole connection is TLS from the first byte anyway.
            ctl = Controller(sink, ssl_context=certs.server_context(), auth_require_tls=False, **common)
        allow(settings, ctl.hostname, ctl.port)
        ctl.start()
        started.append(ctl)
        return ctl, sink

    yield start
    for ctl in started:
        ctl.stop()


async def ticket_with_smtp(ws: WS, ctl: Controller, mode: str, **extra: Any) -> tuple[dict[str, Any], int]:
    values: dict[str, Any] = {
        "name": "Acme Support",
        "smtp_host": ctl.hostname,
        "smtp_port": ctl.port,
        "smtp_tls": mode,
        "smtp_username": SMTP_USER,
        "smtp_secret": SMTP_PASSWORD,
        **extra,
    }
    box = await make_mailbox(ws.platform, ws.id, **values)
    first = await deliver(ws.platform, box, mail(to=box["address"]))
    return box, int(first["ticket_id"])


async def reply(ws: WS, agent: Person, ticket_id: int, body: str = "Try turning it off.") -> dict[str, Any]:
    """Post a public agent reply, run the send job; its delivery row."""
    async with ws.client(agent) as c:
        r = await c.post(f"/tickets/{ticket_id}/messages", json={"body": body, "public": True})
        assert r.status_code == 201, r.text
    await drain(ws.platform)
    async with ws.client(agent) as c:
        r = await c.get(f"/tickets/{ticket_id}/email-deliveries")
        assert r.status_code == 200, r.text
        return dict(r.json()["items"][-1])


def dkim_key(tmp_path: Path) -> tuple[str, bytes]:
    subprocess.run(
        [str(Path(sys.executable).parent / "dknewkey"), str(tmp_path / "sel1")],
        check=True,
        capture_output=True,
    )
    return (tmp_path / "sel1.key").read_text(), (tmp_path / "sel1.dns").read_bytes()


async def test_reply_goes_out_over_starttls_and_implicit_tls_with_auth_and_dkim(
    ws: WS, smtp_tls: Any, certs: Certs, tmp_path: Path
) -> None:
    trust(ws, certs.ca)
    key, txt = dkim_key(tmp_path)
    agent = await ws.person(Role.agent)
    for mode in ("starttls", "ssl"):
        ctl, sink = smtp_tls(mode)
        box, ticket_id = await ticket_with_smtp(
            ws, ctl, mode, dkim_domain="acme.test", dkim_selector="sel1", dkim_private_key=key
        )
        item = await reply(ws, agent, ticket_id, body=f"Sent over {mode}.")
        assert item["status"] == "sent", item
        [(mail_from, rcpts, raw, encrypted, user)] = sink.messages
        assert mail_from == box["address"] and rcpts == ["carla@customer.test"]
        assert encrypted and user == SMTP_USER and sink.logins == [(SMTP_USER, True)]
        assert b"Sent over " + mode.encode() in raw
        assert raw.startswith(b"DKIM-Signature:")
        assert dkim.verify(raw, dnsfunc=lambda name, timeout=5: txt)
        assert not dkim.verify(raw.replace(b"Sent over", b"Pay us at"), dnsfunc=lambda name, timeout=5: txt)
        # The connection test logs in the same way.
        result = await connection_test(ws.platform, box)
        assert result["smtp"]["state"] == "ok" and "and the login" in result["smtp"]["detail"], result


async def test_smtp_failures_retry_with_a_readable_reason(ws: WS, smtp_tls: Any, certs: Certs) -> None:
    agent = await ws.person(Role.agent)
    ctl, sink = smtp_tls("starttls")
    # Untrusted certificate (no CA file): nothing is sent, the password never leaves.
    box, ticket_id = await ticket_with_smtp(ws, ctl, "starttls")
    item = await reply(ws, agent, ticket_id)
    assert item["status"] == "retrying 1" and "TLS certificate not trusted" in item["last_error"], item
    assert sink.logins == [] and sink.messages == []
    result = await connection_test(ws.platform, box)
    assert result["smtp"]["state"] == "fail" and "TLS certificate not trusted" in result["smtp"]["detail"]
    assert f"{TLS_HOST}:{ctl.port}" in result["smtp"]["detail"]
    trust(ws, certs.ca)
    # Wrong password, over TLS: refused, retried later, not a crash.
    box, ticket_id = await ticket_with_smtp(ws, ctl, "starttls", smtp_secret="wrong")
    item = await reply(ws, agent, ticket_id)
    assert item["status"] == "retrying 1" and item["next_attempt_at"], item
    assert "authentication failed" in item["last_error"] and "(SMTP 535)" in item["last_error"], item
    # (aiosmtplib tries each mechanism the server offers: PLAIN, then LOGIN)
    assert sink.logins and not any(ok for _, ok in sink.logins) and sink.messages == []
    result = await connection_test(ws.platform, box)
    assert result["smtp"]["state"] == "fail" and "535" in result["smtp"]["detail"], result
    # No TLS against a server that requires it: the password is not sent in clear.
    tried = len(sink.logins)
    box, ticket_id = await ticket_with_smtp(ws, ctl, "none")
    item = await reply(ws, agent, ticket_id)
    assert item["state"] in ("retrying", "failed") and item["last_error"], item
    assert len(sink.logins) == tried and sink.messages == []
    # Implicit TLS expected but the server speaks plain SMTP first (wrong mode): an error, not a hang.
    box, ticket_id = await ticket_with_smtp(ws, ctl, "ssl")
    item = await reply(ws, agent, ticket_id)
    assert item["status"] == "retrying 1" and item["last_error"], item
    async with ws.platform.db.read() as conn:
        states = {
            str(s)
            for (s,) in await conn.execute(
                sa.select(outbox_t.c.state).where(outbox_t.c.workspace_id == ws.id)
            )
        }
    assert states <= {"retrying", "failed"} and sink.messages == []


# --- our SMTP receiver ---------------------------------------------------------------------------


async def test_smtp_receiver_offers_starttls_when_given_a_certificate(
    ws: WS, mailbox: dict[str, Any], certs: Certs
) -> None:
    settings = ws.platform.settings
    port = free_port()
    plain = await start_receiver(ws.platform, TLS_HOST, port)
    try:
        client = aiosmtplib.SMTP(hostname=TLS_HOST, port=port, start_tls=False, timeout=10)
        await client.connect()
        await client.ehlo()
        assert not client.supports_extension("starttls")  # no certificate configured
        await client.quit()
    finally:
        plain.close()
        await plain.wait_closed()

    settings.smtp_receiver_tls_cert_file, settings.smtp_receiver_tls_key_file = (
        str(certs.cert),
        str(certs.key),
    )
    port = free_port()
    server = await start_receiver(ws.platform, TLS_HOST, port)
    try:
        client = aiosmtplib.SMTP(
            hostname=TLS_HOST,
            port=port,
            start_tls=True,
            tls_context=ssl.create_default_context(cafile=str(certs.ca)),
            timeout=10,
        )
        await client.connect()
        assert client.get_transport_info("ssl_object") is not None
        raw = mail(to=mailbox["address"], subject="Over STARTTLS")
        errors, _ = await client.sendmail("carla@customer.test", [mailbox["address"]], raw)
        assert not errors
        await client.quit()
        # STARTTLS is offered, not required: a sender without TLS still delivers.
        errors, _ = await aiosmtplib.send(
            mail(to=mailbox["address"], subject="In clear"),
            sender="dan@customer.test",
            recipients=[mailbox["address"]],
            hostname=TLS_HOST,
            port=port,
            start_tls=False,
            timeout=10,
        )
        assert not errors
    finally:
        server.close()
        await server.wait_closed()
    await drain(ws.platform)
    assert [s for _, s in await tickets_of(ws, mailbox["id"])] == ["Over STARTTLS", "In clear"]
    # A certificate that cannot be loaded stops the receiver from starting, saying which setting.
    settings.smtp_receiver_tls_key_file = str(certs.other_ca)
    with pytest.raises(Exception, match="HELPLINE_SMTP_RECEIVER_TLS_CERT_FILE"):
        await start_receiver(ws.platform, TLS_HOST, free_port())


def test_tls_file_settings_are_checked_at_start(certs: Certs) -> None:
    from helpline.settings import Settings

    ok = Settings(
        email_ca_file=str(certs.ca),
        smtp_receiver_tls_cert_file=str(certs.cert),
        smtp_receiver_tls_key_file=str(certs.key),
    )
    assert ok.problems() == []
    bad = Settings(email_ca_file="/nonexistent/ca.pem", smtp_receiver_tls_key_file=str(certs.key))
    assert bad.problems() == [
        "HELPLINE_EMAIL_CA_FILE=/nonexistent/ca.pem is not a file.",
        "HELPLINE_SMTP_RECEIVER_TLS_KEY_FILE is set without HELPLINE_SMTP_RECEIVER_TLS_CERT_FILE.",
    ]
