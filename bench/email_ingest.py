"""Email ingest throughput on SQLite: store raw + queue (what a transport does before answering),
then process (parse, contact, ticket, message, attachments), one process, one core.

Prints JSON lines: ingest msg/s, process msg/s, end-to-end msg/s, and the CPU seconds used. Target:
>= 200 msg/s per core end to end.

    .venv/bin/python bench/email_ingest.py --messages 2000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
import uuid
from email.message import EmailMessage
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sqlalchemy as sa
from common import emit, log

import helpline.app  # noqa: F401 - importing the app registers every job handler
from helpline.db.migrate import upgrade
from helpline.domains.accounts import service as accounts
from helpline.domains.channels.email import mailboxes, service
from helpline.domains.channels.email.models import InboundMail
from helpline.platform.jobs import JobRunner
from helpline.platform.runtime import build_platform
from helpline.settings import Settings


def message(i: int, senders: int, replies: float = 0.0) -> bytes:
    """Message ``i``; with ``replies`` > 0 that share of messages answer the sender's previous one
    (In-Reply-To/References a Message-ID of theirs we stored: threaded onto that ticket)."""
    msg = EmailMessage()
    msg["From"] = f"Customer {i % senders} <c{i % senders}@customer.example>"
    msg["To"] = "support@bench.example"
    msg["Subject"] = f"Order {i} has not arrived"
    msg["Message-ID"] = f"<bench-{i}@customer.example>"
    if i >= senders and (i * 7919 % 100) < replies * 100:
        earlier = f"<bench-{i - senders}@customer.example>"
        msg.replace_header("Subject", f"Re: Order {i - senders} has not arrived")
        msg["In-Reply-To"], msg["References"] = earlier, earlier
    text = f"Hello,\n\nmy order {i} has not arrived yet. Can you check the tracking?\n\nThanks\n"
    msg.set_content(text)
    msg.add_alternative(f"<p>Hello,</p><p>my order <b>{i}</b> has not arrived yet.</p>", subtype="html")
    if i % 10 == 0:
        msg.add_attachment(
            os.urandom(2000), maintype="application", subtype="pdf", filename=f"invoice-{i}.pdf"
        )
    return msg.as_bytes()


async def run(n: int, senders: int, replies: float, root: Path) -> None:
    url = f"sqlite+aiosqlite:///{root / 'bench.db'}"
    await asyncio.to_thread(upgrade, url)
    settings = Settings(
        database_url=url,
        var_dir=root,
        secret_key="bench-secret-key-0123456789abcdefghij",
        run_jobs_in_process=False,
        email_new_tickets_per_sender_per_hour=10**9,
    )
    platform = build_platform(settings)
    async with platform.db.transaction() as uow:
        ws = await accounts.create_workspace(uow, "Bench", f"bench-{uuid.uuid4().hex[:6]}")
        box_id = await mailboxes.create_mailbox(
            uow, ws, {"name": "Support", "address": "support@bench.example"}
        )
    box = await service.mailbox_by_id(platform, box_id)
    assert box is not None
    raws = [message(i, senders, replies) for i in range(n)]
    log(f"{n} messages, {sum(map(len, raws)) / n:.0f} bytes on average")
    cpu0, t0 = time.process_time(), time.perf_counter()
    for raw in raws:
        await service.ingest(platform, box, raw, source="smtp")
    t1, cpu1 = time.perf_counter(), time.process_time()
    await JobRunner(platform).drain()
    t2, cpu2 = time.perf_counter(), time.process_time()
    async with platform.db.read() as conn:
        outcomes = {
            str(r[0]): int(r[1])
            for r in await conn.execute(
                sa.select(InboundMail.outcome, sa.func.count()).group_by(InboundMail.outcome)
            )
        }
    await platform.close()
    common = {"bench": "email_ingest", "db": "sqlite", "messages": n, "replies": replies}
    emit(
        **{
            **common,
            "stage": "store_and_queue",
            "msg_per_s": round(n / (t1 - t0), 1),
            "cpu_s": round(cpu1 - cpu0, 2),
        }
    )
    emit(
        **{**common, "stage": "process", "msg_per_s": round(n / (t2 - t1), 1), "cpu_s": round(cpu2 - cpu1, 2)}
    )
    emit(
        **{
            **common,
            "stage": "end_to_end",
            "msg_per_s": round(n / (t2 - t0), 1),
            "msg_per_cpu_s": round(n / (cpu2 - cpu0), 1),
            "outcomes": outcomes,
            "target_msg_per_s_per_core": 200,
        }
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--senders", type=int, default=500, help="distinct From addresses")
    ap.add_argument(
        "--replies", type=float, default=0.3, help="share of messages that reply to the sender's earlier one"
    )
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="helpline-bench-email-"))
    try:
        asyncio.run(run(args.messages, args.senders, args.replies, root))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
