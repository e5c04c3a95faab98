"""IMAP fetcher: one per mailbox at a time (a lease on the mailbox row), catch-up by UID, IDLE.

The protocol is the standard library's ``imaplib``, run in a worker thread (ADR 0008). For each new
UID, in order: fetch the raw bytes, then in one transaction store them (:func:`service.ingest`) and
advance ``imap_last_uid``; only after that commit is the message flagged ``\\Seen`` or moved. A crash
in between fetches it again on restart, and the unique ``(mailbox, Message-ID)`` makes that a no-op.
A changed UIDVALIDITY (the folder was rebuilt) restarts the catch-up from UID 1, safely for the same
reason.

The session itself (:class:`ImapConnection`, :class:`ImapError`) is in :mod:`imap_session`; every
connection goes through the egress guard there. Errors are our own sentences (ADR 0012).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from helpline.db.base import utcnow
from helpline.domains.channels.email import oauth2, service
from helpline.domains.channels.email import tls as email_tls
from helpline.domains.channels.email.failures import describe
from helpline.domains.channels.email.imap_session import ImapConnection, ImapError
from helpline.domains.channels.email.models import Mailbox
from helpline.platform import egress

if TYPE_CHECKING:
    from helpline.platform.runtime import Platform

log = logging.getLogger(__name__)
mailboxes = Mailbox.__table__


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


__all__ = ["ImapConnection", "ImapError", "connect", "fetch_new", "fetch_once", "run_fetcher"]
