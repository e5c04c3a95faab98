"""The feed's lag where operators look: ``helpline check`` (run as a user runs it) and ``GET /metrics``
(Prometheus text, behind ``HELPLINE_METRICS_TOKEN``: 404 unset, 401 without the token)."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import httpx

from helpline.db.base import utcnow
from helpline.platform import feed
from tests.integration.platform.feedkit import (
    event,
    events,
    make_tickets,
    name,
    registry,
    run_until,
    write_events,
)

HELPLINE = Path(sys.executable).parent / "helpline"
TOKEN = "metrics-token-0123456789-abcdefghijklmnop"


async def noop(batch: feed.Batch) -> None:
    return None


async def lagging_setup(platform, ws) -> tuple[str, str, str]:
    """Three consumers: one whose cursors exist but no worker runs it (behind, its oldest event 10
    minutes old), one that fails, one caught up."""
    tickets = await make_tickets(ws, 2)
    lagging, failing, good = name("lagging"), name("failing"), name("good")
    idle = registry()
    idle.consumer("events", lagging, noop)
    await feed.FeedWorker(platform, idle).setup()
    reg = registry()
    tried: list[int] = []
    got: list[int] = []

    async def refuse(batch: feed.Batch) -> None:
        tried.extend(int(r["id"]) for r in batch.rows)
        raise RuntimeError("webhook answered 503")

    async def keep(batch: feed.Batch) -> None:
        got.extend(int(r["id"]) for r in batch.rows)

    reg.consumer("events", failing, refuse)
    reg.consumer("events", good, keep)
    worker = feed.FeedWorker(platform, reg, partitions=16, retry=lambda n: timedelta(hours=1))
    await worker.setup()
    async with platform.db.transaction() as uow:
        await uow.execute(
            events.insert().values(**event(ws.id, tickets[0], 0, at=utcnow() - timedelta(minutes=10)))
        )
    ids = await write_events(platform, ws.id, tickets, rounds=2)

    async def delivered_and_failed() -> bool:  # rounds may find rows held back on PostgreSQL
        return set(ids) <= set(got) and set(ids) <= set(tried)

    await run_until([worker], delivered_and_failed)
    return lagging, failing, good


def check_lines(url: str, var: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPLINE_")}
    env.update(HELPLINE_DATABASE_URL=url, HELPLINE_VAR_DIR=str(var), COLUMNS="400")
    result = subprocess.run(
        [str(HELPLINE), "check"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return {
        m.group(1): line for line in result.stdout.splitlines() if (m := re.search(r"feed (test\.\S+)", line))
    }


async def test_helpline_check_shows_each_consumer_behind_stale_and_failing(platform, ws, tmp_path):
    lagging, failing, good = await lagging_setup(platform, ws)
    async with platform.db.read() as conn:
        lags = {lag.consumer: lag for lag in await feed.consumer_lag(conn)}
    assert lags[lagging].behind >= 5 and (lags[lagging].oldest_seconds or 0) >= 600
    assert lags[failing].failing >= 1 and lags[failing].attempts == 1 and lags[failing].behind >= 5
    assert lags[good].behind == 0 and lags[good].delivered >= 5 and lags[good].failing == 0

    lines = await asyncio.to_thread(check_lines, platform.settings.effective_database_url, tmp_path)
    assert "warn" in lines[lagging] and "behind" in lines[lagging] and "min old" in lines[lagging]
    assert "helpline worker" in lines[lagging]
    assert "warn" in lines[failing] and "webhook answered 503" in lines[failing]
    assert "ok" in lines[good] and "0 behind" in lines[good]


def metrics_of(text: str) -> dict[tuple[str, str], float]:
    """``(metric, consumer label) -> value`` of the exposition text."""
    out = {}
    for line in text.splitlines():
        m = re.match(r'(\w+)\{consumer="([^"]*)",source="events"\} (\S+)$', line)
        if m:
            out[(m.group(1), m.group(2))] = float(m.group(3))
    return out


async def test_metrics_need_the_token_and_show_the_lag(platform, ws):
    lagging, failing, good = await lagging_setup(platform, ws)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=ws.app), base_url="http://testserver"
    ) as c:
        platform.settings.metrics_token = ""
        assert (await c.get("/metrics")).status_code == 404  # not configured: not there at all
        platform.settings.metrics_token = TOKEN
        r = await c.get("/metrics")
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
        assert "helpline_feed" not in r.text
        for wrong in ("Bearer nope", f"Basic {TOKEN}", f"Bearer {TOKEN}x", TOKEN):
            assert (await c.get("/metrics", headers={"Authorization": wrong})).status_code == 401, wrong
        r = await c.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "# TYPE helpline_feed_delivered_total counter" in r.text
    m = metrics_of(r.text)
    assert m[("helpline_feed_behind_events", lagging)] >= 5
    assert m[("helpline_feed_oldest_undelivered_seconds", lagging)] >= 600
    assert m[("helpline_feed_failing_partitions", failing)] >= 1
    assert m[("helpline_feed_attempts", failing)] == 1
    assert m[("helpline_feed_delivered_total", good)] >= 5
    assert m[("helpline_feed_behind_events", good)] == 0
    assert re.search(r'^helpline_jobs\{state="queued"\} \d+$', r.text, re.M)
