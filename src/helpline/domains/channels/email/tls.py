"""TLS of the email channel's own connections (IMAP fetchers, SMTP sending, the connection test),
and the optional STARTTLS of the SMTP receiver.

Server certificates are always verified, host name included, against the system's CA bundle plus,
when ``HELPLINE_EMAIL_CA_FILE`` is set, the CAs in that PEM file (a company's private CA, a
self-hosted mail server's own CA). There is deliberately no switch to turn verification off: a mail
server with a self-signed certificate is trusted by putting that certificate in the CA file.
"""

from __future__ import annotations

import os
import ssl
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from helpline.settings import Settings

# OpenSSL's X509_V_ERR_* codes that mean "issued by a CA we do not trust".
_UNTRUSTED = {
    18,  # self-signed certificate
    19,  # self-signed certificate in certificate chain
    20,  # unable to get local issuer certificate
    21,  # unable to verify the first certificate
}
_NAME_MISMATCH = {62, 63, 64}  # host name, email, IP address mismatch
_EXPIRED = {9, 10}  # not yet valid, expired


class TlsSetupError(Exception):
    """The install's TLS settings cannot be used (an unreadable CA file, a bad key pair)."""


def client_context(settings: Settings) -> ssl.SSLContext:
    """The verifying client context for mail servers (one per CA file and version of it, cached)."""
    path = settings.email_ca_file
    if not path:
        return _context("", 0)
    try:
        stamp = os.stat(path).st_mtime_ns
    except OSError as exc:
        raise TlsSetupError(f"HELPLINE_EMAIL_CA_FILE={path}: {exc.strerror or exc}") from exc
    return _context(str(path), stamp)


@lru_cache(maxsize=4)
def _context(ca_file: str, _stamp: int) -> ssl.SSLContext:
    ctx = ssl.create_default_context()  # CERT_REQUIRED, check_hostname, the system's CAs
    if ca_file:
        try:
            ctx.load_verify_locations(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise TlsSetupError(f"HELPLINE_EMAIL_CA_FILE={ca_file}: not a readable PEM file ({exc})") from exc
    return ctx


def receiver_context(settings: Settings) -> ssl.SSLContext | None:
    """The SMTP receiver's server context for STARTTLS, or None when no certificate is configured."""
    cert, key = settings.smtp_receiver_tls_cert_file, settings.smtp_receiver_tls_key_file
    if not cert:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        ctx.load_cert_chain(str(cert), str(key) if key else None)
    except (OSError, ssl.SSLError) as exc:
        raise TlsSetupError(
            f"HELPLINE_SMTP_RECEIVER_TLS_CERT_FILE={cert}"
            + (f", HELPLINE_SMTP_RECEIVER_TLS_KEY_FILE={key}" if key else "")
            + f": cannot load the certificate and key ({exc})"
        ) from exc
    return ctx


def certificate_problem(exc: ssl.SSLCertVerificationError) -> str:
    """A refused server certificate in words a person can act on (OpenSSL's reason, not the server's)."""
    why = exc.verify_message or exc.reason or str(exc)
    code = exc.verify_code
    if code in _UNTRUSTED:
        return (
            f"TLS certificate not trusted ({why}): the server's certificate is self-signed or from a "
            "private CA; add that CA's certificate to HELPLINE_EMAIL_CA_FILE to trust it"
        )
    if code in _NAME_MISMATCH:
        return (
            f"TLS certificate is for another server ({why}): connect with a host name the certificate "
            "was issued for"
        )
    if code in _EXPIRED:
        return f"TLS certificate refused ({why}): the server's certificate is outside its validity dates"
    return f"TLS certificate refused: {why}"
