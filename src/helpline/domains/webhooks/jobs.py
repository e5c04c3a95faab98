"""Delivery of outbound webhooks (``webhooks.deliver``). Importing this module registers the job and
the outbox's feed consumer.

One attempt POSTs the delivery's JSON body, signed per Standard Webhooks with the target's current
secret, through the egress guard with a short timeout (``HELPLINE_WEBHOOK_TIMEOUT_SECONDS``). A 2xx
answer delivers it. Anything else is recorded (status code or error, latency, the first 500
characters of the answer) and retried after :data:`BACKOFF`, up to :data:`MAX_ATTEMPTS` attempts;
an address the egress guard refuses fails at once (retrying cannot help until an operator allows
the host). A failed delivery counts towards its target's ``disable_after``; a delivered one resets
the count. A disabled target's pending deliveries fail without being sent.

The job is idempotent: it reloads the delivery, does nothing unless it is pending and due, and
records an attempt only if no other attempt was recorded meanwhile.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import orjson
import sqlalchemy as sa

from helpline.db.base import utcnow
from helpline.domains.automation import signing
from helpline.domains.webhooks import events
from helpline.domains.webhooks.models import WebhookDelivery, WebhookTarget
from helpline.domains.webhooks.service import DELIVER, PRUNE
from helpline.platform import egress, jobs
from helpline.platform.jobs import job_handler

if TYPE_CHECKING:
    from helpline.platform.runtime import Platform

events.install()

targets_t: sa.Table = WebhookTarget.__table__
deliveries_t: sa.Table = WebhookDelivery.__table__

#: Attempts of one delivery before it is marked failed.
MAX_ATTEMPTS = 8
#: Wait before attempt n + 1 after attempt n failed (n = 1 … 7): about a day in all.
BACKOFF: tuple[timedelta, ...] = tuple(timedelta(seconds=s) for s in (10, 60, 300, 1800, 7200, 18000, 36000))
EXCERPT = 500
#: How long a delivered or failed delivery stays in the log.
RETENTION = timedelta(days=30)
#: Deliveries sent at once by one job run.
PARALLEL = 8


def backoff(attempts: int) -> timedelta:
    return BACKOFF[min(attempts, len(BACKOFF)) - 1]


@job_handler(PRUNE)
async def prune(platform: Platform, batch: list[dict[str, Any]]) -> None:
    """Delete delivered and failed deliveries older than :data:`RETENTION`, a chunk at a time."""
    d = deliveries_t.c
    while True:
        old = (
            sa.select(d.id)
            .where(d.status.in_(("delivered", "failed")), d.created_at < utcnow() - RETENTION)
            .limit(2000)
            .scalar_subquery()
        )
        async with platform.db.transaction() as uow:
            gone = await uow.execute(deliveries_t.delete().where(d.id.in_(old)))
        if gone.rowcount < 2000:
            return


@job_handler(DELIVER)
async def deliver(platform: Platform, batch: list[dict[str, Any]]) -> None:
    ids = sorted({int(a["delivery_id"]) for a in batch})
    # One ticket's events go one after the other, in the order they happened (a retry may still
    # overtake: receivers order by ``timestamp``); different tickets and targets in parallel.
    lanes: dict[tuple[int, int | None], list[int]] = defaultdict(list)
    async with platform.db.read() as conn:
        for r in await conn.execute(
            sa.select(deliveries_t.c.id, deliveries_t.c.target_id, deliveries_t.c.ticket_id).where(
                deliveries_t.c.id.in_(ids)
            )
        ):
            lanes[(int(r.target_id), r.ticket_id if r.ticket_id is not None else -int(r.id))].append(
                int(r.id)
            )
    timeout = platform.settings.webhook_timeout_seconds
    gate = asyncio.Semaphore(PARALLEL)
    async with egress.http_client(platform.settings, purpose=egress.HTTP, timeout=timeout) as client:

        async def lane(delivery_ids: list[int]) -> None:
            async with gate:
                queue = sorted(delivery_ids)
                for n, delivery_id in enumerate(queue):
                    retry_at = await attempt(platform, client, delivery_id)
                    if retry_at is not None:
                        # The receiver is failing: the ticket's later events wait for the retry
                        # (in order, and one timeout per run rather than one per event).
                        await _defer(platform, queue[n + 1 :], retry_at)
                        break

        await asyncio.gather(*(lane(v) for v in lanes.values()))


async def attempt(platform: Platform, client: httpx.AsyncClient, delivery_id: int) -> datetime | None:
    """Send one delivery once (when pending and due) and record the outcome; when it failed and
    will be retried, the time of the retry."""
    async with platform.db.read() as conn:
        row = (
            (
                await conn.execute(
                    sa.select(deliveries_t, targets_t.c.url, targets_t.c.secret, targets_t.c.enabled)
                    .join(targets_t, targets_t.c.id == deliveries_t.c.target_id)
                    .where(deliveries_t.c.id == delivery_id)
                )
            )
            .mappings()
            .first()
        )
    now = utcnow()
    if row is None or row["status"] != "pending":
        return None
    if row["next_attempt_at"] is not None and row["next_attempt_at"] > now + timedelta(seconds=1):
        # An early twin of the job: make sure one is queued for the due time (a no-op when it is).
        async with platform.db.transaction() as uow:
            await jobs.enqueue(
                uow,
                DELIVER,
                {"delivery_id": delivery_id},
                dedupe_key=f"{DELIVER}:{delivery_id}",
                delay=row["next_attempt_at"] - now,
            )
        return None
    if not row["enabled"]:
        why = "not sent: the webhook is disabled"
        return await _record(platform, row, None, why, None, "", final=True, sent=False)
    body = orjson.dumps(row["body"])
    headers = signing.headers(row["secret"], f"whd_{delivery_id}", int(time.time()), body)
    headers["user-agent"] = "Helpline-Webhooks/1"
    started = time.perf_counter()
    code: int | None = None
    error: str | None = None
    excerpt = ""
    final = False
    try:
        async with client.stream("POST", row["url"], content=body, headers=headers) as response:
            code = response.status_code
            excerpt = await _excerpt(response)
    except egress.EgressRefused as exc:
        error, final = f"refused by the egress guard: {exc.message}", True
    except httpx.TimeoutException:
        error = f"timed out after {platform.settings.webhook_timeout_seconds:g} s"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    latency = round((time.perf_counter() - started) * 1000)
    if code is not None:
        # The status decides, even when the rest of the answer's body did not arrive in time.
        error = None if 200 <= code < 300 else f"HTTP {code}"
    return await _record(platform, row, code, error, latency, excerpt, final=final)


async def _excerpt(response: httpx.Response) -> str:
    """The first :data:`EXCERPT` characters of the answer, reading no more than needed."""
    got = b""
    async for chunk in response.aiter_bytes():
        got += chunk
        if len(got) >= EXCERPT * 4:
            break
    return got.decode("utf-8", "replace")[:EXCERPT]


async def _record(
    platform: Platform,
    row: Any,
    code: int | None,
    error: str | None,
    latency: int | None,
    excerpt: str,
    *,
    final: bool,
    sent: bool = True,
) -> datetime | None:
    now = utcnow()
    attempts = row["attempts"] + (1 if sent else 0)
    delivered = error is None
    failed = not delivered and (final or attempts >= MAX_ATTEMPTS)
    entry = {"at": now.isoformat(), "status_code": code, "error": error, "latency_ms": latency}
    values: dict[str, Any] = {
        "attempts": attempts,
        "last_status_code": code,
        "last_error": (error or "")[:500] or None,
        "latency_ms": latency,
        "response_excerpt": excerpt or None,
        "log": [*(row["log"] or []), entry][-MAX_ATTEMPTS - 2 :],
    }
    if delivered:
        values |= {"status": "delivered", "delivered_at": now, "next_attempt_at": None}
    elif failed:
        values |= {"status": "failed", "next_attempt_at": None}
    else:
        values["next_attempt_at"] = now + backoff(attempts)
    async with platform.db.transaction() as uow:
        moved = await uow.execute(
            deliveries_t.update()
            .where(
                deliveries_t.c.id == row["id"],
                deliveries_t.c.status == "pending",
                deliveries_t.c.attempts == row["attempts"],
            )
            .values(**values)
        )
        if moved.rowcount != 1:
            return None  # another run recorded this attempt first
        target = targets_t.c
        if delivered:
            await uow.execute(
                targets_t.update().where(target.id == row["target_id"]).values(consecutive_failures=0)
            )
        elif failed and sent:
            await _count_failure(uow, row["target_id"], error or "", now)
        else:
            await jobs.enqueue(
                uow,
                DELIVER,
                {"delivery_id": row["id"]},
                dedupe_key=f"{DELIVER}:{row['id']}",
                delay=backoff(attempts),
            )
            return now + backoff(attempts)
    return None


async def _defer(platform: Platform, delivery_ids: list[int], until: datetime) -> None:
    """Hold pending deliveries until ``until`` (no attempt is counted) and queue their jobs then."""
    if not delivery_ids:
        return
    async with platform.db.transaction() as uow:
        held = await uow.execute(
            deliveries_t.update()
            .where(
                deliveries_t.c.id.in_(delivery_ids),
                deliveries_t.c.status == "pending",
                sa.or_(deliveries_t.c.next_attempt_at.is_(None), deliveries_t.c.next_attempt_at < until),
            )
            .values(next_attempt_at=until)
            .returning(deliveries_t.c.id)
        )
        ids = sorted(map(int, held.scalars()))
        delay = max(until - utcnow(), timedelta(0))
        await jobs.enqueue_many(
            uow, DELIVER, [({"delivery_id": i}, f"{DELIVER}:{i}") for i in ids], delay=delay
        )


async def _count_failure(uow: Any, target_id: int, error: str, now: Any) -> None:
    """One more failed delivery in a row; at ``disable_after`` the target is disabled."""
    t = targets_t.c
    n = (
        await uow.execute(
            targets_t.update()
            .where(t.id == target_id)
            .values(consecutive_failures=t.consecutive_failures + 1)
            .returning(t.consecutive_failures, t.disable_after, t.enabled)
        )
    ).first()
    if n is not None and n.enabled and n.consecutive_failures >= n.disable_after:
        reason = f"disabled after {n.consecutive_failures} failed deliveries in a row (last: {error})"
        await uow.execute(
            targets_t.update()
            .where(t.id == target_id)
            .values(enabled=False, disabled_reason=reason[:500], disabled_at=now, updated_at=now)
        )
