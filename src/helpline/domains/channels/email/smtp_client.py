"""Sending over SMTP for one mailbox: TLS and authentication per mailbox, optional DKIM signing.

This adapter talks to aiosmtplib itself rather than through ``platform.mail``: it needs the
mailbox's own server and credentials and each recipient's answer (one refused address must not
fail the others), which the notification transport does not give. A mailbox without its own SMTP
server uses the install's (``HELPLINE_SMTP_*``), or, with the console transport, ``platform.mail``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

import aiosmtplib

if TYPE_CHECKING:
    from helpline.platform.runtime import Platform

log = logging.getLogger(__name__)


@dataclass
class Delivery:
    results: dict[str, str] = field(
        default_factory=dict
    )  # address → sent | failed: … (4xx left out: retried)
    error: str | None = None


def dkim_sign(raw: bytes, *, domain: str, selector: str, private_key: str) -> bytes:
    import dkim

    signature = dkim.sign(
        raw,
        selector.encode(),
        domain.encode(),
        private_key.encode(),
        include_headers=[
            b"from",
            b"to",
            b"cc",
            b"subject",
            b"date",
            b"message-id",
            b"in-reply-to",
            b"references",
            b"reply-to",
        ],
    )
    return bytes(signature) + raw


class SmtpSession:
    """One connection per batch, opened on first use and reopened after an error."""

    def __init__(self, platform: Platform, mailbox: dict[str, Any]) -> None:
        self.platform = platform
        self.mailbox = mailbox
        self.client: aiosmtplib.SMTP | None = None

    def _server(self) -> dict[str, Any] | None:
        m, s = self.mailbox, self.platform.settings
        if m.get("smtp_host"):
            return {
                "host": m["smtp_host"],
                "port": int(m["smtp_port"]),
                "tls": m["smtp_tls"],
                "user": m["smtp_username"],
                "password": m["smtp_secret"],
            }
        if s.mail_transport == "smtp":
            return {
                "host": s.smtp_host,
                "port": s.smtp_port,
                "tls": "starttls" if s.smtp_starttls else "none",
                "user": s.smtp_username,
                "password": s.smtp_password,
            }
        return None

    def sign(self, msg: EmailMessage) -> bytes:
        raw = msg.as_bytes()
        m = self.mailbox
        if m.get("dkim_domain") and m.get("dkim_selector") and m.get("dkim_private_key"):
            raw = dkim_sign(
                raw, domain=m["dkim_domain"], selector=m["dkim_selector"], private_key=m["dkim_private_key"]
            )
        return raw

    async def _connect(self, server: dict[str, Any]) -> aiosmtplib.SMTP:
        if self.client is not None and self.client.is_connected:
            return self.client
        tls = server["tls"]
        client = aiosmtplib.SMTP(
            hostname=server["host"],
            port=server["port"],
            use_tls=tls == "ssl",
            start_tls=tls == "starttls",
            timeout=self.platform.settings.email_send_timeout_seconds,
        )
        await client.connect()
        if server["user"]:
            await client.login(server["user"], server["password"])
        self.client = client
        return client

    async def send(self, sender: str, recipients: list[str], raw: bytes) -> Delivery:
        server = self._server()
        if server is None:
            from email import message_from_bytes, policy

            await self.platform.mail.send(message_from_bytes(raw, policy=policy.default))  # type: ignore[arg-type]
            return Delivery({a: "sent" for a in recipients})
        client = await self._connect(server)
        try:
            errors, _ = await client.sendmail(sender, recipients, raw)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            return Delivery(
                _refused({r.recipient: (r.code, r.message) for r in exc.recipients}, recipients),
                "every recipient was refused",
            )
        except aiosmtplib.SMTPResponseException as exc:
            if 500 <= exc.code < 600:
                return Delivery(
                    {a: f"failed: {exc.code} {exc.message}"[:300] for a in recipients},
                    f"{exc.code} {exc.message}",
                )
            self.reset()
            return Delivery({}, f"{exc.code} {exc.message}"[:500])
        results = _refused({a: (c.code, c.message) for a, c in errors.items()}, recipients)
        return Delivery(results, None)

    def reset(self) -> None:
        if self.client is not None:
            try:
                self.client.close()
            except Exception:  # already broken
                log.debug("closing a broken SMTP connection failed", exc_info=True)
        self.client = None

    async def close(self) -> None:
        if self.client is not None and self.client.is_connected:
            try:
                await self.client.quit()
            except Exception:
                self.client.close()
        self.client = None


def _refused(errors: dict[str, tuple[int, str]], recipients: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for a in recipients:
        if a not in errors:
            out[a] = "sent"
            continue
        code, message = errors[a]
        if 500 <= int(code) < 600:
            out[a] = f"failed: {code} {message}"[:300]
        # 4xx: left pending, retried later
    return out
