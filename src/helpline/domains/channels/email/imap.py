"""IMAP fetcher: one per mailbox at a time (a lease on the mailbox row), catch-up by UID, IDLE.

The protocol is the standard library's ``imaplib``, run in a worker thread (ADR 0008). For each new
UID, in order: fetch the raw bytes, then in one transaction store them (:func:`service.ingest`) and
advance ``imap_last_uid``; only after that commit is the message flagged ``\\Seen`` or moved. A crash
in between fetches it again on restart, and the unique ``(mailbox, Message-ID)`` makes that a no-op.
A changed UIDVALIDITY (the folder was rebuilt) restarts the catch-up from UID 1, safely for the same
reason.

Every connection goes through the egress guard (:mod:`helpline.platform.egress`): the server's
address and port are checked before connecting and the socket's peer after, before TLS or a byte of
IMAP. Errors are our own sentences; the server's words go to the log only (ADR 0012).
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import logging
import os
import re
import select
import socket
import ssl
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from helpline.db.base import utcnow
from helpline.domains.channels.email import oauth2, service
from helpline.domains.channels.email import tls as email_tls
from helpline.domains.channels.email.failures import Failure, describe
from helpline.domains.channels.email.models import Mailbox
from helpline.platform import egress

if TYPE_CHECKING:
    from helpline.platform.runtime import Platform
    from helpline.settings import Settings

log = logging.getLogger(__name__)
mailboxes = Mailbox.__table__

_UIDVALIDITY = re.compile(rb"UIDVALIDITY (\d+)")
_FETCH_UID = re.compile(rb"UID (\d+)")


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


async def connect(
    platform: Platform, mailbox: dict[str, Any], socket_timeout: float = 30.0
) -> ImapConnection:
    """Log in to the mailbox's IMAP folder, renewing its OAuth2 access token first when it needs one
    (:func:`oauth2.bearer`; raises :class:`oauth2.OAuth2Error` when none can be had)."""
    token = (
        await oauth2.bearer(platform, mailbox, "imap_secret") if mailbox["imap_auth"] == "xoauth2" else None
    )
    settings = platform.settings
    host, port = str(mailbox["imap_host"]), int(mailbox["imap_port"])
    try:
        await egress.check(host, port, egress.IMAP, settings)  # early, with its own sentence
    except egress.EgressRefused as exc:
        raise ImapError(f"{host}:{port}: {exc}") from exc
    context = email_tls.client_context(settings)
    return await asyncio.to_thread(
        ImapConnection, mailbox, socket_timeout, settings=settings, ssl_context=context, token=token
    )


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


def owner_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


async def take_lease(platform: Platform, mailbox_id: int, owner: str, seconds: int) -> bool:
    """Hold the mailbox's fetcher lease (taking it when free or expired); False when another holds it."""
    now = utcnow()
    async with platform.db.transaction() as uow:
        result = await uow.execute(
            mailboxes.update()
            .where(
                mailboxes.c.id == mailbox_id,
                sa.or_(
                    mailboxes.c.lease_owner.is_(None),
                    mailboxes.c.lease_owner == owner,
                    mailboxes.c.lease_until < now,
                ),
            )
            .values(lease_owner=owner, lease_until=now + timedelta(seconds=seconds))
        )
        return result.rowcount == 1


