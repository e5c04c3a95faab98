"""The kill test: 1,000 messages ingested while the ingesting process is SIGKILLed at random moments
and restarted: 0 lost, 0 duplicated."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path

import pytest
import sqlalchemy as sa

from helpline.db.migrate import upgrade
from helpline.domains.accounts import service as accounts
from helpline.domains.channels.email import mailboxes
from helpline.platform.db import Database

N = 1000
ROOT = Path(__file__).resolve().parents[3]


def spool_message(i: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Customer {i % 97} <c{i % 97}@customer.test>"
    msg["To"] = "support@kill.test"
    msg["Subject"] = f"kill test {i:04d}"
    msg["Message-ID"] = f"<kill-{i}@customer.test>"
    msg.set_content(f"message number {i}\n")
    if i % 10 == 0:
        msg.add_attachment(
            f"attachment {i}".encode(), maintype="application", subtype="octet-stream", filename=f"a{i}.bin"
        )
    return msg.as_bytes()


@pytest.mark.slow
async def test_sigkill_at_random_moments_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'kill.db'}"
    await asyncio.to_thread(upgrade, url)
    db = Database(url)
    async with db.transaction() as uow:
        ws = await accounts.create_workspace(uow, "Kill", "kill-ws")
        mailbox_id = await mailboxes.create_mailbox(
            uow, ws, {"name": "Support", "address": "support@kill.test"}
        )
    spool, done, files = tmp_path / "spool", tmp_path / "done", tmp_path / "files"
    for d in (spool, done, files):
        d.mkdir()
    for i in range(N):
        (spool / f"{i:04d}.eml").write_bytes(spool_message(i))
    cmd = [
        sys.executable,
        "-m",
        "tests.integration.email.kill_child",
        url,
        str(spool),
        str(done),
        str(files),
        str(mailbox_id),
    ]
    env = {**os.environ, "HELPLINE_EMAIL_NEW_TICKETS_PER_SENDER_PER_HOUR": "1000000"}
    rnd = random.Random(4)
    kills = 0
    started = time.monotonic()
    while kills < 12:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env)  # noqa: ASYNC220
        try:
            proc.wait(timeout=rnd.uniform(1.2, 3.0))
            break  # finished on its own before this kill
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
    else:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env)  # noqa: ASYNC220
    assert proc.wait(timeout=120) == 0
    elapsed = time.monotonic() - started
    async with db.read() as conn:
        rows = (
            await conn.execute(
                sa.text(
                    "SELECT message_key, state, outcome, ticket_id FROM email_inbound WHERE workspace_id = :w"
                ),
                {"w": ws},
            )
        ).all()
        tickets = (
            await conn.execute(
                sa.text("SELECT subject, COUNT(*) FROM tickets WHERE workspace_id = :w GROUP BY subject"),
                {"w": ws},
            )
        ).all()
        n_messages = (
            await conn.execute(sa.text("SELECT COUNT(*) FROM messages WHERE workspace_id = :w"), {"w": ws})
        ).scalar()
        n_att = (
            await conn.execute(sa.text("SELECT COUNT(*) FROM attachments WHERE workspace_id = :w"), {"w": ws})
        ).scalar()
    await db.dispose()
    assert sorted(r[0] for r in rows) == sorted(f"kill-{i}@customer.test" for i in range(N))  # 0 lost
    assert {(r[1], r[2]) for r in rows} == {("processed", "new_ticket")}
    assert len(tickets) == N and all(n == 1 for _, n in tickets)  # 0 duplicated
    assert n_messages == N and n_att == N // 10
    assert not list(spool.iterdir())
    print(f"kill test: {N} messages, {kills} SIGKILLs, {elapsed:.1f} s: 0 lost, 0 duplicated")
