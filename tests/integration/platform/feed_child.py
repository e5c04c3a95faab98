"""The process the feed's kill test SIGKILLs: a feed worker delivering ticket events to a
transactional and an idempotent consumer until it is killed. Run as
``python -m tests.integration.platform.feed_child DB_URL VAR_DIR TX_NAME IDEM_NAME IDEM_LOG``."""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta
from pathlib import Path

from helpline.platform import feed
from helpline.platform.runtime import build_platform
from helpline.settings import Settings
from tests.integration.platform.feedkit import SEEN, registry

#: Each batch stays open this long after its work, and says so on stdout ("hold tx" / "hold idem"):
#: the test kills the process right then, mid-batch.
HOLD = 0.1
BATCH = 8


def _holding(kind: str) -> None:
    if __name__ == "__main__":
        print(f"hold {kind}", flush=True)


def consumers(reg: feed.Registry, tx: str, idem: str, log: Path) -> None:
    """``tx`` writes SEEN rows in its delivery transaction; ``idem`` appends ids to ``log``."""

    async def transactional(batch: feed.Batch) -> None:
        assert batch.uow is not None
        rows = [{"consumer": tx, "event_id": int(r["id"]), "worker": batch.worker} for r in batch.rows]
        await batch.uow.execute(SEEN.insert(), rows)
        _holding("tx")
        await asyncio.sleep(HOLD)

    async def idempotent(batch: feed.Batch) -> None:
        with log.open("a") as fh:
            fh.write("".join(f"{r['id']}\n" for r in batch.rows))
        _holding("idem")
        await asyncio.sleep(HOLD)

    reg.consumer("events", tx, transactional, batch=BATCH)
    reg.consumer("events", idem, idempotent, idempotent=True, batch=BATCH)


async def main(url: str, var: Path, tx: str, idem: str, log: Path) -> None:
    settings = Settings(
        database_url=url,
        var_dir=var,
        secret_key="feed-kill-test-secret-0123456789abcdef",
        run_jobs_in_process=False,
    )
    platform = build_platform(settings)
    reg = registry()
    consumers(reg, tx, idem, log)
    worker = feed.FeedWorker(platform, reg, lease=timedelta(seconds=1))
    await worker.setup()
    print("ready", flush=True)
    while True:
        if await worker.run_once() == 0:
            await asyncio.sleep(0.05)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), sys.argv[3], sys.argv[4], Path(sys.argv[5])))
