"""Our own SMTP receiver (aiosmtpd), for an MX record or a forwarding rule.

It answers ``250`` only after the message is stored (raw bytes fsynced, row committed) for every
mailbox it was addressed to; if storing fails it answers ``451`` so the sending server keeps the
message and tries again. Unknown recipients are refused at ``RCPT`` (``550``), so it is no open relay.
With ``HELPLINE_SMTP_RECEIVER_TLS_CERT_FILE`` set it offers STARTTLS (optional for senders).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import TYPE_CHECKING, Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from helpline.domains.channels.email import service
from helpline.domains.channels.email import tls as email_tls

if TYPE_CHECKING:
    from helpline.platform.runtime import Platform

log = logging.getLogger(__name__)


class Receiver:
    """The aiosmtpd handler."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        try:
            mailbox = await service.mailbox_by_address(self.platform, address)
        except Exception:
            log.exception("looking up the mailbox of %s failed", address)
            return "451 4.3.0 Temporary failure, try again later"
        if mailbox is None:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        boxes: dict[int, dict[str, Any]] = getattr(envelope, "helpline_mailboxes", {})
        boxes[int(mailbox["id"])] = mailbox
        envelope.helpline_mailboxes = boxes  # type: ignore[attr-defined]
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        mail_from = (envelope.mail_from or "").strip()
        mail_from = "" if mail_from in ("<>", "") else mail_from
        try:
            for mailbox in getattr(envelope, "helpline_mailboxes", {}).values():
                await service.ingest(
                    self.platform, mailbox, raw or b"", source="smtp", envelope_from=mail_from
                )
        except Exception:
            log.exception("storing a received message failed; the sender will retry")
            return "451 4.3.0 Could not store the message, try again later"
        return "250 2.0.0 OK: stored"


async def start_receiver(platform: Platform, host: str, port: int) -> asyncio.Server:
    """Listen on ``host:port`` in the running event loop (the one that owns the database engines)."""
    handler = Receiver(platform)
    size = platform.settings.email_max_message_bytes  # the one mail size limit of every transport
    # STARTTLS when a certificate is configured, optional for the sender (an MX must take mail from
    # servers that cannot do TLS).
    tls_context = email_tls.receiver_context(platform.settings)
    loop = asyncio.get_running_loop()
    name = socket.gethostname()  # once: aiosmtpd would look up the FQDN for every connection
    server = await loop.create_server(
        lambda: SMTP(
            handler,
            hostname=name,
            data_size_limit=size,
            decode_data=False,
            ident="Helpline ESMTP",
            tls_context=tls_context,
        ),
        host=host,
        port=port,
        reuse_port=True,
    )  # several `helpline worker` processes may share it
    log.info("SMTP receiver listening on %s:%s%s", host, port, " (STARTTLS offered)" if tls_context else "")
    return server
