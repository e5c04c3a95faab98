"""The process the kill test SIGKILLs: it ingests a spool of .eml files like an IMAP fetcher (store,
commit, then "flag" by moving the file away) while a job runner processes them, until nothing is
left. Run as ``python -m tests.integration.email.kill_child DB_URL SPOOL DONE FILES MAILBOX_ID``."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

import helpline.app  # noqa: F401 - importing the app registers every job handler
from helpline.domains.channels.email import service
from helpline.domains.channels.email.models import InboundMail
from helpline.domains.channels.email.process import requeue_stale
from helpline.platform.jobs import JobRunner
from helpline.platform.runtime import build_platform
from helpline.settings import Settings


async def main(url: str, spool: Path, done: Path, files: Path, mailbox_id: int) -> None:
    platform = build_platform(
        Settings(
            database_url=url,
            files_dir=files,
            var_dir=files.parent,
            secret_key="kill-test-secret-key-0123456789abcdef",
            run_jobs_in_process=False,
        )
    )
    inbound = InboundMail.__table__
    runner = JobRunner(platform, lease=timedelta(seconds=2))
    worker = asyncio.create_task(runner.run_forever(poll_seconds=0.2))
    try:
        await requeue_stale(platform, older_than=timedelta(0))  # mail whose jobs died with us
        mailbox = await service.mailbox_by_id(platform, mailbox_id)
        assert mailbox is not None
        for path in sorted(spool.iterdir()):  # noqa: ASYNC240
            await service.ingest(platform, mailbox, path.read_bytes(), source="imap")
            path.rename(done / path.name)  # the IMAP flag: only after the commit
        while True:
            async with platform.db.read() as conn:
                left = (
                    await conn.execute(
                        sa.select(sa.func.count()).select_from(inbound).where(inbound.c.state == "received")
                    )
                ).scalar()
            if not left:
                break
            await asyncio.sleep(0.2)
            await requeue_stale(platform, older_than=timedelta(seconds=5))
    finally:
        runner.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
        await platform.close()


if __name__ == "__main__":
    url, spool, done, files, mailbox_id = sys.argv[1:6]
    asyncio.run(main(url, Path(spool), Path(done), Path(files), int(mailbox_id)))
