"""Fixtures of the email channel tests: mailboxes, raw messages shaped like real clients', and an
SMTP sink (aiosmtpd) that records what we send.

The test servers listen on loopback, which the egress guard refuses (ADR 0012). Each test's
settings allow exactly the host:ports of the servers it uses (``HELPLINE_EGRESS_ALLOW``), as an
operator allows an internal mail server: the session's Dovecots when the test names them, and the
servers a fixture or the test itself starts through :func:`allow`.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from helpline.domains.channels import startup
from helpline.domains.channels.email import mailboxes as mailbox_service
from helpline.domains.channels.email import service
from helpline.domains.channels.email.models import InboundMail, Mailbox, OutboundMail
from helpline.platform.runtime import Platform, build_platform
from helpline.settings import Settings
from tests.conftest import WS, drain, free_port

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "email"

inbound_t = InboundMail.__table__
outbox_t = OutboundMail.__table__
mailboxes_t = Mailbox.__table__


def allow(settings: Settings, host: str, port: int) -> None:
    """Add ``host:port`` to the test's ``HELPLINE_EGRESS_ALLOW`` (its settings are made per test), as
    an operator allows an internal mail server."""
    entry = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    settings.egress_allow = ",".join(e for e in (settings.egress_allow, entry) if e)


#: Session-scoped servers: allowed when a test uses them (its own fixtures allow the others).
DOVECOTS = ("dovecot", "dovecot_tls")


@pytest.fixture
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """The root ``settings``, allowing the Dovecot(s) the test uses: every address it listens on
    (the TLS one answers on 127.0.0.2, its certificate's name, and on 127.0.0.1) and both ports."""
    for name in DOVECOTS:
        if name in request.fixturenames:
            dc = request.getfixturevalue(name)
            for host in {dc.host, "127.0.0.1"} if dc.imaps_port else {dc.host}:
                for port in (dc.port, dc.imaps_port):
                    if port:
                        allow(settings, host, port)
    return settings


@pytest.fixture
async def sqlite_platform(sqlite_url: str, tmp_root: Path) -> AsyncIterator[Platform]:
    """A platform on SQLite only (for the corpus and the benchmarks' shapes)."""
    p = build_platform(
        Settings(
            database_url=sqlite_url,
            var_dir=tmp_root / "var",
            secret_key="test-secret-key-not-for-production",
            mail_transport="console",
            run_jobs_in_process=False,
        )
    )
    startup.install(p)  # the channels' ports, as the app installs them
    yield p
    await p.close()


async def make_mailbox(platform: Platform, workspace_id: int, **values: Any) -> dict[str, Any]:
    values.setdefault("name", "Support")
    values.setdefault("address", f"support-{uuid.uuid4().hex[:8]}@acme.test")
    async with platform.db.transaction() as uow:
        mailbox_id = await mailbox_service.create_mailbox(uow, workspace_id, values)
    async with platform.db.read() as conn:
        return dict(
            (await conn.execute(sa.select(mailboxes_t).where(mailboxes_t.c.id == mailbox_id)))
            .mappings()
            .one()
        )


@pytest.fixture
async def mailbox(ws: WS) -> dict[str, Any]:
    return await make_mailbox(ws.platform, ws.id)


def mail(
    *,
    sender: str = "Carla Customer <carla@customer.test>",
    to: str = "support@acme.test",
    subject: str = "Printer on fire",
    body: str = "Hello, my printer is on fire.\n",
    message_id: str | None = None,
    headers: dict[str, str] | None = None,
    html: str | None = None,
    cc: str | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = message_id or make_msgid(domain="customer.test")
    for k, v in (headers or {}).items():
        msg[k] = v
    msg.set_content(body)
    if html:
        msg.add_alternative(html, subtype="html")
    return msg.as_bytes()


def dsn(
    to: str,
    recipients: dict[str, str],
    *,
    original_id: str = "",
    sender: str = "Mail Delivery System <MAILER-DAEMON@mx.customer.test>",
    returned: str = "text/rfc822-headers",
) -> bytes:
    """A delivery report (RFC 3464) as Postfix writes one, to ``to``: ``recipients`` maps each address
    it names to its action (failed, delivered, delayed); ``original_id`` is the Message-ID of the
    returned message (its headers, or the whole message with ``returned="message/rfc822"``)."""
    blocks = "".join(
        f"\r\nFinal-Recipient: rfc822; {a}\r\nOriginal-Recipient: rfc822;{a}\r\nAction: {action}\r\n"
        + (
            "Status: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 user unknown\r\n"
            if action == "failed"
            else "Status: 2.0.0\r\n"
        )
        for a, action in recipients.items()
    )
    returned_id = f"Message-ID: <{original_id}>\r\n" if original_id else ""
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@mx.customer.test>\r\nAuto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you that your message could not"
        " be delivered to one or more recipients.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.customer.test\r\n"
        f"X-Postfix-Queue-ID: 4XyZ1\r\n{blocks}\r\n"
        f"--b\r\nContent-Type: {returned}\r\n\r\n"
        f"From: Acme Support <{to}>\r\n{returned_id}Subject: Re: Printer on fire\r\n"
        + ("\r\nTry turning it off.\r\n" if returned == "message/rfc822" else "")
        + "\r\n--b--\r\n"
    ).encode()


async def deliver(
    platform: Platform, mailbox: dict[str, Any], raw: bytes, *, source: str = "api", envelope_from: str = ""
) -> dict[str, Any]:
    """Ingest ``raw`` and run the jobs; the inbound row."""
    got = await service.ingest(platform, mailbox, raw, source=source, envelope_from=envelope_from)
    await drain(platform)
    return await inbound_row(platform, got.id)


async def inbound_row(platform: Platform, inbound_id: int) -> dict[str, Any]:
    async with platform.db.read() as conn:
        return dict(
            (await conn.execute(sa.select(inbound_t).where(inbound_t.c.id == inbound_id))).mappings().one()
        )


@dataclass
class Sink:
    """An SMTP server that keeps what it receives; ``refuse`` maps a recipient to a reply code."""

    messages: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)
    down: bool = False

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if self.down:
            return "421 4.3.2 try again later"
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


@pytest.fixture
def smtp_sink(settings: Settings) -> Iterator[tuple[Controller, Sink]]:
    sink = Sink()
    ctl = Controller(sink, hostname="127.0.0.1", port=free_port())
    allow(settings, ctl.hostname, ctl.port)
    ctl.start()
    yield ctl, sink
    ctl.stop()
