"""What the email channel says when a connection to a mail server or a token endpoint fails: our own
sentences (refused address, could not connect, TLS failed, authentication failed), never the
remote's words.

A greeting, an error line or a response body may come from whatever service an admin points a
mailbox at; showing it on the connection test or in the mailbox's health would make those a way to
read internal services (ADR 0012). Numeric reply codes are kept (they carry no text); the remote's
words go to the server log, for the operator.
"""

from __future__ import annotations

import imaplib
import logging
import socket
import ssl
from collections.abc import Iterator

import aiosmtplib

from helpline.domains.channels.email.tls import TlsSetupError, certificate_problem
from helpline.platform.egress import EgressRefused

log = logging.getLogger(__name__)


class Failure(Exception):
    """A step of a connection that failed, already said in our own words (safe to show an admin)."""


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def _smtp_code(exc: aiosmtplib.SMTPResponseException) -> str:
    return f" (SMTP {exc.code})" if 200 <= exc.code <= 599 else ""


def describe(exc: BaseException) -> str:
    """Our sentence for ``exc`` (anywhere in its chain: aiosmtplib wraps the ``ssl`` and socket
    errors), never text read from the remote. Already-worded errors (:class:`Failure`, a refusal
    of the egress guard, the install's TLS settings) are shown as they are."""
    chain = list(_chain(exc))
    for e in chain:
        if isinstance(e, EgressRefused | TlsSetupError | Failure):
            return str(e)
    for e in chain:
        if isinstance(e, ssl.SSLCertVerificationError):
            return certificate_problem(e)
    for e in chain:
        if isinstance(e, ssl.SSLError):
            reason = e.reason or "handshake failed"
            return (
                f"TLS failed ({reason}): check the TLS mode (SSL/TLS on ports 993 and 465, STARTTLS on "
                "143 and 587)"
            )
    for e in chain:
        if isinstance(e, socket.gaierror):
            return "could not connect: the host name could not be resolved"
        if isinstance(e, ConnectionRefusedError):
            return "could not connect: the connection was refused (nothing listens on that port)"
        if isinstance(e, TimeoutError):
            return "could not connect: the server did not answer in time"
    for e in chain:
        if isinstance(e, aiosmtplib.SMTPAuthenticationError):
            return f"authentication failed: the server refused the login{_smtp_code(e)}"
        if isinstance(e, aiosmtplib.SMTPResponseException):
            if e.code < 200:  # aiosmtplib's -1: a line that is not an SMTP reply
                return "the server did not answer like an SMTP server"
            if isinstance(e, aiosmtplib.SMTPConnectResponseError):
                return f"the server refused the connection{_smtp_code(e)}"
            return f"the server refused a command{_smtp_code(e)}"
        if isinstance(
            e, aiosmtplib.SMTPServerDisconnected | ConnectionResetError | BrokenPipeError | EOFError
        ):
            return "the server closed the connection"
        if isinstance(e, aiosmtplib.SMTPConnectError):
            return "could not connect"
        if type(e) in (aiosmtplib.SMTPException, aiosmtplib.SMTPNotSupported):
            return str(e)  # aiosmtplib's own sentences ("STARTTLS extension not supported", …)
        if isinstance(e, imaplib.IMAP4.error):
            return "the IMAP server answered something unexpected, or closed the connection"
    for e in chain:
        if isinstance(e, OSError):
            return f"could not connect: {e.strerror or type(e).__name__}"
    log.warning("email connection failed unexpectedly", exc_info=exc)
    return f"unexpected error ({type(exc).__name__}); the server log has the details"