async def release_lease(platform: Platform, mailbox_id: int, owner: str) -> None:
    async with platform.db.transaction() as uow:
        await uow.execute(
            mailboxes.update()
            .where(mailboxes.c.id == mailbox_id, mailboxes.c.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
        )


async def _health(platform: Platform, mailbox_id: int, *, error: str | None) -> None:
    now = utcnow()
    values: dict[str, Any] = (
        {"last_fetch_ok_at": now, "last_error": None}
        if error is None
        else {"last_error": error[:1000], "last_error_at": now}
    )
    async with platform.db.transaction() as uow:
        await uow.execute(mailboxes.update().where(mailboxes.c.id == mailbox_id).values(**values))


async def fetch_new(platform: Platform, mailbox: dict[str, Any], conn: ImapConnection) -> int:
    """Catch up: ingest every message after the stored UID; the number newly stored."""
    uidvalidity = await asyncio.to_thread(conn.select)
    last = int(mailbox["imap_last_uid"] or 0)
    if mailbox["imap_uidvalidity"] != uidvalidity:
        if mailbox["imap_uidvalidity"] is not None:
            log.warning(
                "mailbox %s: UIDVALIDITY changed (%s → %s); fetching the folder again",
                mailbox["id"],
                mailbox["imap_uidvalidity"],
                uidvalidity,
            )
        last = 0
        async with platform.db.transaction() as uow:
            await uow.execute(
                mailboxes.update()
                .where(mailboxes.c.id == mailbox["id"])
                .values(imap_uidvalidity=uidvalidity, imap_last_uid=0)
            )
        mailbox["imap_uidvalidity"], mailbox["imap_last_uid"] = uidvalidity, 0
    new = 0
    for uid in await asyncio.to_thread(conn.new_uids, last):
        raw = await asyncio.to_thread(conn.fetch, uid)
        async with platform.db.transaction() as uow:
            if raw is not None:
                got = await service.ingest(platform, mailbox, raw, source="imap", uow=uow)
                new += got.created
            await uow.execute(
                mailboxes.update().where(mailboxes.c.id == mailbox["id"]).values(imap_last_uid=uid)
            )
        mailbox["imap_last_uid"] = uid
        if raw is not None:
            await asyncio.to_thread(conn.done, uid)  # after the commit, never before
    return new


async def fetch_once(platform: Platform, mailbox: dict[str, Any]) -> int:
    """Connect, catch up, disconnect (tests, the connection test, and fetchers without IDLE)."""
    conn = await connect(platform, mailbox)
    try:
        n = await fetch_new(platform, mailbox, conn)
    finally:
        await asyncio.to_thread(conn.close)
    await _health(platform, mailbox["id"], error=None)
    return n


async def run_fetcher(platform: Platform, mailbox_id: int, stop: Any, *, owner: str | None = None) -> None:
    """Fetch mailbox ``mailbox_id`` until ``stop`` (a ``threading.Event``) is set, while holding its lease."""
    owner = owner or owner_name()
    poll = max(1, platform.settings.imap_poll_seconds)
    lease = poll * 3 + 30
    failures = 0
    while not stop.is_set():
        if not await take_lease(platform, mailbox_id, owner, lease):
            await asyncio.to_thread(stop.wait, poll)
            continue
        mailbox = await service.mailbox_by_id(platform, mailbox_id)
        if mailbox is None or not mailbox["imap_host"]:
            break
        conn = None
        try:
            conn = await connect(platform, mailbox)
            while not stop.is_set():
                await fetch_new(platform, mailbox, conn)
                await _health(platform, mailbox_id, error=None)
                failures = 0
                if not await take_lease(platform, mailbox_id, owner, lease):
                    break
                await asyncio.to_thread(conn.idle, poll, stop)
                if (
                    mailbox["imap_auth"] == "xoauth2"
                    and oauth2.configured(mailbox)
                    and not oauth2.fresh(mailbox)
                ):
                    break  # log in again with a renewed token before the server drops this session
        except Exception as exc:
            failures += 1
            log.warning("IMAP fetcher of mailbox %s: %s", mailbox_id, exc)
            # Our own sentence, never the server's words (those went to the log).
            error = str(exc) if isinstance(exc, oauth2.OAuth2Error) else describe(exc)
            await _health(platform, mailbox_id, error=error)
            await asyncio.to_thread(stop.wait, min(300, 2 ** min(failures, 8)))
        finally:
            if conn is not None:
                await asyncio.to_thread(conn.close)
    await release_lease(platform, mailbox_id, owner)
