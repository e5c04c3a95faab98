"""Agent replies go out as real email through the durable outbox, to a real SMTP server (aiosmtpd):
threading headers, attachments, DKIM; delivery state per message; one refused recipient does not
block the others; temporary failures retry with backoff; failed sends can be retried."""

from __future__ import annotations

import asyncio
import email
import subprocess
import sys
from email import policy
from pathlib import Path
from typing import Any

import dkim
import sqlalchemy as sa

from helpline.domains.accounts.models import Role
from helpline.domains.channels.email import threading
from helpline.domains.channels.email.models import OutboundMail
from helpline.domains.channels.email.send import send_job
from tests.conftest import WS, drain
from tests.integration.email.conftest import deliver, dsn, mail, make_mailbox

outbox = OutboundMail.__table__


async def setup(ws: WS, sink: Any, **extra: Any) -> tuple[dict[str, Any], dict[str, Any], Any]:
    ctl, _ = sink
    box = await make_mailbox(
        ws.platform,
        ws.id,
        name="Acme Support",
        smtp_host=ctl.hostname,
        smtp_port=ctl.port,
        smtp_tls="none",
        **extra,
    )
    first = await deliver(
        ws.platform,
        box,
        mail(to=box["address"], message_id="<first@customer.test>", cc="Dan <dan@customer.test>"),
    )
    agent = await ws.person(Role.agent)
    return box, first, agent


async def reply(ws: WS, agent: Any, ticket_id: int, body: str = "Try turning it off.", **kw: Any) -> int:
    async with ws.client(agent) as c:
        r = await c.post(f"/tickets/{ticket_id}/messages", json={"body": body, "public": True, **kw})
        assert r.status_code == 201, r.text
        return int(r.json()["id"])


async def deliveries(ws: WS, agent: Any, ticket_id: int) -> list[dict[str, Any]]:
    async with ws.client(agent) as c:
        r = await c.get(f"/tickets/{ticket_id}/email-deliveries")
        assert r.status_code == 200, r.text
        return list(r.json()["items"])


async def test_agent_reply_goes_out_with_threading_headers_and_attachments(ws: WS, smtp_sink: Any) -> None:
    box, first, agent = await setup(ws, smtp_sink)
    async with ws.client(agent) as c:
        up = await c.post("/uploads", files={"file": ("report.pdf", b"%PDF-1.4 report", "application/pdf")})
        token = up.json()["token"]
    await reply(ws, agent, first["ticket_id"], attachments=[token])
    # An internal note never goes out.
    async with ws.client(agent) as c:
        await c.post(f"/tickets/{first['ticket_id']}/messages", json={"body": "internal", "public": False})
    await drain(ws.platform)
    _, sink = smtp_sink
    assert len(sink.messages) == 1
    mail_from, rcpts, raw = sink.messages[0]
    assert mail_from == box["address"] and sorted(rcpts) == ["carla@customer.test", "dan@customer.test"]
    msg = email.message_from_bytes(raw, policy=policy.default)
    [item] = await deliveries(ws, agent, first["ticket_id"])
    assert item["status"] == "sent" and item["recipients"] == {
        "carla@customer.test": "sent",
        "dan@customer.test": "sent",
    }
    assert msg["Message-ID"] == f"<{item['rfc_message_id']}>"
    assert msg["In-Reply-To"] == "<first@customer.test>" and "<first@customer.test>" in msg["References"]
    assert msg["To"] == "carla@customer.test" and msg["Cc"] == "dan@customer.test"
    assert msg["Reply-To"] == threading.reply_address(
        ws.platform.settings.ensure_secret_key(), ws.id, first["ticket_id"], box["address"]
    )
    assert "Acme Support" in msg["From"] and "[#" in msg["Subject"]
    assert "Try turning it off." in msg.get_body(("plain",)).get_content()
    [att] = list(msg.iter_attachments())
    assert att.get_filename() == "report.pdf" and att.get_content() == b"%PDF-1.4 report"
    # Sending again (a job that ran twice) sends nothing more.
    await send_job(ws.platform, [{"outbound_id": item["id"]}])
    assert len(sink.messages) == 1


