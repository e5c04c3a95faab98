"""Ticket events reach a target signed and as documented, once; failures are retried with backoff
and logged; repeated failures disable the target."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
import time_machine

from helpline.domains.tickets.models import Event
from helpline.domains.webhooks import events as outbox_events
from helpline.domains.webhooks.jobs import BACKOFF, MAX_ATTEMPTS
from tests.conftest import WS, drain
from tests.integration.webhooks.helpers import add_target, allow, deliveries
from tests.integration.webhooks.receiver import Receiver


async def test_ticket_events_arrive_signed_as_documented_and_once(ws: WS, receiver: Receiver) -> None:
    allow(ws, receiver)
    admin, customer = await ws.person("admin"), await ws.person("customer")
    target = await add_target(ws, admin, receiver.url, receiver=receiver)
    async with ws.client(customer) as c:
        r = await c.post("/tickets", json={"subject": "Printer on fire", "body": "Help!"})
        assert r.status_code == 201, r.text
        tid = r.json()["id"]
    await drain(ws.platform)
    async with ws.client(admin) as c:
        assert (await c.patch(f"/tickets/{tid}", json={"priority": "high"})).status_code == 200
        r = await c.post(f"/tickets/{tid}/messages", json={"body": "Secret note", "public": False})
        assert r.status_code == 201, r.text
        r = await c.post(f"/tickets/{tid}/messages", json={"body": "On our way", "public": True})
        assert r.status_code == 201, r.text
        assert (await c.patch(f"/tickets/{tid}", json={"status": "solved"})).status_code == 200
    await drain(ws.platform)

    assert receiver.got and all(g.verified for g in receiver.got), [g.headers for g in receiver.got]
    for g in receiver.got:
        body = g.json
        assert set(body) == {"type", "timestamp", "data"}
        assert body["timestamp"].endswith("Z") and datetime.fromisoformat(body["timestamp"]).tzinfo
        assert body["data"]["workspace_id"] == ws.id and body["data"]["ticket_id"] == tid
        assert g.headers["content-type"] == "application/json"
    (created,) = receiver.of_type("ticket.created")
    assert created.json["data"]["subject"] == "Printer on fire"
    assert created.json["data"]["status"] == "new" and created.json["data"]["priority"] == "normal"
    messages = [g.json["data"] for g in receiver.of_type("message.created")]
    first, note, reply = messages
    assert first["public"] and first["author_kind"] == "customer" and first["body_text"] == "Help!"
    assert note["public"] is False and "body_text" not in note and note["author_kind"] == "agent"
    assert reply["public"] and reply["body_text"] == "On our way"
    updates = {g.json["data"]["field"]: g.json["data"] for g in receiver.of_type("ticket.updated")}
    assert updates["priority"]["old"] == "normal" and updates["priority"]["new"] == "high"
    assert updates["priority"]["actor"]["user_id"] == admin.user_id
    assert updates["status"]["new"] == "solved"
    (solved,) = receiver.of_type("ticket.solved")
    assert solved.json["data"]["actor"]["user_id"] == admin.user_id
    ids = [g.headers["webhook-id"] for g in receiver.got]
    assert len(ids) == len(set(ids))

    # The feed hands the same batch over again (say, a worker died before its cursor moved): the
    # outbox writes nothing new and nothing is sent twice.
    sent = len(receiver.got)
    async with ws.platform.db.read() as conn:
        rows = [
            dict(r)
            for r in (
                await conn.execute(
                    sa.select(Event.__table__).where(Event.__table__.c.ticket_id == tid).order_by("id")
                )
            ).mappings()
        ]
    async with ws.platform.db.transaction() as uow:
        assert await outbox_events.apply_events(uow, rows) == []
    await drain(ws.platform)
    assert len(receiver.got) == sent

    log = await deliveries(ws, admin, target["id"])
    assert len(log) == sent and all(d["status"] == "delivered" for d in log)
    assert [d["id"] for d in log] == sorted((d["id"] for d in log), reverse=True)  # newest first
    assert all(d["attempts"] == 1 and d["last_status_code"] == 204 and d["latency_ms"] >= 0 for d in log)
    assert {d["event_type"] for d in log} == {
        "ticket.created",
        "ticket.updated",
        "message.created",
        "ticket.solved",
    }


async def test_a_target_gets_only_the_events_it_subscribes_to(ws: WS, receiver: Receiver) -> None:
    allow(ws, receiver)
    admin, customer = await ws.person("admin"), await ws.person("customer")
    await add_target(ws, admin, receiver.url, receiver=receiver, event_types=["ticket.solved"])
    async with ws.client(customer) as c:
        tid = (await c.post("/tickets", json={"subject": "Hi", "body": "Hello"})).json()["id"]
    async with ws.client(admin) as c:
        assert (await c.patch(f"/tickets/{tid}", json={"status": "solved"})).status_code == 200
    await drain(ws.platform)
    assert [g.json["type"] for g in receiver.got] == ["ticket.solved"]


async def test_a_500_and_a_timeout_are_retried_with_backoff_and_logged(ws: WS, receiver: Receiver) -> None:
    allow(ws, receiver)
    ws.platform.settings.webhook_timeout_seconds = 0.5
    admin = await ws.person("admin")
    target = await add_target(ws, admin, receiver.url, receiver=receiver)
    receiver.answers = [500, "hang"]
    now = datetime.now(UTC)
    with time_machine.travel(now, tick=False):
        async with ws.client(admin) as c:
            r = await c.post(f"/webhooks/{target['id']}/test")
            assert r.status_code == 202, r.text
            assert r.json()["status"] == "pending" and r.json()["event_type"] == "webhook.test"
        await drain(ws.platform)
    (d,) = await deliveries(ws, admin, target["id"])
    assert d["status"] == "pending" and d["attempts"] == 1 and d["last_status_code"] == 500
    assert d["last_error"] == "HTTP 500" and d["response_excerpt"].startswith("receiver says no")
    assert len(d["response_excerpt"]) == 500
    assert datetime.fromisoformat(d["next_attempt_at"]) == now + BACKOFF[0]
    with time_machine.travel(now + BACKOFF[0] - timedelta(seconds=2), tick=False):
        await drain(ws.platform)  # not due yet
    assert len(receiver.got) == 1
    with time_machine.travel(now + BACKOFF[0], tick=False):
        await drain(ws.platform)  # the receiver hangs: the attempt times out
    (d,) = await deliveries(ws, admin, target["id"])
    assert d["status"] == "pending" and d["attempts"] == 2 and "timed out" in d["last_error"]
    assert d["last_status_code"] is None
    with time_machine.travel(now + BACKOFF[0] + BACKOFF[1], tick=False):
        await drain(ws.platform)
    (d,) = await deliveries(ws, admin, target["id"])
    assert d["status"] == "delivered" and d["attempts"] == 3 and d["last_status_code"] == 204
    assert [e["status_code"] for e in d["log"]] == [500, None, 204]
    assert len(receiver.got) == 3 and all(g.verified for g in receiver.got)
    # Retries carry the same webhook-id, so a receiver can drop a repeat.
    assert len({g.headers["webhook-id"] for g in receiver.got}) == 1


async def test_repeated_failures_disable_the_target_until_an_admin_enables_it(
    ws: WS, receiver: Receiver
) -> None:
    allow(ws, receiver)
    admin, customer = await ws.person("admin"), await ws.person("customer")
    target = await add_target(ws, admin, receiver.url, receiver=receiver, disable_after=2)
    receiver.answers = [500] * (2 * MAX_ATTEMPTS)
    now = datetime.now(UTC)
    waited = timedelta(0)
    for n in range(MAX_ATTEMPTS):
        with time_machine.travel(now + waited, tick=False):
            if n == 0:
                async with ws.client(admin) as c:
                    for _ in range(2):
                        assert (await c.post(f"/webhooks/{target['id']}/test")).status_code == 202
            await drain(ws.platform)
        waited += BACKOFF[min(n, len(BACKOFF) - 1)]
    assert len(receiver.got) == 2 * MAX_ATTEMPTS
    log = await deliveries(ws, admin, target["id"])
    assert [d["status"] for d in log] == ["failed", "failed"] and all(
        d["attempts"] == MAX_ATTEMPTS for d in log
    )
    async with ws.client(admin) as c:
        t = (await c.get(f"/webhooks/{target['id']}")).json()
    assert t["enabled"] is False and t["consecutive_failures"] == 2
    assert "2 failed deliveries in a row" in t["disabled_reason"] and t["disabled_at"]

    # Disabled: new ticket events are not queued for it, and a test is not sent.
    async with ws.client(customer) as c:
        assert (await c.post("/tickets", json={"subject": "Hi", "body": "Hello"})).status_code == 201
    async with ws.client(admin) as c:
        assert (await c.post(f"/webhooks/{target['id']}/test")).status_code == 202
    await drain(ws.platform)
    assert len(receiver.got) == 2 * MAX_ATTEMPTS
    log = await deliveries(ws, admin, target["id"])
    assert len(log) == 3 and log[0]["status"] == "failed" and "disabled" in log[0]["last_error"]
    assert log[0]["attempts"] == 0

    # An admin enables it again: its failures are cleared and events flow.
    async with ws.client(admin) as c:
        t = (await c.patch(f"/webhooks/{target['id']}", json={"enabled": True})).json()
        assert t["enabled"] and t["consecutive_failures"] == 0 and t["disabled_reason"] is None
    async with ws.client(customer) as c:
        assert (await c.post("/tickets", json={"subject": "Again", "body": "Hello"})).status_code == 201
    await drain(ws.platform)
    assert [g.json["type"] for g in receiver.got[2 * MAX_ATTEMPTS :]] == ["ticket.created", "message.created"]


async def test_erasing_a_contact_redacts_the_text_their_deliveries_hold(ws: WS, receiver: Receiver) -> None:
    allow(ws, receiver)
    admin, customer = await ws.person("admin"), await ws.person("customer")
    target = await add_target(ws, admin, receiver.url, receiver=receiver)
    receiver.answers = [500]  # ticket.created fails; its message waits behind it, unsent
    now = datetime.now(UTC)
    with time_machine.travel(now, tick=False):
        async with ws.client(customer) as c:
            r = await c.post("/tickets", json={"subject": "Card 4111 stolen", "body": "My PIN is 1234"})
            assert r.status_code == 201, r.text
        await drain(ws.platform)
        message, created = await deliveries(ws, admin, target["id"])
        assert created["event_type"] == "ticket.created" and created["attempts"] == 1
        assert message["event_type"] == "message.created" and message["attempts"] == 0
        assert message["status"] == created["status"] == "pending"
        assert message["next_attempt_at"] == created["next_attempt_at"]
        assert len(receiver.got) == 1
        async with ws.client(admin) as c:
            r = await c.post(f"/contacts/{customer.contact_id}/erase", json={"confirm": "ERASE"})
            assert r.status_code == 200, r.text
        await drain(ws.platform)
    with time_machine.travel(now + BACKOFF[0], tick=False):
        await drain(ws.platform)
    log = await deliveries(ws, admin, target["id"])
    assert [d["status"] for d in log] == ["delivered", "delivered"]
    assert "4111" not in repr(log) and "1234" not in repr(log)
    retried = receiver.got[1:]
    assert [g.json["type"] for g in retried] == ["ticket.created", "message.created"]
    assert len(retried) == 2 and all(g.verified for g in retried)
    assert all(b"4111" not in g.body and b"1234" not in g.body for g in retried)
    assert "[erased at the customer's request]" in {
        g.json["data"].get("subject") or g.json["data"].get("body_text") for g in retried
    }
