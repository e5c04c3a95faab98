"""Loops, automatic mail and acknowledgements: RFC 3834 both ways, bulk/list mail, our own addresses,
per-sender caps; two workspaces whose auto-replies reach each other stop within 2 messages."""

from __future__ import annotations

import email
import re
import uuid
from email import policy
from typing import Any

import pytest
import sqlalchemy as sa

from helpline.domains.accounts.models import Role
from helpline.domains.channels.email import service
from helpline.domains.channels.email.models import OutboundMail
from tests.conftest import WS, drain
from tests.integration.email.conftest import deliver, mail, make_mailbox

outbox = OutboundMail.__table__


async def ack_box(ws: WS, sink: Any, **extra: Any) -> dict[str, Any]:
    ctl, _ = sink
    return await make_mailbox(
        ws.platform,
        ws.id,
        name="Acme Support",
        smtp_host=ctl.hostname,
        smtp_port=ctl.port,
        smtp_tls="none",
        auto_ack=True,
        **extra,
    )


async def test_acknowledgement_has_the_number_and_never_echoes_the_sender(ws: WS, smtp_sink: Any) -> None:
    box = await ack_box(ws, smtp_sink)
    secret_text = "Please wire 5000 EUR to account XYZ"
    row = await deliver(
        ws.platform,
        box,
        mail(
            to=box["address"],
            subject=f"URGENT {secret_text}",
            body=f"{secret_text}\n<a href=http://phish.test>click</a>",
        ),
    )
    await drain(ws.platform)
    _, sink = smtp_sink
    [(_frm, rcpts, raw)] = sink.messages
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert rcpts == ["carla@customer.test"]
    assert msg["Auto-Submitted"] == "auto-replied" and msg["X-Helpline-Loop"]
    async with ws.platform.db.read() as conn:
        number = (
            await conn.execute(sa.text("SELECT number FROM tickets WHERE id = :i"), {"i": row["ticket_id"]})
        ).scalar()
    assert f"#{number}" in msg["Subject"] and f"#{number}" in msg.get_body(("plain",)).get_content()
    assert secret_text not in raw.decode() and "phish" not in raw.decode()
    # A second message from the same sender within the hour gets no second acknowledgement.
    await deliver(ws.platform, box, mail(to=box["address"], subject="another"))
    await drain(ws.platform)
    assert len(sink.messages) == 1


@pytest.mark.parametrize(
    "headers, envelope",
    [
        ({"Auto-Submitted": "auto-replied"}, "x@y.test"),
        ({"Auto-Submitted": "auto-generated"}, "x@y.test"),
        ({"Precedence": "bulk"}, "x@y.test"),
        ({"Precedence": "junk"}, "x@y.test"),
        ({"List-Id": "<news.customer.test>"}, "x@y.test"),
        ({"X-Loop": "other-helpdesk"}, "x@y.test"),
        ({}, ""),  # empty Return-Path (null envelope sender)
    ],
)
async def test_no_acknowledgement_to_automatic_mail(
    ws: WS, smtp_sink: Any, headers: dict[str, str], envelope: str
) -> None:
    box = await ack_box(ws, smtp_sink)
    row = await deliver(
        ws.platform, box, mail(to=box["address"], headers=headers), source="smtp", envelope_from=envelope
    )
    await drain(ws.platform)
    assert row["outcome"] == "new_ticket"  # kept, but never answered automatically
    assert smtp_sink[1].messages == []


async def test_no_acknowledgement_to_staff_or_noreply(ws: WS, smtp_sink: Any) -> None:
    box = await ack_box(ws, smtp_sink)
    agent = await ws.person(Role.agent)
    await deliver(ws.platform, box, mail(sender=agent.email, to=box["address"]))
    await deliver(ws.platform, box, mail(sender="no-reply@shop.test", to=box["address"]))
    await drain(ws.platform)
    assert smtp_sink[1].messages == []


