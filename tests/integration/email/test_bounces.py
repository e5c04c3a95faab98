"""Delivery reports mark an address bounced only for mail we really sent to it (SQLite and
PostgreSQL, replies sent to a real SMTP server): a forged report naming many customers marks none of
them and their replies still go out; a genuine one marks exactly its failed recipient, on the ticket
page too; our Message-ID with another address, or another workspace's Message-ID, marks nothing."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

import sqlalchemy as sa

from helpline.domains.accounts.models import Role
from helpline.domains.channels.email.models import AddressStatus
from tests.conftest import PASSWORD, WS, drain
from tests.integration.email.conftest import deliver, dsn, mail, make_mailbox
from tests.integration.email.test_outbound import deliveries, reply, setup
from tests.integration.email.test_ticket_page_email import console

status_t = AddressStatus.__table__


async def bounced(ws: WS) -> dict[str, int]:
    """The workspace's addresses marked bounced, with their counts."""
    async with ws.platform.db.read() as conn:
        rows = await conn.execute(
            sa.select(status_t.c.address, status_t.c.bounces).where(status_t.c.workspace_id == ws.id)
        )
        return {str(a): int(n) for a, n in rows}


async def notes(ws: WS, agent: Any, ticket_id: int) -> list[str]:
    async with ws.client(agent) as c:
        items = (await c.get(f"/tickets/{ticket_id}/messages")).json()["items"]
    return [m["body_text"] for m in items if m["author_kind"] == "system"]


async def test_a_forged_report_naming_twenty_addresses_marks_none(ws: WS, smtp_sink: Any) -> None:
    box, first, agent = await setup(ws, smtp_sink)
    named = ["carla@customer.test", "dan@customer.test"] + [f"c{i}@customer.test" for i in range(18)]
    forged = dsn(
        box["address"],
        dict.fromkeys(named, "failed"),
        original_id="deadbeef@mx.evil.test",
        sender="MAILER-DAEMON@mx.evil.test",
    )
    row = await deliver(ws.platform, box, forged, source="smtp")
    assert await bounced(ws) == {}
    assert row["outcome"] == "bounce" and row["ticket_id"] is None, row
    assert "nothing marked" in row["reason"]
    await reply(ws, agent, first["ticket_id"])
    await drain(ws.platform)
    [item] = await deliveries(ws, agent, first["ticket_id"])
    assert item["recipients"] == {"carla@customer.test": "sent", "dan@customer.test": "sent"}, item
    _, sink = smtp_sink
    assert sorted(sink.messages[-1][1]) == ["carla@customer.test", "dan@customer.test"]
    assert await notes(ws, agent, first["ticket_id"]) == []


async def test_a_genuine_report_marks_exactly_its_failed_recipient(ws: WS, smtp_sink: Any) -> None:
    box, first, agent = await setup(ws, smtp_sink)
    await reply(ws, agent, first["ticket_id"])
    await drain(ws.platform)
    [item] = await deliveries(ws, agent, first["ticket_id"])
    # The report names both recipients: Dan's delivery failed, Carla's went through.
    report = dsn(
        box["address"],
        {"dan@customer.test": "failed", "carla@customer.test": "delivered"},
        original_id=item["rfc_message_id"],
        returned="message/rfc822",
    )
    row = await deliver(ws.platform, box, report, source="smtp")
    assert row["outcome"] == "bounce" and row["ticket_id"] == first["ticket_id"], row
    assert await bounced(ws) == {"dan@customer.test": 1}
    [item] = await deliveries(ws, agent, first["ticket_id"])
    assert item["recipients"]["carla@customer.test"] == "sent"
    assert item["recipients"]["dan@customer.test"].startswith("failed: bounced"), item
    [note] = await notes(ws, agent, first["ticket_id"])
    assert "dan@customer.test" in note and "carla" not in note
    async with AsyncExitStack() as stack:
        page, _ = await console(ws, await ws.person(Role.agent, password=PASSWORD), stack)
        html = (await page.get(f"/tickets/{first['ticket_id']}")).text
    assert "dan@customer.test: failed: bounced" in html and "carla@customer.test: sent" in html


async def test_our_message_id_with_an_address_we_did_not_send_to_marks_nothing(
    ws: WS, smtp_sink: Any
) -> None:
    box, first, agent = await setup(ws, smtp_sink)
    await reply(ws, agent, first["ticket_id"])
    await drain(ws.platform)
    [item] = await deliveries(ws, agent, first["ticket_id"])
    report = dsn(box["address"], {"eve@customer.test": "failed"}, original_id=item["rfc_message_id"])
    row = await deliver(ws.platform, box, report, source="smtp")
    assert row["outcome"] == "bounce" and row["ticket_id"] is None and "nothing marked" in row["reason"], row
    assert await bounced(ws) == {}
    [after] = await deliveries(ws, agent, first["ticket_id"])
    assert after["recipients"] == item["recipients"]
    assert await notes(ws, agent, first["ticket_id"]) == []


async def test_a_report_on_another_workspaces_mail_marks_nothing_in_either(
    make_ws: Any, smtp_sink: Any
) -> None:
    a, b = await make_ws("A"), await make_ws("B")
    _box_a, first, agent_a = await setup(a, smtp_sink)
    await reply(a, agent_a, first["ticket_id"])
    await drain(a.platform)
    [sent] = await deliveries(a, agent_a, first["ticket_id"])
    box_b = await make_mailbox(b.platform, b.id)
    # B knows the customer too: the report could otherwise pass for B's own mail to them.
    await deliver(b.platform, box_b, mail(to=box_b["address"]))
    report = dsn(box_b["address"], {"dan@customer.test": "failed"}, original_id=sent["rfc_message_id"])
    row = await deliver(b.platform, box_b, report, source="smtp")
    assert row["outcome"] == "bounce" and row["ticket_id"] is None, row
    assert await bounced(a) == {} and await bounced(b) == {}
    [after] = await deliveries(a, agent_a, first["ticket_id"])
    assert after["recipients"] == {"carla@customer.test": "sent", "dan@customer.test": "sent"}
