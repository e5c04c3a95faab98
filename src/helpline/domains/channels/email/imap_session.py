"""One blocking IMAP session on a mailbox's folder (imaplib, run in a worker thread by
:mod:`imap`), connected through the egress guard.

The socket comes from :func:`egress.connect_blocking`: the server's address and port are checked
before connecting, and the socket's real peer after, before TLS or a byte of IMAP. Failures raise
:class:`ImapError` in our own words; what the server said goes to the log only (ADR 0012).
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import re
import select
import socket
import ssl
from typing import TYPE_CHECKING, Any

from helpline.domains.channels.email.failures import Failure, describe
from helpline.platform import egress

if TYPE_CHECKING:
    from helpline.settings import Settings

log = logging.getLogger(__name__)

_UIDVALIDITY = re.compile(rb"UIDVALIDITY (\d+)")


class ImapError(Failure):
    """An IMAP step that failed, in our own words (never the server's: see :mod:`failures`)."""


class _IMAP4(imaplib.IMAP4):
    """imaplib's client over a socket from the egress guard (checked before and after connecting)."""

    def __init__(self, host: str, port: int, timeout: float, settings: Settings) -> None:
        self._settings = settings
        super().__init__(host, port, timeout)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        return egress.connect_blocking(self.host, self.port, egress.IMAP, self._settings, timeout=timeout)


class _IMAP4_SSL(imaplib.IMAP4_SSL):
    """imaplib's implicit-TLS client over a socket from the egress guard: TLS starts only after the
    peer was checked."""

    def __init__(
        self, host: str, port: int, timeout: float, settings: Settings, context: ssl.SSLContext
    ) -> None:
        self._settings = settings
        self._context = context
        super().__init__(host, port, ssl_context=context, timeout=timeout)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        sock = egress.connect_blocking(self.host, self.port, egress.IMAP, self._settings, timeout=timeout)
        try:
            return self._context.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


class _XOAuth2:
    """The XOAUTH2 exchange: send the bearer string once; a refused token comes back as a challenge
    holding a JSON error, which the client must answer with an empty line (then the server says NO)."""

    def __init__(self, user: str, token: str) -> None:
        self.initial = f"user={user}\x01auth=Bearer {token}\x01\x01".encode()
        self.sent = False
        self.error = ""

    def __call__(self, challenge: bytes) -> bytes:
        if not self.sent:
            self.sent = True
            return self.initial
        self.error = challenge.decode("utf-8", "replace").strip()
        return b""


class ImapConnection:
    """A blocking IMAP session on one folder (call its methods from a worker thread).

    The connection goes through the egress guard (``settings``: ``HELPLINE_EGRESS_ALLOW``).
    ``ssl_context`` verifies the server's certificate (:func:`tls.client_context`, which trusts
    ``HELPLINE_EMAIL_CA_FILE`` too); without one, the system's CAs only. ``token`` is the XOAUTH2
    access token (:func:`connect` renews it first); without one, the saved ``imap_secret``. A failure
    raises :class:`ImapError` in our own words; the server's own go to the log only."""

    def __init__(
        self,
        mailbox: dict[str, Any],
        timeout: float = 30.0,
        *,
        settings: Settings,
        ssl_context: ssl.SSLContext | None = None,
        token: str | None = None,
    ) -> None:
        self.mailbox = mailbox
        host, port, tls = mailbox["imap_host"], int(mailbox["imap_port"]), mailbox["imap_tls"]
        context = ssl_context or ssl.create_default_context()
        imap: imaplib.IMAP4 | None = None
        xoauth2 = mailbox["imap_auth"] == "xoauth2"
        oauth: _XOAuth2 | None = None
        step = "connect"
        try:
            if tls == "ssl":
                imap = _IMAP4_SSL(host, port, timeout, settings, context)
            else:
                imap = _IMAP4(host, port, timeout, settings)
                if tls == "starttls":
                    step = "starttls"
                    imap.starttls(context)
            step = "login"
            if xoauth2:
                oauth = _XOAuth2(mailbox["imap_username"], token or mailbox["imap_secret"])
                imap.authenticate("XOAUTH2", oauth)
            else:
                imap.login(mailbox["imap_username"], mailbox["imap_secret"])
            # The greeting's capabilities are those before login; ask again (MOVE, IDLE, UIDPLUS).
            step = "capability"
            typ, data = imap.capability()
            self.caps = (
                {c.upper() for c in (data[0] or b"").decode("ascii", "replace").split()}
                if typ == "OK"
                else set()
            )
        except (imaplib.IMAP4.error, OSError, egress.EgressRefused) as exc:
            if imap is not None:
                # A refused login must not leak the socket. After a failed STARTTLS handshake the
                # socket is already gone and shutdown() raises EBADF, which must not hide the reason.
                with contextlib.suppress(OSError):
                    imap.shutdown()
            # The server's words (its error, an XOAUTH2 challenge) go to the log only.
            said = f"; it said {oauth.error}" if oauth is not None and oauth.error else ""
            log.warning("IMAP %s:%s failed at %s: %r%s", host, port, step, exc, said)
            raise ImapError(f"{host}:{port}: {_why(exc, step, tls, xoauth2)}") from exc
        self.imap: imaplib.IMAP4 = imap
        self.uidvalidity = 0

    def _refused(self, what: str, data: Any) -> ImapError:
        log.warning("IMAP mailbox %s: %s: %r", self.mailbox.get("id"), what, data)  # the server's words
        return ImapError(what)

    def select(self) -> int:
        folder = self.mailbox["imap_folder"] or "INBOX"
        typ, data = self.imap.select(_quote(folder))
        if typ != "OK":
            raise self._refused(f"cannot open folder {folder!r}: the server refused to select it", data)
        _, data = self.imap.response("UIDVALIDITY")
        if not data or data[0] is None:
            _, data = self.imap.status(_quote(folder), "(UIDVALIDITY)")
            m = _UIDVALIDITY.search(b" ".join(d for d in data if isinstance(d, bytes)))
            if m is None:
                raise ImapError("the server gave no UIDVALIDITY")
            data = [m.group(1)]
        self.uidvalidity = int(data[0] or 0)
        return self.uidvalidity

    def new_uids(self, after: int) -> list[int]:
        typ, data = self.imap.uid("SEARCH", f"UID {after + 1}:*")
        if typ != "OK":
            raise self._refused("the server refused UID SEARCH", data)
        # "n:*" always matches the highest UID, even when it is below n.
        return sorted(u for u in (int(x) for x in (data[0] or b"").split()) if u > after)

    def fetch(self, uid: int) -> bytes | None:
        typ, data = self.imap.uid("FETCH", str(uid), "(BODY.PEEK[])")
        if typ != "OK":
            raise self._refused(f"the server refused UID FETCH {uid}", data)
        for item in data:
            if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
                return item[1]
        return None  # expunged meanwhile

    def done(self, uid: int) -> None:
        """Flag the message seen, or move it away; called only after its commit."""
        target = self.mailbox["imap_move_to"]
        if not target:
            self.imap.uid("STORE", str(uid), "+FLAGS.SILENT", "(\\Seen)")
            return
        caps = self.caps
        if "MOVE" in caps:
            typ, data = self.imap.uid("MOVE", str(uid), _quote(target))
            if typ == "OK":
                return
        typ, data = self.imap.uid("COPY", str(uid), _quote(target))
        if typ != "OK":
            raise self._refused(f"cannot move UID {uid} to {target!r}: the server refused", data)
        self.imap.uid("STORE", str(uid), "+FLAGS.SILENT", "(\\Deleted \\Seen)")
        if "UIDPLUS" in caps:
            self.imap.uid("EXPUNGE", str(uid))

    def idle(self, seconds: float, stop: Any) -> bool:
        """Wait for new mail with IDLE (or just wait, without it); True when the server said EXISTS."""
        if "IDLE" not in self.caps:
            stop.wait(seconds)
            return False
        imap = self.imap
        tag = imap._new_tag()
        imap.send(tag + b" IDLE\r\n")
        if not imap.readline().startswith(b"+"):
            raise ImapError("IDLE refused")
        got = False
        waited = 0.0
        sock = imap.sock
        while waited < seconds and not stop.is_set():
            pending = isinstance(sock, ssl.SSLSocket) and sock.pending() > 0
            if pending or select.select([sock], [], [], 0.5)[0]:
                line = imap.readline()
                if not line:
                    raise ImapError("the server closed the connection")
                if b"EXISTS" in line or b"RECENT" in line:
                    got = True
                    break
            else:
                waited += 0.5
        imap.send(b"DONE\r\n")
        while True:
            line = imap.readline()
            if not line:
                raise ImapError("the server closed the connection")
            if line.startswith(tag):
                break
        return got

    def close(self) -> None:
        try:
            self.imap.logout()
        except Exception:  # already gone
            log.debug("IMAP logout failed", exc_info=True)


def _why(exc: BaseException, step: str, tls: str, xoauth2: bool) -> str:
    """Our sentence for a failed connection or login (never the server's words)."""
    if not isinstance(exc, imaplib.IMAP4.error):
        return describe(exc)  # refused by the guard, TLS, the network
    if step == "login":
        if xoauth2:
            return "authentication failed: the server refused the OAuth2 access token (XOAUTH2)"
        return "authentication failed: the server refused the user name or password" + (
            " (the connection is not encrypted: many servers refuse a password without TLS)"
            if tls == "none"
            else ""
        )
    if step == "starttls":
        return "STARTTLS failed: the server does not offer it or refused it"
    return "the server did not answer like an IMAP server"


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'
