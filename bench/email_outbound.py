"""Outbound email throughput: agent replies already queued in the outbox, sent by the ``email.send``
job to a local SMTP sink (aiosmtpd in this process's event loop), one connection per batch.

Prints a JSON line: msg/s and CPU seconds for the send stage. Target: >= 100 msg/s.

    .venv/bin/python bench/email_outbound.py --messages 1000
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from aiosmtpd.smtp import SMTP
from common import emit, log

import helpline.app  # noqa: F401 - importing the app registers every job handler
from helpline.db.base import utcnow
from helpline.db.migrate import upgrade
from helpline.domains.accounts import service as accounts
from helpline.domains.accounts.models import Role
from helpline.domains.channels.email import mailboxes, outbound
from helpline.domains.channels.email.models import EmailThread, OutboundMail
from helpline.domains.tickets import service as tickets
from helpline.domains.tickets.models import Message
from helpline.platform.jobs import JobRunner
from helpline.platform.runtime import build_platform
from helpline.settings import Settings


class Sink:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def run(n: int, root: Path) -> None:
    url = f"sqlite+aiosqlite:///{root / 'bench.db'}"
    await asyncio.to_thread(upgrade, url)
    platform = build_platform(
        Settings(
            database_url=url,
            var_dir=root,
            run_jobs_in_process=False,
            secret_key="bench-secret-key-0123456789abcdefghij",
            egress_allow="127.0.0.1",  # the SMTP sink listens on loopback, which egress refuses by default
        )
    )
    sink, port = Sink(), free_port()
    server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(sink, hostname="bench"), "127.0.0.1", port
    )
    from helpline.domains.customers import service as customers

    messages, threads = Message.__table__, EmailThread.__table__
    async with platform.db.transaction() as uow:
        ws = await accounts.create_workspace(uow, "Bench", f"bench-{uuid.uuid4().hex[:6]}")
        agent = await accounts.create_user(
            uow, ws, email="agent@bench.example", role=Role.agent, name="Agent", password=None, group_names=[]
        )
        box_id = await mailboxes.create_mailbox(
            uow,
            ws,
            {
                "name": "Support",
                "address": "support@bench.example",
                "smtp_host": "127.0.0.1",
                "smtp_port": port,
                "smtp_tls": "none",
            },
        )
    log(f"creating {n} tickets with an agent reply each")
    async with platform.db.transaction() as uow:
        for i in range(n):
            contact = await customers.find_or_create_contact(uow, ws, email=f"c{i}@customer.example")
            ticket_id, _, _ = await tickets.create_ticket_from_contact(
                uow,
                platform.pubsub,
                workspace_id=ws,
                contact_id=contact,
                subject=f"Order {i}",
                body_text="Where is it?",
                body_html="<p>Where is it?</p>",
                channel="email",
            )
            await uow.execute(
                threads.insert().values(ticket_id=ticket_id, mailbox_id=box_id, workspace_id=ws)
            )
            reply = await uow.execute(
                messages.insert()
                .values(
                    workspace_id=ws,
                    ticket_id=ticket_id,
                    public=True,
                    author_kind="agent",
                    author_user_id=agent,
                    channel="api",
                    body_text=f"It ships tomorrow ({i}).",
                    body_html=f"<p>It ships tomorrow ({i}).</p>",
                    created_at=utcnow(),
                )
                .returning(messages.c.id)
            )
            # Queued as the email channel does when an agent writes (channels/email/adapter.py).
            ticket = {"id": ticket_id, "workspace_id": ws, "requester_id": contact}
            await outbound.queue_reply(platform, uow, int(reply.scalar_one()), ticket, box_id)
    runner = JobRunner(platform)
    # Leave the search jobs of the set-up out of the measurement.
    from helpline.platform.models import Job

    jobs = Job.__table__
    async with platform.db.transaction() as uow:
        await uow.execute(jobs.delete().where(jobs.c.kind != "email.send"))
    cpu0, t0 = time.process_time(), time.perf_counter()
    await runner.drain()
    t1, cpu1 = time.perf_counter(), time.process_time()
    async with platform.db.read() as conn:
        import sqlalchemy as sa

        out = OutboundMail.__table__
        sent = (
            await conn.execute(sa.select(sa.func.count()).select_from(out).where(out.c.state == "sent"))
        ).scalar()
    server.close()
    await platform.close()
    assert sent == n == sink.count, (sent, sink.count)
    emit(
        bench="email_outbound",
        db="sqlite",
        messages=n,
        stage="send",
        msg_per_s=round(n / (t1 - t0), 1),
        cpu_s=round(cpu1 - cpu0, 2),
        msg_per_cpu_s=round(n / (cpu1 - cpu0), 1),
        target_msg_per_s=100,
        note="sink in the same process: its CPU is included",
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--messages", type=int, default=1000)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="helpline-bench-email-out-"))
    try:
        asyncio.run(run(args.messages, root))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