async def test_mail_from_our_own_addresses_or_with_our_marker_is_dropped(ws: WS, smtp_sink: Any) -> None:
    box = await ack_box(ws, smtp_sink)
    other = await make_mailbox(ws.platform, ws.id)
    row = await deliver(ws.platform, box, mail(sender=other["address"], to=box["address"]))
    assert row["outcome"] == "loop" and row["ticket_id"] is None
    from helpline.domains.channels.email.process import loop_marker

    row = await deliver(
        ws.platform,
        box,
        mail(to=box["address"], headers={"X-Helpline-Loop": loop_marker(ws.platform, ws.id)}),
    )
    assert row["outcome"] == "loop" and row["ticket_id"] is None and row["state"] == "processed"


async def test_new_tickets_per_sender_are_capped(ws: WS, mailbox: dict[str, Any]) -> None:
    ws.platform.settings.email_new_tickets_per_sender_per_hour = 3
    outcomes = [
        (await deliver(ws.platform, mailbox, mail(to=mailbox["address"], subject=f"n{i}")))["outcome"]
        for i in range(5)
    ]
    assert outcomes == ["new_ticket"] * 3 + ["capped"] * 2


@pytest.mark.parametrize("strip", [False, True], ids=["rfc3834-peer", "header-stripping-peer"])
async def test_two_workspaces_auto_replying_to_each_other_stop_within_two_messages(
    make_ws: Any, smtp_sink: Any, strip: bool
) -> None:
    a_ws, b_ws = await make_ws("A"), await make_ws("B")
    tag = uuid.uuid4().hex[:8]
    a = await ack_box(a_ws, smtp_sink, address=f"help@a-{tag}.test")
    b = await ack_box(b_ws, smtp_sink, address=f"help@b-{tag}.test")
    platform = a_ws.platform
    by_address = {a["address"]: a, b["address"]: b}
    # Someone writes to A from B's support address (a forward, a misconfigured form): A acknowledges it to B.
    await service.ingest(
        platform, a, mail(sender=b["address"], to=a["address"], subject="hello"), source="smtp"
    )
    _, sink = smtp_sink
    exchanged = 0
    for _ in range(10):
        await drain(platform)
        batch = sink.messages[exchanged:]
        if not batch:
            break
        for _frm, rcpts, raw in batch:
            exchanged += 1
            if (
                strip
            ):  # a peer that drops every header but the basics (no Auto-Submitted, no X-Loop, no threading)
                msg = email.message_from_bytes(raw, policy=policy.default)
                raw = mail(
                    sender=str(msg["From"]),
                    to=rcpts[0],
                    subject=str(msg["Subject"]),
                    body=msg.get_body(("plain",)).get_content(),
                )
            for rcpt in rcpts:
                await service.ingest(
                    platform, by_address[re.sub(r"\+[^@]*", "", rcpt)], raw, source="smtp", envelope_from=_frm
                )
    assert exchanged <= 2, [m[2][:300] for m in sink.messages]
    async with platform.db.read() as conn:
        queued = (
            await conn.execute(
                sa.select(sa.func.count())
                .select_from(outbox)
                .where(outbox.c.workspace_id.in_([a_ws.id, b_ws.id]), outbox.c.state != "sent")
            )
        ).scalar()
    assert queued == 0


async def test_twin_jobs_on_two_workers_make_one_ticket(ws: WS, mailbox: dict[str, Any]) -> None:
    """The stale-mail sweep may queue a second job for a message still being processed: two workers
    running it at once make one ticket (the inbound row is locked while one of them applies it)."""
    import asyncio

    from helpline.domains.channels.email import service
    from helpline.domains.channels.email.process import process_batch
    from tests.integration.email.conftest import inbound_row, mail

    got = await service.ingest(
        ws.platform, mailbox, mail(to=mailbox["address"], subject="Twins"), source="api"
    )
    outcomes = await asyncio.gather(
        process_batch(ws.platform, [got.id]), process_batch(ws.platform, [got.id])
    )
    row = await inbound_row(ws.platform, got.id)
    assert row["state"] == "processed" and row["ticket_id"], row
    async with ws.platform.db.read() as conn:
        n = (
            await conn.execute(
                sa.text("SELECT count(*) FROM tickets WHERE workspace_id = :w AND subject = 'Twins'"),
                {"w": ws.id},
            )
        ).scalar()
    assert n == 1, (n, outcomes)
