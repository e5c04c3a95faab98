"""Outgoing mail: printed to the log in development, or sent over SMTP."""

from __future__ import annotations

import logging
from email.message import EmailMessage
from typing import Protocol

import aiosmtplib

log = logging.getLogger("helpline.mail")


class MailTransport(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


class ConsoleMail:
    """Logs each message instead of sending it; keeps the last ones for inspection."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []

    async def send(self, message: EmailMessage) -> None:
        self.sent = [*self.sent[-99:], message]
        log.info("mail to %s: %s", message["To"], message["Subject"])


class SmtpMail:
    """Sends over SMTP; with STARTTLS the server's certificate is verified against the system's CAs
    plus those in ``ca_file`` (``HELPLINE_EMAIL_CA_FILE``)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        username: str = "",
        password: str = "",
        starttls: bool = False,
        ca_file: str = "",
    ) -> None:
        self.host, self.port = host, port
        self.username, self.password, self.starttls = username, password, starttls
        self.ca_file = ca_file

    async def send(self, message: EmailMessage) -> None:
        await aiosmtplib.send(
            message,
            hostname=self.host,
            port=self.port,
            username=self.username or None,
            password=self.password or None,
            start_tls=self.starttls,
            cert_bundle=self.ca_file or None,
            timeout=30,
        )
