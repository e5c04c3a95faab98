"""Sending over SMTP for one mailbox: TLS and authentication per mailbox, optional DKIM signing.

This adapter talks to aiosmtplib itself rather than through ``platform.mail``: it needs the
mailbox's own server and credentials and each recipient's answer (one refused address must not
fail the others), which the notification transport does not give. A mailbox without its own SMTP
server uses the install's (``HELPLINE_SMTP_*``), or, with the console transport, ``platform.mail``.

A mailbox's own server is reached through the egress guard (:func:`egress.open_socket`: the address
and port checked before connecting, the socket's peer after, before TLS or a byte of SMTP); the
install's server is the operator's and is not guarded. Connection and login failures are our own
sentences (:mod:`failures`); the server's words go to the log only.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

import aiosmtplib

from helpline.domains.channels.email import oauth2
from helpline.domains.channels.email import tls as email_tls
from helpline.domains.channels.email.failures import Failure
from helpline.platform import egress

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
        self.oauth_failure: oauth2.OAuth2Error | None = None

    def _server(self) -> dict[str, Any] | None:
        m, s = self.mailbox, self.platform.settings
        if m.get("smtp_host"):
            return {
                "host": m["smtp_host"],
                "port": int(m["smtp_port"]),
                "tls": m["smtp_tls"],
                "user": m["smtp_username"],
                "password": m["smtp_secret"],
                "auth": m.get("smtp_auth") or "password",
                "guarded": True,  # the admin's choice: through the egress guard
            }
        if s.mail_transport == "smtp":
            return {
                "host": s.smtp_host,
                "port": s.smtp_port,
                "tls": "starttls" if s.smtp_starttls else "none",
                "user": s.smtp_username,
                "password": s.smtp_password,
                "auth": "password",
                "guarded": False,  # the operator's own server (HELPLINE_SMTP_*)
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
        token = await self._token(server)
        tls = server["tls"]
        settings = self.platform.settings
        timeout = settings.email_send_timeout_seconds
        sock = None
        if server["guarded"]:
            sock = await asyncio.wait_for(
                egress.open_socket(server["host"], server["port"], egress.SMTP, settings), timeout
            )
        client = aiosmtplib.SMTP(
            hostname=server["host"],
            port=None if sock is not None else server["port"],
            sock=sock,
            use_tls=tls == "ssl",
            start_tls=tls == "starttls",
            # Verifying, and trusting HELPLINE_EMAIL_CA_FILE; "none" never upgrades (start_tls False).
            tls_context=email_tls.client_context(settings) if tls != "none" else None,
            timeout=timeout,
        )
        try:
            await client.connect()
        except BaseException:
            if sock is not None:
                sock.close()  # aiosmtplib closes only the transports it made
            raise
        if server["user"]:
            try:
                if token is not None:
                    await xoauth2(client, server["user"], token)
                else:
                    await client.login(server["user"], server["password"])
            except aiosmtplib.SMTPAuthenticationError as exc:
                client.close()  # a refused login must not leave the connection open
                log.warning(
                    "SMTP %s:%s refused the login: %s %s",
                    server["host"],
                    server["port"],
                    exc.code,
                    exc.message,
                )
                raise Failure(
                    f"authentication failed: the server refused the user name or password (SMTP {exc.code})"
                ) from exc
            except BaseException:
                client.close()
                raise
        self.client = client
        return client

    async def _token(self, server: dict[str, Any]) -> str | None:
        """The XOAUTH2 access token (renewed first when due), or None for a password login. A failed
        renewal is remembered for this session: the rest of a batch does not ask the provider again."""
        if not server["user"] or server["auth"] != "xoauth2":
            return None
        if self.oauth_failure is not None:
            raise self.oauth_failure
        try:
            return await oauth2.bearer(self.platform, self.mailbox, "smtp_secret")
        except oauth2.OAuth2Error as exc:
            self.oauth_failure = exc
            raise

    async def send(self, sender: str, recipients: list[str], raw: bytes) -> Delivery:
        server = self._server()
        if server is None:
            from email import message_from_bytes, policy

            await self.platform.mail.send(message_from_bytes(raw, policy=policy.default))
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


async def xoauth2(client: aiosmtplib.SMTP, user: str, token: str) -> None:
    """``AUTH XOAUTH2`` with the bearer string (Google's and Microsoft's SMTP). A refused token comes
    back as a ``334`` challenge holding a JSON error; the client answers it with an empty line and the
    server then says ``535``: :class:`Failure` is raised in our words (the JSON goes to the log)."""
    if client.is_ehlo_or_helo_needed:
        await client.ehlo()
    if "XOAUTH2" not in (m.upper() for m in client.server_auth_methods):
        log.warning(
            "the SMTP server offers AUTH %s, not XOAUTH2", " ".join(client.server_auth_methods) or "none"
        )
        raise Failure(
            "the server does not offer AUTH XOAUTH2"
            + (
                "; without TLS, servers often offer none"
                if client.get_transport_info("sslcontext") is None
                else ""
            )
        )
    blob = base64.b64encode(f"user={user}\x01auth=Bearer {token}\x01\x01".encode())
    response = await client.execute_command(b"AUTH", b"XOAUTH2", blob)
    said = ""
    if response.code == 334:
        try:
            said = base64.b64decode(response.message, validate=True).decode("utf-8", "replace").strip()
        except ValueError:
            said = response.message
        response = await client.execute_command(b"")
    if response.code != 235:
        # The server's words (and Gmail's JSON challenge) go to the log, not to the admin's page.
        log.warning(
            "the SMTP server refused XOAUTH2: %s %s; it said %s", response.code, response.message, said[:300]
        )
        raise Failure(
            "authentication failed: the server refused the OAuth2 access token (XOAUTH2)"
            f" (SMTP {response.code})"
        )


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
