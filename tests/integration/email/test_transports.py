"""Inbound transports: our SMTP receiver (stores before 250), the HMAC-verified raw-MIME webhook, and
the IMAP fetcher against a real Dovecot (catch-up by UID, flag/move after commit, UIDVALIDITY, a
crash between commit and flag, IDLE, one fetcher per mailbox)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import imaplib
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
import sqlalchemy as sa

from helpline.domains.accounts.models import Role
from helpline.domains.channels.email import imap
from helpline.domains.channels.email.models import InboundMail, Mailbox
from helpline.domains.channels.email.smtp_server import start_receiver
from helpline.domains.tickets.models import Ticket
from helpline.platform.runtime import build_platform
from tests.conftest import WS, drain, free_port, problem
from tests.integration.email.conftest import mail, make_mailbox
from tests.integration.email.dovecot import Dovecot, dovecot  # noqa: F401 - the fixture

inbound_t = InboundMail.__table__
mailboxes_t = Mailbox.__table__
tickets = Ticket.__table__


async def rows_of(ws: WS, mailbox_id: int) -> list[dict[str, Any]]:
    async with ws.platform.db.read() as conn:
        return [
            dict(r)
            for r in (
                await conn.execute(
                    sa.select(inbound_t).where(inbound_t.c.mailbox_id == mailbox_id).order_by(inbound_t.c.id)
                )
            ).mappings()
        ]


async def test_smtp_receiver_stores_before_250_and_refuses_strangers(ws: WS, mailbox: dict[str, Any]) -> None:
    port = free_port()
    server = await start_receiver(ws.platform, "127.0.0.1", port)
    try:
        raw = mail(to=mailbox["address"])
        plus = mailbox["address"].replace("@", "+anything@")
        errors, _ = await aiosmtplib.send(
            raw, sender="carla@customer.test", recipients=[plus], hostname="127.0.0.1", port=port, timeout=10
        )
        assert not errors
        rows = await rows_of(ws, mailbox["id"])  # already there when 250 came back
        assert (
            len(rows) == 1
            and rows[0]["source"] == "smtp"
            and rows[0]["envelope_from"] == "carla@customer.test"
        )
        assert (await ws.platform.storage.get(rows[0]["raw_sha256"])).replace(b"\r\n", b"\n") == raw.replace(
            b"\r\n", b"\n"
        )
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
            await aiosmtplib.send(
                raw,
                sender="x@y.test",
                recipients=["nobody@nowhere.test"],
                hostname="127.0.0.1",
                port=port,
                timeout=10,
            )
        await drain(ws.platform)
        assert (await rows_of(ws, mailbox["id"]))[0]["outcome"] == "new_ticket"
    finally:
        server.close()
        await server.wait_closed()


async def test_smtp_receiver_answers_451_when_it_cannot_store(
    ws: WS, mailbox: dict[str, Any], tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    broken = build_platform(ws.platform.settings.model_copy(update={"files_dir": blocker}))
    port = free_port()
    server = await start_receiver(broken, "127.0.0.1", port)
    try:
        with pytest.raises(aiosmtplib.SMTPDataError) as err:
            await aiosmtplib.send(
                mail(to=mailbox["address"]),
                sender="c@customer.test",
                recipients=[mailbox["address"]],
                hostname="127.0.0.1",
                port=port,
                timeout=10,
            )
        assert err.value.code == 451
        assert await rows_of(ws, mailbox["id"]) == []
    finally:
        server.close()
        await server.wait_closed()
        await broken.close()


async def test_webhook_verifies_hmac_and_is_idempotent(ws: WS) -> None:
    box = await make_mailbox(ws.platform, ws.id, webhook_secret="whsec-test")
    raw = mail(to=box["address"])
    sig = "sha256=" + hmac.new(b"whsec-test", raw, hashlib.sha256).hexdigest()
    async with ws.client() as c:
        url = f"/mailboxes/{box['id']}/inbound"
        problem(await c.post(url, content=raw, headers={"X-Helpline-Signature": "sha256=" + "0" * 64}), 401)
        problem(await c.post(url, content=raw), 401)
        r = await c.post(
            url, content=raw, headers={"X-Helpline-Signature": sig, "Content-Type": "message/rfc822"}
        )
        assert r.status_code == 202 and r.json()["duplicate"] is False, r.text
        r2 = await c.post(
            url, content=raw, headers={"X-Helpline-Signature": sig, "Content-Type": "message/rfc822"}
        )
        assert r2.status_code == 202 and r2.json() == {"id": r.json()["id"], "duplicate": True}
        plain = await make_mailbox(ws.platform, ws.id)
        problem(
            await c.post(
                f"/mailboxes/{plain['id']}/inbound", content=raw, headers={"X-Helpline-Signature": sig}
            ),
            404,
        )
    await drain(ws.platform)
    assert [r["outcome"] for r in await rows_of(ws, box["id"])] == ["new_ticket"]


# --- IMAP against Dovecot ------------------------------------------------------------------------


def imap_admin(dc: Dovecot) -> imaplib.IMAP4:
    c = imaplib.IMAP4(dc.host, dc.port, timeout=10)
    c.login(dc.user, dc.password)
    return c


def append(dc: Dovecot, folder: str, raw: bytes) -> None:
    c = imap_admin(dc)
    try:
        c.append(f'"{folder}"', None, None, raw)
    finally:
        c.logout()


def flags(dc: Dovecot, folder: str) -> list[bytes]:
    c = imap_admin(dc)
    try:
        c.select(f'"{folder}"')
        _typ, data = c.uid("FETCH", "1:*", "(FLAGS)")
        return [d for d in data if isinstance(d, bytes)]
    finally:
        c.logout()


async def imap_mailbox(ws: WS, dc: Dovecot, **extra: Any) -> tuple[dict[str, Any], str]:
    folder = f"T{uuid.uuid4().hex[:10]}"
    c = imap_admin(dc)
    c.create(f'"{folder}"')
    if extra.get("imap_move_to"):
        c.create(f'"{extra["imap_move_to"]}"')
    c.logout()
    box = await make_mailbox(
        ws.platform,
        ws.id,
        imap_host=dc.host,
        imap_port=dc.port,
        imap_tls="none",
        imap_username=dc.user,
        imap_secret=dc.password,
        imap_folder=folder,
        **extra,
    )
    return box, folder


async def reload(ws: WS, mailbox_id: int) -> dict[str, Any]:
    async with ws.platform.db.read() as conn:
        return dict(
            (await conn.execute(sa.select(mailboxes_t).where(mailboxes_t.c.id == mailbox_id)))
            .mappings()
            .one()
        )


async def test_imap_catch_up_flags_after_commit_and_survives_refetch(ws: WS, dovecot: Dovecot) -> None:  # noqa: F811
    box, folder = await imap_mailbox(ws, dovecot)
    raws = [mail(to=box["address"], subject=f"imap {i}") for i in range(3)]
    for raw in raws:
        append(dovecot, folder, raw)
    assert await imap.fetch_once(ws.platform, box) == 3
    box = await reload(ws, box["id"])
    assert box["imap_last_uid"] == 3 and box["imap_uidvalidity"] and box["last_fetch_ok_at"]
    assert all(b"\\Seen" in f for f in flags(dovecot, folder))
    assert await imap.fetch_once(ws.platform, box) == 0
    # A crash after the commit but before the flag and the UID update: fetched again, stored once.
    async with ws.platform.db.transaction() as uow:
        await uow.execute(mailboxes_t.update().where(mailboxes_t.c.id == box["id"]).values(imap_last_uid=1))
    assert await imap.fetch_once(ws.platform, await reload(ws, box["id"])) == 0
    # The folder rebuilt (new UIDVALIDITY): everything is fetched again, nothing is duplicated.
    async with ws.platform.db.transaction() as uow:
        await uow.execute(
            mailboxes_t.update().where(mailboxes_t.c.id == box["id"]).values(imap_uidvalidity=1)
        )
    assert await imap.fetch_once(ws.platform, await reload(ws, box["id"])) == 0
    assert (await reload(ws, box["id"]))["imap_last_uid"] == 3
    await drain(ws.platform)
    rows = await rows_of(ws, box["id"])
    assert len(rows) == 3 and {r["outcome"] for r in rows} == {"new_ticket"}


async def test_imap_moves_after_commit(ws: WS, dovecot: Dovecot) -> None:  # noqa: F811
    done = f"Done{uuid.uuid4().hex[:6]}"
    box, folder = await imap_mailbox(ws, dovecot, imap_move_to=done)
    append(dovecot, folder, mail(to=box["address"]))
    assert await imap.fetch_once(ws.platform, box) == 1
    assert flags(dovecot, folder) == [] and len(flags(dovecot, done)) == 1


async def test_imap_idle_picks_up_new_mail_and_one_fetcher_holds_the_lease(ws: WS, dovecot: Dovecot) -> None:  # noqa: F811
    box, folder = await imap_mailbox(ws, dovecot)
    stop = threading.Event()
    task = asyncio.create_task(imap.run_fetcher(ws.platform, box["id"], stop, owner="first"))
    try:
        for _ in range(100):
            if (await reload(ws, box["id"]))["last_fetch_ok_at"]:
                break
            await asyncio.sleep(0.05)
        assert (await reload(ws, box["id"]))["lease_owner"] == "first"
        assert not await imap.take_lease(ws.platform, box["id"], "second", 60)
        started = time.monotonic()
        await asyncio.to_thread(append, dovecot, folder, mail(to=box["address"], subject="pushed"))
        while not await rows_of(ws, box["id"]):
            assert time.monotonic() - started < 10, "IDLE did not deliver the new message"
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
    assert (await reload(ws, box["id"]))["lease_owner"] is None  # released on the way out
    assert await imap.take_lease(ws.platform, box["id"], "second", 60)


async def test_connection_test_over_the_api(ws: WS, dovecot: Dovecot) -> None:  # noqa: F811
    box, _folder = await imap_mailbox(ws, dovecot)
    admin = await ws.person(Role.admin)
    async with ws.client(admin) as c:
        r = await c.post(f"/mailboxes/{box['id']}/test")
        assert r.status_code == 200 and r.json()["imap"]["state"] == "ok" and r.json()["ok"], r.text
        await c.patch(f"/mailboxes/{box['id']}", json={"imap_secret": "wrong"})
        r = await c.post(f"/mailboxes/{box['id']}/test")
        assert r.json()["imap"]["state"] == "fail" and not r.json()["ok"]
