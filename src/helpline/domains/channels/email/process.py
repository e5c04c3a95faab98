"""Turn stored inbound mail into tickets and messages (the ``email.process`` job).

A job's messages are handled in one transaction, which also marks each ``email_inbound`` row
processed: a crash before the commit leaves the rows ``received`` and the job re-runs; after the
commit the rows say ``processed`` and a re-run does nothing. A message that cannot be parsed, breaks
a limit, or fails for any other reason is marked ``failed`` with the reason and blocks nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa

from helpline.db.base import utcnow
from helpline.domains.channels.email import loops, runs, threading
from helpline.domains.channels.email.mailboxes import own_addresses
from helpline.domains.channels.email.models import InboundMail, InboundState, Mailbox
from helpline.domains.channels.email.parse import Limits, ParsedMail, Rejected, parse
from helpline.domains.channels.email.process_one import (
    ALONE,
    _Alone,
    _apply,
    _cap_reason,
    _cc_addresses,
    _done,
    _finish,
    _mark_failed,
    _sender,
    loop_marker,
)
from helpline.domains.channels.email.render import render, store_parts
from helpline.domains.customers import service as customers
from helpline.platform.db import UnitOfWork

if TYPE_CHECKING:
    from helpline.platform.runtime import Platform

__all__ = ["loop_marker", "process_batch", "render", "requeue_stale"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")


inbound_t = InboundMail.__table__
mailboxes = Mailbox.__table__
CHANNEL = runs.CHANNEL


def limits_for(platform: Platform) -> Limits:
    s = platform.settings
    return Limits(max_bytes=s.email_max_message_bytes, max_parts=s.email_max_parts)


async def requeue_stale(
    platform: Platform, *, older_than: timedelta = timedelta(minutes=10), limit: int = 1000
) -> int:
    """Queue again mail still ``received`` after ``older_than``: its job died with its worker too
    often (a job is dead after 8 attempts) or was lost. Processing is idempotent, so a twin job is
    harmless. Run by the email runtime every few minutes and at start."""
    from helpline.platform import jobs

    async with platform.db.read() as conn:
        ids = [
            int(r[0])
            for r in await conn.execute(
                sa.select(inbound_t.c.id)
                .where(
                    inbound_t.c.state == InboundState.received,
                    inbound_t.c.received_at <= utcnow() - older_than,
                )
                .order_by(inbound_t.c.id)
                .limit(limit)
            )
        ]
    if ids:
        async with platform.db.transaction() as uow:
            for inbound_id in ids:
                await jobs.enqueue(
                    uow, "email.process", {"inbound_id": inbound_id}, dedupe_key=f"email.process:{inbound_id}"
                )
    return len(ids)


#: Messages smaller than this are parsed inline (fast, bounded by the size and part limits); larger
#: ones in a thread, abandoned after ``email_parse_timeout_seconds``.
INLINE_PARSE_BYTES = 256 * 1024


Prepared = tuple[ParsedMail | None, list[dict[str, Any]], tuple[str, str], str]


async def _prepare(platform: Platform, row: dict[str, Any]) -> Prepared:
    """Read, parse and render one stored message and store its parts, before (not inside) the write
    transaction: (mail, files, (text, html), "") or (None, [], ("", ""), why)."""
    try:
        raw = await platform.storage.get(row["raw_sha256"])
    except (FileNotFoundError, ValueError) as exc:
        return None, [], ("", ""), f"raw bytes missing from storage ({type(exc).__name__})"
    timeout = platform.settings.email_parse_timeout_seconds
    try:
        if len(raw) <= INLINE_PARSE_BYTES:
            mail = parse(raw, limits_for(platform))
            files = await store_parts(platform, mail)
            body = render(mail, files)
        else:
            mail = await asyncio.wait_for(asyncio.to_thread(parse, raw, limits_for(platform)), timeout)
            files = await store_parts(platform, mail)
            body = await asyncio.wait_for(asyncio.to_thread(render, mail, files), timeout)
        return mail, files, body, ""
    except Rejected as exc:
        return None, [], ("", ""), str(exc)
    except TimeoutError:
        return None, [], ("", ""), f"parsing took longer than {timeout} s"
    except Exception as exc:  # a parser bug must not block the queue
        log.exception("parsing inbound mail %s failed", row["id"])
        return None, [], ("", ""), f"parser error: {type(exc).__name__}: {exc}"[:500]


async def process_batch(platform: Platform, inbound_ids: list[int]) -> dict[int, str]:
    """Process stored messages; the outcome of each (``failed`` for the failed list). Idempotent.

    One transaction for the batch. Consecutive messages that start tickets are written together
    (``runs``); any other message is handled alone, in order, in a savepoint of its own. A
    message that fails rolls back alone and is marked failed with its reason; the others go on.
    """
    async with platform.db.read() as conn:
        rows = [
            dict(r)
            for r in (
                await conn.execute(
                    sa.select(inbound_t)
                    .where(inbound_t.c.id.in_(inbound_ids), inbound_t.c.state == InboundState.received)
                    .order_by(inbound_t.c.id)
                )
            ).mappings()
        ]
        boxes = {
            int(r["id"]): dict(r)
            for r in (
                await conn.execute(
                    sa.select(mailboxes).where(mailboxes.c.id.in_({r["mailbox_id"] for r in rows}))
                )
            ).mappings()
        }
    prepared = [(row, *await _prepare(platform, row)) for row in rows]
    async with platform.db.transaction() as uow:
        batch = _Batch(platform, uow)
        # Locked (PostgreSQL): a twin job on another worker waits here, then sees them processed.
        locked = await uow.execute(
            sa.select(inbound_t.c.id, inbound_t.c.state)
            .where(inbound_t.c.id.in_([int(r["id"]) for r in rows]))
            .with_for_update()
        )
        states = {int(row[0]): str(row[1]) for row in locked}
        todo: list[runs.Incoming] = []
        for row, mail, files, body, why in prepared:
            inbound_id = int(row["id"])
            if states.get(inbound_id) != InboundState.received:
                batch.outcomes[inbound_id] = states.get(inbound_id, "")  # another worker got there first
            elif mail is None:
                batch.outcomes[inbound_id] = await _mark_failed(uow, inbound_id, why)
            else:
                todo.append(runs.Incoming(row, boxes[int(row["mailbox_id"])], mail, files, body))
        await batch.prefetch(todo)
        for item in todo:
            await batch.add(item)
        await batch.flush()
    return batch.outcomes


class _Batch:
    """The messages of one job, in order, in the caller's transaction. Messages that start tickets
    are gathered into a run and written together; any other message is written alone, after the
    run when it may concern it (it refers to a message of the run or comes from one of its people)."""

    def __init__(self, platform: Platform, uow: UnitOfWork) -> None:
        self.platform, self.uow = platform, uow
        self.outcomes: dict[int, str] = {}
        self.own: dict[int, set[str]] = {}
        self.contacts: dict[int, dict[str, int]] = defaultdict(dict)  # workspace → address → contact
        self.new_tickets: Counter[tuple[int, str]] = Counter()  # (mailbox, sender) → within the hour
        self.gathering = True
        self.run: list[runs.Item] = []

    async def prefetch(self, todo: list[runs.Incoming]) -> None:
        """Our own addresses, the contacts of every sender and recipient, and each sender's new tickets
        within the hour, a query per workspace or mailbox. If that fails every message goes alone."""
        for ws in {m.ws for m in todo}:
            self.own[ws] = await own_addresses(self.uow, ws)
        try:
            async with self.uow.conn.begin_nested():
                for ws in {m.ws for m in todo}:
                    addresses = {a for m in todo if m.ws == ws for a in (_sender(m), *m.mail.to, *m.mail.cc)}
                    self.contacts[ws] = await customers.contacts_by_emails(self.uow, ws, addresses - {""})
                since = utcnow() - timedelta(hours=1)
                for box in {int(m.mailbox["id"]) for m in todo}:
                    senders = {_sender(m) for m in todo if int(m.mailbox["id"]) == box} - {""}
                    for row in await self.uow.execute(
                        sa.select(inbound_t.c.from_address, sa.func.count())
                        .where(
                            inbound_t.c.mailbox_id == box,
                            inbound_t.c.from_address.in_(senders),
                            inbound_t.c.received_at >= since,
                            inbound_t.c.outcome == "new_ticket",
                        )
                        .group_by(inbound_t.c.from_address)
                    ):
                        self.new_tickets[(box, str(row[0]))] = int(row[1])
        except Exception:
            log.exception(
                "reading ahead for %d inbound messages failed; processing them one at a time", len(todo)
            )
            self.gathering = False

    def _plain_new(self, m: runs.Incoming) -> runs.NewMail | None:
        """``m`` as a new ticket when that is certain without reading anything: not ours, not a
        bounce, a sender, and nothing to thread it by. Else None."""
        ws = m.ws
        verdict = loops.classify(
            m.mail,
            envelope_from=m.envelope_from,
            own_addresses=self.own[ws],
            loop_marker=loop_marker(self.platform, ws),
        )
        sender = _sender(m)
        recipients = [*m.mail.to, *m.mail.cc]
        if verdict.ours or verdict.bounce or not sender or threading.has_evidence(m.mail, recipients):
            return None
        cc = _cc_addresses(recipients, sender, self.own[ws])
        return runs.NewMail(m.row, m.mailbox, m.mail, m.files, m.body, sender, cc, verdict)

    def _touches_run(self, m: runs.Incoming) -> bool:
        """Whether deciding ``m`` may depend on the run not yet written: it refers to one of the
        run's messages, or comes from one of the run's senders or copied addresses."""
        refs = {*m.mail.in_reply_to, *m.mail.references}
        sender = _sender(m)
        return any(
            n.mail.message_id in refs
            or sender == n.sender
            or (isinstance(n, runs.NewMail) and sender in n.cc_addresses)
            for n in self.run
        )

    def _replies_to(self, ticket: dict[str, Any]) -> bool:
        return any(isinstance(r, runs.ReplyMail) and r.ticket["id"] == ticket["id"] for r in self.run)

    async def add(self, m: runs.Incoming) -> None:
        if not self.gathering:
            await self._alone(m, gather=False)
            return
        item: runs.Item | None = self._plain_new(m)
        if item is None:
            # Anything else is decided by reading, after the run is written if it may concern it.
            # New tickets and plain replies join the run; bounces, loops, and replies that copy
            # people onto their ticket are written alone.
            if self._touches_run(m):
                await self.flush()
            decided = await self._alone(m, gather=True)
            if isinstance(decided, runs.ReplyMail) and self._replies_to(decided.ticket):
                # A second reply to a ticket of the run: write the run, then decide again on what
                # it wrote (the ticket's status, say).
                await self.flush()
                decided = await self._alone(m, gather=True)
            if decided is ALONE:
                # A bounce's note or a reply copying people: after the run, in order.
                await self.flush()
                decided = await self._alone(m, gather=False)
            if not isinstance(decided, runs.NewMail | runs.ReplyMail):
                return
            item = decided
        if self.run and self.run[0].mailbox["workspace_id"] != m.mailbox["workspace_id"]:
            await self.flush()
        if isinstance(item, runs.ReplyMail):
            self.run.append(item)
            return
        new = item
        key = (int(m.mailbox["id"]), new.sender)
        cap = self.platform.settings.email_new_tickets_per_sender_per_hour
        if self.new_tickets[key] >= cap:
            why = _cap_reason(cap, new.sender)
            await self._guarded(m, lambda: self._done(m, "capped", None, None, why))
            return
        self.run.append(new)
        self.new_tickets[key] += 1

    async def flush(self) -> None:
        """Write the gathered run; if that fails, its messages again one at a time."""
        run, self.run = self.run, []
        if not run:
            return
        ws = int(run[0].mailbox["workspace_id"])
        try:
            async with self.uow.conn.begin_nested():
                written, learned = await runs.write(self.platform, self.uow, run, self.contacts[ws])
                await _finish(
                    self.uow,
                    [
                        _done(self.platform, n.row, n.mail, outcome, w.ticket_id, w.message_id, reason)
                        for n, w in zip(run, written, strict=True)
                        for outcome, reason in [n.outcome]
                    ],
                )
        except Exception:
            log.exception("writing %d messages together failed; writing them one at a time", len(run))
            for n in run:
                if isinstance(n, runs.NewMail):
                    self.new_tickets[(int(n.mailbox["id"]), n.sender)] -= 1
                await self._alone(n, gather=False)
            return
        self.contacts[ws].update(learned)
        for n in run:
            self.outcomes[int(n.row["id"])] = n.outcome[0]

    async def _alone(self, m: runs.Incoming, *, gather: bool) -> runs.Item | _Alone | None:
        """``m`` by itself, reading what it needs. With ``gather``, a new ticket or a plain reply
        is returned unwritten, for the run, and ``ALONE`` for one that must be written alone
        (nothing written yet)."""

        async def work() -> runs.Item | _Alone | None:
            result = await _apply(
                self.platform, self.uow, m, self.own[m.ws], self.contacts[m.ws], gather=gather
            )
            if isinstance(result, runs.NewMail | runs.ReplyMail | _Alone):
                return result
            await self._done(m, *result)
            if result[0] == "new_ticket":
                self.new_tickets[(int(m.mailbox["id"]), _sender(m))] += 1
            return None

        return await self._guarded(m, work)

    async def _done(
        self, m: runs.Incoming, outcome: str, ticket_id: int | None, message_id: int | None, reason: str
    ) -> None:
        await _finish(self.uow, [_done(self.platform, m.row, m.mail, outcome, ticket_id, message_id, reason)])
        self.outcomes[int(m.row["id"])] = outcome

    async def _guarded(self, m: runs.Incoming, work: Callable[[], Awaitable[_T]]) -> _T | None:
        """``work()`` in a savepoint of its own; if it fails, ``m`` is marked failed with the reason."""
        inbound_id = int(m.row["id"])
        try:
            async with self.uow.conn.begin_nested():
                return await work()
        except Rejected as exc:
            self.outcomes[inbound_id] = await _mark_failed(self.uow, inbound_id, str(exc))
        except Exception as exc:
            log.exception("processing inbound mail %s failed", inbound_id)
            self.outcomes[inbound_id] = await _mark_failed(
                self.uow, inbound_id, f"{type(exc).__name__}: {exc}"[:1000]
            )
        return None