async def test_one_refused_recipient_does_not_block_the_others(ws: WS, smtp_sink: Any) -> None:
    _, sink = smtp_sink
    sink.refuse["dan@customer.test"] = "550 5.1.1 no such user"
    _box, first, agent = await setup(ws, smtp_sink)
    await reply(ws, agent, first["ticket_id"])
    await drain(ws.platform)
    assert [m[1] for m in sink.messages] == [["carla@customer.test"]]
    [item] = await deliveries(ws, agent, first["ticket_id"])
    assert item["state"] == "sent" and item["recipients"]["carla@customer.test"] == "sent"
    assert item["recipients"]["dan@customer.test"].startswith("failed: 550")


async def test_temporary_failures_retry_with_backoff_then_fail_and_can_be_retried(
    ws: WS, smtp_sink: Any
) -> None:
    _, sink = smtp_sink
    sink.down = True
    _box, first, agent = await setup(ws, smtp_sink)
    await reply(ws, agent, first["ticket_id"])
    await drain(ws.platform)
    [item] = await deliveries(ws, agent, first["ticket_id"])
    assert item["status"] == "retrying 1" and item["next_attempt_at"], item
    for _ in range(ws.platform.settings.email_send_max_attempts - 1):  # the backoff's jobs, run now
        await send_job(ws.platform, [{"outbound_id": item["id"]}])
    [item] = await deliveries(ws, agent, first["ticket_id"])
    assert item["state"] == "failed" and item["status"].startswith("failed: gave up after 8 attempts"), item
    sink.down = False
    async with ws.client(agent) as c:
        r = await c.post(f"/email/outbound/{item['id']}/retry")
        assert r.status_code == 202, r.text
        assert (await c.post(f"/email/outbound/{item['id']}/retry")).status_code == 409
    await drain(ws.platform)
    [item] = await deliveries(ws, agent, first["ticket_id"])
    assert item["status"] == "sent" and len(sink.messages) == 1


async def test_dkim_signature_verifies(ws: WS, smtp_sink: Any, tmp_path: Path) -> None:
    await asyncio.to_thread(
        subprocess.run,
        [str(Path(sys.executable).parent / "dknewkey"), str(tmp_path / "sel1")],
        check=True,
        capture_output=True,
    )
    key = (tmp_path / "sel1.key").read_text()
    txt = (tmp_path / "sel1.dns").read_bytes()
    _box, first, agent = await setup(
        ws, smtp_sink, dkim_domain="acme.test", dkim_selector="sel1", dkim_private_key=key
    )
    await reply(ws, agent, first["ticket_id"])
    await drain(ws.platform)
    _, sink = smtp_sink
    raw = sink.messages[0][2]
    assert raw.startswith(b"DKIM-Signature:")
    assert dkim.verify(raw, dnsfunc=lambda name, timeout=5: txt)
    assert not dkim.verify(
        raw.replace(b"Try turning it off.", b"Send money now."), dnsfunc=lambda name, timeout=5: txt
    )


async def test_bounced_addresses_are_held_back(ws: WS, smtp_sink: Any) -> None:
    box, first, agent = await setup(ws, smtp_sink)
    await reply(ws, agent, first["ticket_id"])
    await drain(ws.platform)
    [item] = await deliveries(ws, agent, first["ticket_id"])
    report = dsn(box["address"], {"dan@customer.test": "failed"}, original_id=item["rfc_message_id"])
    row = await deliver(ws.platform, box, report, source="smtp")
    assert row["outcome"] == "bounce" and row["ticket_id"] == first["ticket_id"], row  # never a new ticket
    [item] = await deliveries(ws, agent, first["ticket_id"])
    assert item["recipients"]["dan@customer.test"].startswith("failed: bounced")
    async with ws.client(agent) as c:
        msgs = (await c.get(f"/tickets/{first['ticket_id']}/messages")).json()["items"]
    note = msgs[-1]
    assert not note["public"] and "dan@customer.test" in note["body_text"] and "5.1.1" in note["body_text"]
    await reply(ws, agent, first["ticket_id"], body="Second answer")
    await drain(ws.platform)
    latest = (await deliveries(ws, agent, first["ticket_id"]))[-1]
    assert latest["recipients"]["carla@customer.test"] == "sent"
    assert latest["recipients"]["dan@customer.test"].startswith("failed: bounced before")
    async with ws.platform.db.read() as conn:
        n = (
            await conn.execute(
                sa.select(sa.func.count()).select_from(outbox).where(outbox.c.workspace_id == ws.id)
            )
        ).scalar()
    assert n == 2
