"""What the email channel runs beside the web server (embedded) or in ``helpline worker``
(distributed): the SMTP receiver, one IMAP fetcher per mailbox (each behind its lease, so several
processes may run this safely), and the periodic requeue of inbound mail left waiting. (Agent
replies need no sweep: they are queued in the transaction that writes them, ``adapter.py``.)"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from typing import TYPE_CHECKING

import sqlalchemy as sa

from helpline.domains.channels.email import imap
from helpline.domains.channels.email.models import Mailbox
from helpline.domains.channels.email.process import requeue_stale
from helpline.domains.channels.email.smtp_server import start_receiver

if TYPE_CHECKING:
    from helpline.platform.runtime import Platform

log = logging.getLogger(__name__)
mailboxes = Mailbox.__table__

SUPERVISE_SECONDS = 30.0


class EmailRuntime:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.server: asyncio.Server | None = None
        self.fetchers: dict[int, tuple[asyncio.Task[None], threading.Event]] = {}
        self.task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    async def start(self) -> None:
        s = self.platform.settings
        if s.smtp_receiver_port:
            self.server = await start_receiver(self.platform, s.smtp_receiver_host, s.smtp_receiver_port)
        self.task = asyncio.create_task(self._supervise())

    async def _supervise(self) -> None:
        while not self._stop.is_set():
            try:
                await requeue_stale(self.platform)
                if self.platform.settings.imap_fetchers:
                    await self._fetchers()
            except Exception:
                log.exception("email runtime round failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), SUPERVISE_SECONDS)

    async def _fetchers(self) -> None:
        async with self.platform.db.read() as conn:
            wanted = {
                int(r[0])
                for r in await conn.execute(
                    sa.select(mailboxes.c.id).where(mailboxes.c.active.is_(True), mailboxes.c.imap_host != "")
                )
            }
        for mailbox_id in list(self.fetchers):
            task, stop = self.fetchers[mailbox_id]
            if mailbox_id not in wanted or task.done():
                stop.set()
                del self.fetchers[mailbox_id]
        for mailbox_id in wanted - set(self.fetchers):
            stop = threading.Event()
            task = asyncio.create_task(imap.run_fetcher(self.platform, mailbox_id, stop))
            self.fetchers[mailbox_id] = (task, stop)

    async def stop(self) -> None:
        self._stop.set()
        for _task, stop in self.fetchers.values():
            stop.set()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        tasks = [t for t, _ in self.fetchers.values()] + ([self.task] if self.task else [])
        for task in tasks:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(task, 10)
