"""One mail size limit for every transport (``HELPLINE_EMAIL_MAX_MESSAGE_BYTES``, 25 MiB): the raw-MIME
webhook takes a 20 MB message and makes its ticket, answers 413 naming the limit one byte over it
and stores nothing, while the API's other routes keep their JSON limit; the SMTP receiver refuses
what is over the same limit."""

from __future__ import annotations

import hashlib
import hmac
import os
from email.message import EmailMessage
from email.utils import make_msgid

import aiosmtplib
import pytest
import sqlalchemy as sa

from helpline.domains.accounts.models import Role
from helpline.domains.channels.email.models import InboundMail
from helpline.domains.channels.email.smtp_server import start_receiver
from helpline.domains.tickets.models import Attachment
from helpline.platform.runtime import build_platform
from tests.conftest import WS, drain, free_port, problem
from tests.integration.email.conftest import inbound_row, mail, make_mailbox

inbound_t = InboundMail.__table__
attachments = Attachment.__table__
SECRET = "whsec-size"
MIB = 1024 * 1024


def sized(to: str, size: int) -> bytes:
    """A plain-text message of exactly ``size`` bytes."""
    head = mail(to=to, body="x\n")
    lines = b"y" * 75 + b"\n"
    return head + (lines * (size // len(lines) + 1))[: size - len(head)]


def signed(raw: bytes) -> dict[str, str]:
    sig = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    return {"X-Helpline-Signature": sig, "Content-Type": "message/rfc822"}


def with_attachment(to: str, data: bytes) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Carla Customer <carla@customer.test>"
    msg["To"] = to
    msg["Subject"] = "Scans of the invoices"
    msg["Message-ID"] = make_msgid(domain="customer.test")
    msg.set_content("The scans are attached.\n")
    msg.add_attachment(data, maintype="application", subtype="pdf", filename="scans.pdf")
    return msg.as_bytes()


async def stored(ws: WS, mailbox_id: int) -> int:
    async with ws.platform.db.read() as conn:
        return int(
            (
                await conn.execute(
                    sa.select(sa.func.count())
                    .select_from(inbound_t)
                    .where(inbound_t.c.mailbox_id == mailbox_id)
                )
            ).scalar_one()
        )


async def test_the_webhook_takes_a_20_mb_message_and_makes_its_ticket(ws: WS) -> None:
    box = await make_mailbox(ws.platform, ws.id, webhook_secret=SECRET)
    raw = with_attachment(box["address"], os.urandom(15_000_000))
    assert 20_000_000 <= len(raw) < ws.platform.settings.email_max_message_bytes
    async with ws.client() as c:
        r = await c.post(f"/mailboxes/{box['id']}/inbound", content=raw, headers=signed(raw))
    assert r.status_code == 202, r.text
    await drain(ws.platform)
    row = await inbound_row(ws.platform, r.json()["id"])
    assert row["state"] == "processed" and row["outcome"] == "new_ticket" and row["size"] == len(raw), row
    async with ws.platform.db.read() as conn:
        [size] = (
            await conn.execute(
                sa.select(attachments.c.size).where(attachments.c.message_id == row["message_id"])
            )
        ).one()
    assert size == 15_000_000


async def test_one_byte_over_the_limit_is_413_naming_it_and_stores_nothing(ws: WS) -> None:
    limit = ws.platform.settings.email_max_message_bytes
    assert limit == 25 * MIB
    box = await make_mailbox(ws.platform, ws.id, webhook_secret=SECRET)
    url = f"/mailboxes/{box['id']}/inbound"
    over = sized(box["address"], limit + 1)
    async with ws.client() as c:
        body = problem(await c.post(url, content=over, headers=signed(over)), 413)
        assert body["errors"] == [{"field": "body", "message": "larger than 26214400 bytes (25 MiB)"}]
        # At the limit the body is read: the signature is checked (a wrong one stores nothing either).
        at = sized(box["address"], limit)
        problem(await c.post(url, content=at, headers={"X-Helpline-Signature": "sha256=" + "0" * 64}), 401)
    assert await stored(ws, box["id"]) == 0
    # Other routes keep the JSON limit, whatever the content type says.
    agent = await ws.person(Role.agent)
    async with ws.client(agent) as c:
        r = await c.post("/tickets", json={"subject": "big", "body": "x" * MIB})
        assert problem(r, 413)["errors"][0]["message"] == "larger than 1048576 bytes (1 MiB)"
        r = await c.post("/tickets", content=b"x" * (2 * MIB), headers={"Content-Type": "message/rfc822"})
        problem(r, 413)


async def test_the_smtp_receiver_refuses_mail_over_the_same_limit(ws: WS) -> None:
    small = build_platform(ws.platform.settings.model_copy(update={"email_max_message_bytes": 64 * 1024}))
    box = await make_mailbox(ws.platform, ws.id)
    port = free_port()
    server = await start_receiver(small, "127.0.0.1", port)
    try:
        with pytest.raises(aiosmtplib.SMTPResponseException) as err:
            await aiosmtplib.send(
                sized(box["address"], 70 * 1024),
                sender="carla@customer.test",
                recipients=[box["address"]],
                hostname="127.0.0.1",
                port=port,
                timeout=10,
            )
        assert err.value.code == 552
        assert await stored(ws, box["id"]) == 0
        await aiosmtplib.send(
            sized(box["address"], 60 * 1024),
            sender="carla@customer.test",
            recipients=[box["address"]],
            hostname="127.0.0.1",
            port=port,
            timeout=10,
        )
        assert await stored(ws, box["id"]) == 1
    finally:
        server.close()
        await server.wait_closed()
        await small.close()
