"""The feed's kill test: worker processes SIGKILLed mid-batch (the child says when a batch of either
consumer is open; it is killed at once, after a random number of batches), then a restarted worker
finishes. Every event reaches both
consumers; the transactional consumer's effects are there exactly once; the idempotent consumer may
see an event again, but each ticket's events first arrive in order."""

from __future__ import annotations

import asyncio
import random
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from helpline.platform import feed
from tests.integration.platform.feed_child import BATCH, consumers
from tests.integration.platform.feedkit import (
    Done,
    all_seen,
    both,
    make_seen_table,
    make_tickets,
    name,
    per_ticket,
    registry,
    run_until,
    seen_rows,
    write_events,
)

ROOT = Path(__file__).resolve().parents[3]
KILLS = 4


def logged(path: Path) -> list[int]:
    """Ids the idempotent consumer wrote (a line cut short by a kill is not an id)."""
    if not path.exists():
        return []
    return [int(line) for line in path.read_text().split("\n")[:-1] if line.isdigit()]


def log_has(path: Path, ids: list[int]) -> Done:
    async def check() -> bool:
        return set(ids) <= set(logged(path))

    return check


@pytest.mark.slow
async def test_sigkilled_workers_lose_nothing_and_repeat_no_effect(platform, ws, tmp_path):
    await make_seen_table(platform)
    tickets = await make_tickets(ws, 8)
    tx, idem, log = name("kill-tx"), name("kill-idem"), tmp_path / "idem.log"
    reg = registry()
    consumers(reg, tx, idem, log)
    restarted = feed.FeedWorker(platform, reg, name="restarted", lease=timedelta(seconds=1))
    await restarted.setup()
    ids = await write_events(platform, ws.id, tickets, rounds=40)
    ticket_of = {i: tickets[n % len(tickets)] for n, i in enumerate(ids)}
    url = platform.settings.effective_database_url
    rnd = random.Random(12)
    for k in range(KILLS):
        target = b"hold idem" if k % 2 else b"hold tx"
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.integration.platform.feed_child",
            url,
            str(tmp_path),
            tx,
            idem,
            str(log),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
        )
        assert child.stdout is not None
        assert (await asyncio.wait_for(child.stdout.readline(), 120)).strip() == b"ready"
        skip = rnd.randint(0, 3)
        while True:
            line = (await asyncio.wait_for(child.stdout.readline(), 60)).strip()
            assert line, "the child stopped on its own"
            if line == target:
                if skip == 0:
                    break
                skip -= 1
        child.kill()  # SIGKILL while that batch is open: no clean-up of any kind
        await child.wait()
    by_children = Counter(w for _, w in await seen_rows(platform, tx))
    assert sum(by_children.values()) > 0, "the killed workers delivered nothing before being killed"

    await run_until([restarted], both(all_seen(platform, tx, ids), log_has(log, ids)), within=120)

    effects = Counter(i for i, _ in await seen_rows(platform, tx))
    assert set(ids) <= set(effects) and max(effects.values()) == 1  # every effect, none twice
    got = logged(log)
    assert set(ids) <= set(got)
    again = sum(n - 1 for n in Counter(got).values())
    assert 0 < again <= KILLS * restarted.partitions * BATCH  # the batches cut by a kill came again
    for t, order in per_ticket(got, ticket_of).items():
        assert order == sorted(order), f"ticket {t} out of order"
    workers = {w for _, w in await seen_rows(platform, tx)}
    assert "restarted" in workers and len(workers) >= 2  # killed workers did part, the restart the rest
