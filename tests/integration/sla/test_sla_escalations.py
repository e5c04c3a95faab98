"""What an escalation does besides the ticket's own fields: a signed webhook through the egress
guard, mail only to people who may see the ticket, reassignment; and an imported ticket's SLA
computed from its history as if it had happened live."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sqlalchemy as sa

from helpline.domains.automation import signing
from helpline.platform.models import Job
from tests.conftest import WS, drain
from tests.integration.sla.test_sla_tickets import at, customer_ticket, sla, travel
from tests.sla_setup import configure

SECRET = "whsec_" + base64.b64encode(b"a shared secret for the test!").decode()


def test_the_signature_matches_the_standard_webhooks_test_vector() -> None:
    # The example in the Standard Webhooks specification.
    got = signing.sign(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        b'{"test": 2432232314}',
    )
    assert got == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


class Receiver:
    """A local HTTP endpoint that records what it is sent."""

    def __init__(self) -> None:
        self.got: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                outer.got.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


async def test_a_breach_calls_the_webhook_signed_and_only_where_egress_allows(
    ws: WS, receiver: Receiver
) -> None:
    url = f"http://127.0.0.1:{receiver.port}/hooks/sla"
    await configure(
        ws,
        targets={"normal": {"first_reply": {"minutes": 10}}},
        escalations=[{"on": "breach", "actions": [{"type": "webhook", "url": url, "secret": SECRET}]}],
    )
    customer = await ws.person("customer")
    with travel(at(7, 9)):
        tid = await customer_ticket(ws, customer)
    with travel(at(7, 9, 10)):
        await drain(ws.platform)  # the breach fires; the webhook job is refused by the egress guard
    assert receiver.got == []
    async with ws.platform.db.read() as conn:
        job = (
            (await conn.execute(sa.select(Job.__table__).where(Job.__table__.c.kind == "sla.webhook")))
            .mappings()
            .one()
        )
    assert job["state"] == "queued" and "refused" in (job["last_error"] or "").lower()
    assert SECRET not in json.dumps(job["args"])  # the job reads the secret from the policy
    # The operator allows this host and port: the retry delivers it.
    ws.platform.settings.egress_allow = f"127.0.0.1:{receiver.port}"
    with travel(at(7, 9, 30)):
        await drain(ws.platform)
    assert len(receiver.got) == 1
    headers, body = receiver.got[0]
    payload = json.loads(body)
    assert payload["type"] == "sla.breach" and payload["data"]["ticket_id"] == tid
    assert payload["data"]["metric"] == "first_reply"
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert headers["webhook-signature"] == expected
    assert headers["webhook-id"] == f"sla_{tid}_first_reply_1_breach"  # stable across retries


async def test_notify_mails_only_people_who_may_see_the_ticket_and_reassign_moves_it(ws: WS) -> None:
    billing = await ws.person("agent", groups=["Billing"])
    tier2 = await ws.person("agent", groups=["Tier 2"])
    await configure(
        ws,
        targets={"normal": {"resolution": {"minutes": 30}}},
        escalations=[
            {
                "on": "breach",
                "actions": [
                    {"type": "notify", "group_ids": [ws.groups["Billing"], ws.groups["Tier 2"]]},
                    {"type": "assign", "group_id": ws.groups["Tier 2"]},
                ],
            }
        ],
    )
    admin, customer = await ws.person("admin"), await ws.person("customer")
    with travel(at(7, 9)):
        tid = await customer_ticket(ws, customer)
        async with ws.client(admin) as c:
            r = await c.patch(f"/tickets/{tid}", json={"group_id": ws.groups["Billing"]})
            assert r.status_code == 200, r.text
        await drain(ws.platform)
    before = len(ws.platform.mail.sent)  # type: ignore[attr-defined]
    with travel(at(7, 9, 31)):
        await drain(ws.platform)
    sent = ws.platform.mail.sent[before:]  # type: ignore[attr-defined]
    # Who is told is decided when the mail goes, after the escalation moved the ticket to Tier 2:
    # Billing's agent can no longer see it and is not told its subject; Tier 2's agent is.
    assert [m["To"] for m in sent] == [tier2.email]
    assert billing.email not in [m["To"] for m in sent]
    async with ws.client(admin) as c:
        t = (await c.get(f"/tickets/{tid}")).json()
        events = (await c.get(f"/tickets/{tid}/events")).json()["items"]
    assert t["group_id"] == ws.groups["Tier 2"]
    alert = next(e for e in events if e["kind"] == "sla_alert")
    assert "reassigned the group" in alert["new"]["actions"] and "notified people" in alert["new"]["actions"]


async def test_an_imported_ticket_gets_its_sla_from_its_history(ws: WS) -> None:
    await configure(
        ws,
        targets={"normal": {"first_reply": {"minutes": 60}, "resolution": {"minutes": 240}}},
    )
    admin = await ws.person("admin")
    agent = await ws.person("agent", email="sam.agent@example.test")
    created = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    item = {
        "source_id": "Z-1",
        "subject": "Invoice wrong",
        "created_at": created.isoformat(),
        "status": "solved",
        "priority": "normal",
        "channel": "email",
        "requester": {"email": "ines@customer.test", "name": "Ines"},
        "messages": [
            {
                "author": {"email": "ines@customer.test"},
                "author_kind": "customer",
                "public": True,
                "channel": "email",
                "created_at": created.isoformat(),
                "body_text": "The invoice is wrong.",
            },
            {
                "author": {"email": agent.email},
                "author_kind": "agent",
                "public": True,
                "channel": "email",
                "created_at": (created + timedelta(minutes=95)).isoformat(),
                "body_text": "Fixed it.",
            },
        ],
        "status_changes": [
            {"at": (created + timedelta(minutes=95)).isoformat(), "status": "pending"},
            {"at": (created + timedelta(minutes=180)).isoformat(), "status": "solved"},
        ],
    }
    async with ws.client(admin) as c:
        r = await c.post("/imports/tickets", json={"source": "zendesk", "tickets": [item]})
        assert r.status_code == 200, r.text
        tid = r.json()["tickets"][0]["ticket_id"]
    await drain(ws.platform)
    s = await sla(ws, admin, tid)
    assert s["first_reply"]["status"] == "breached"  # 95 minutes against 60, as it happened
    assert s["first_reply"]["calendar_minutes"] == 95
    assert s["resolution"]["status"] == "fulfilled" and s["resolution"]["calendar_minutes"] == 180
    # A breach found long after it happened is recorded, and nothing escalates for it.
    async with ws.client(admin) as c:
        events = (await c.get(f"/tickets/{tid}/events")).json()["items"]
    assert not [e for e in events if e["kind"] == "sla_alert"]


async def test_a_webhook_the_policy_no_longer_calls_is_dropped_before_it_is_sent(
    ws: WS, receiver: Receiver
) -> None:
    url = f"http://127.0.0.1:{receiver.port}/hooks/sla"
    _, policy = await configure(
        ws,
        targets={"normal": {"first_reply": {"minutes": 10}}},
        escalations=[{"on": "breach", "actions": [{"type": "webhook", "url": url, "secret": SECRET}]}],
    )
    customer, admin = await ws.person("customer"), await ws.person("admin")
    with travel(at(7, 9)):
        await customer_ticket(ws, customer)
    with travel(at(7, 9, 10)):
        await drain(ws.platform)  # fired; the call waits (the egress guard refuses it for now)
    async with ws.client(admin) as c:
        r = await c.patch(f"/sla-policies/{policy}", json={"escalations": []})
        assert r.status_code == 200, r.text
    ws.platform.settings.egress_allow = f"127.0.0.1:{receiver.port}"
    with travel(at(7, 9, 30)):
        await drain(ws.platform)
    assert receiver.got == []
    async with ws.platform.db.read() as conn:
        left = (
            await conn.execute(sa.select(Job.__table__).where(Job.__table__.c.kind == "sla.webhook"))
        ).all()
    assert left == []
