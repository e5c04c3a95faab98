"""The webhooks API: URL and event checks, the secret shown once and rotated, SSRF refusals at
delivery, and scoping (admins only; another workspace's target is 404 everywhere)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
import time_machine

from helpline.domains.accounts.models import AuditEntry
from helpline.domains.webhooks.service import new_secret
from tests.conftest import WS, drain, problem
from tests.integration.webhooks.helpers import ALL, add_target, allow, deliveries
from tests.integration.webhooks.receiver import Receiver

audit_t = AuditEntry.__table__

BAD_URLS = [
    "file:///etc/passwd",
    "ftp://example.com/hook",
    "https://user:secret@example.com/hook",
    "https://token@example.com/hook",
    "not a url",
    "https://",
    "https://exa mple.com/hook",
    "https://example.com:99999/hook",
    "https://example.com/" + "a" * 2000,
    "",
]


@pytest.mark.parametrize("url", BAD_URLS)
async def test_a_bad_url_is_422_naming_url(ws: WS, url: str) -> None:
    admin = await ws.person("admin")
    async with ws.client(admin) as c:
        body = problem(await c.post("/webhooks", json={"name": "X", "url": url, "event_types": ALL}), 422)
        assert [e["field"] for e in body["errors"]] == ["url"], body
        good = await add_target(ws, admin, "https://hooks.example.com/in")
        body = problem(await c.patch(f"/webhooks/{good['id']}", json={"url": url}), 422)
        assert [e["field"] for e in body["errors"]] == ["url"], body
        assert (await c.get(f"/webhooks/{good['id']}")).json()["url"] == "https://hooks.example.com/in"


async def test_events_must_be_known_and_at_least_one(ws: WS) -> None:
    admin = await ws.person("admin")
    async with ws.client(admin) as c:
        for events in (["ticket.deleted"], [], "ticket.created"):
            r = await c.post(
                "/webhooks", json={"name": "X", "url": "https://a.example/", "event_types": events}
            )
            body = problem(r, 422)
            assert all(e["field"].startswith("event_types") for e in body["errors"]), body


async def test_the_secret_is_shown_once_and_rotation_signs_with_the_new_one(
    ws: WS, receiver: Receiver
) -> None:
    allow(ws, receiver)
    admin = await ws.person("admin")
    created = await add_target(ws, admin, receiver.url, receiver=receiver)
    secret = created["secret"]
    assert secret.startswith("whsec_") and len(secret) >= 6 + 32
    assert created["secret_hint"] == "…" + secret[-4:]
    async with ws.client(admin) as c:
        for r in (await c.get(f"/webhooks/{created['id']}"), await c.get("/webhooks")):
            assert secret not in r.text and "whsec_" not in r.text
        rotated = (await c.post(f"/webhooks/{created['id']}/rotate-secret")).json()
        assert rotated["secret"] != secret and rotated["secret"].startswith("whsec_")
        await c.post(f"/webhooks/{created['id']}/test")
    await drain(ws.platform)
    (got,) = receiver.got
    assert not got.verified  # the receiver still holds the old secret
    receiver.secret = rotated["secret"]
    async with ws.client(admin) as c:
        await c.post(f"/webhooks/{created['id']}/test")
    await drain(ws.platform)
    assert receiver.got[-1].verified
    # The audit log names the changes, never a secret.
    async with ws.platform.db.read() as conn:
        entries = (
            (
                await conn.execute(
                    sa.select(audit_t.c.detail)
                    .where(audit_t.c.workspace_id == ws.id, audit_t.c.action == "webhook.changed")
                    .order_by(audit_t.c.id)
                )
            )
            .scalars()
            .all()
        )
    assert [e["change"] for e in entries] == ["created", "secret rotated"]
    assert "whsec_" not in repr(entries)
    assert receiver.got[-1].json["type"] == "webhook.test"
    assert receiver.got[-1].json["data"] == {
        "workspace_id": ws.id,
        "ticket_id": None,
        "webhook_id": created["id"],
    }


async def test_internal_addresses_are_refused_at_delivery_unless_allowed(ws: WS, receiver: Receiver) -> None:
    admin = await ws.person("admin")
    urls = [
        receiver.url,
        f"http://localhost:{receiver.port}/hooks",  # a name that resolves to loopback
        f"http://[::1]:{receiver.port}/hooks",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/hooks",
        "https://192.168.0.10/hooks",
        "http://0x7f000001/hooks",
    ]
    targets = [await add_target(ws, admin, u, name=f"T{i}") for i, u in enumerate(urls)]
    async with ws.client(admin) as c:
        for t in targets:
            assert (await c.post(f"/webhooks/{t['id']}/test")).status_code == 202
    await drain(ws.platform)
    assert receiver.got == []
    for t in targets:
        (d,) = await deliveries(ws, admin, t["id"])
        assert d["status"] == "failed" and d["attempts"] == 1, (t["url"], d)
        assert d["last_error"].startswith("refused by the egress guard"), d["last_error"]
        assert d["next_attempt_at"] is None  # not retried

    # The operator allows the receiver's address and port: the target at that address gets through;
    # IPv6 loopback, which the entry does not name, is still refused.
    allow(ws, receiver)
    receiver.secret = ""
    async with ws.client(admin) as c:
        for t in (targets[0], targets[2]):
            assert (await c.post(f"/webhooks/{t['id']}/test")).status_code == 202
    await drain(ws.platform)
    assert len(receiver.got) == 1
    assert [d["status"] for d in await deliveries(ws, admin, targets[0]["id"])] == ["delivered", "failed"]
    assert [d["status"] for d in await deliveries(ws, admin, targets[2]["id"])] == ["failed", "failed"]


ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/webhooks/{id}", None),
    ("PATCH", "/webhooks/{id}", {"name": "Mine now"}),
    ("POST", "/webhooks/{id}/rotate-secret", None),
    ("GET", "/webhooks/{id}/deliveries", None),
    ("POST", "/webhooks/{id}/test", None),
    ("DELETE", "/webhooks/{id}", None),
]


async def test_workspaces_see_and_receive_only_their_own(
    make_ws: Any, receiver: Receiver, receiver2: Receiver
) -> None:
    a, b = await make_ws("A"), await make_ws("B")
    allow(a, receiver, receiver2)  # one platform: the setting is shared
    admin_a, admin_b = await a.person("admin"), await b.person("admin")
    ta = await add_target(a, admin_a, receiver.url, receiver=receiver)
    tb = await add_target(b, admin_b, receiver2.url, receiver=receiver2)
    customer_a = await a.person("customer")
    async with a.client(customer_a) as c:
        tid = (await c.post("/tickets", json={"subject": "Only A", "body": "Hello"})).json()["id"]
    await drain(a.platform)
    assert {g.json["data"]["ticket_id"] for g in receiver.got} == {tid}
    assert receiver2.got == []
    async with b.client(admin_b) as c:
        assert [t["id"] for t in (await c.get("/webhooks")).json()] == [tb["id"]]
        for method, path, body in ROUTES:
            r = await c.request(method, path.format(id=ta["id"]), json=body)
            problem(r, 404)
    async with a.client(admin_a) as c:
        assert [t["id"] for t in (await c.get("/webhooks")).json()] == [ta["id"]]
        assert (await c.get(f"/webhooks/{ta['id']}")).json()["name"] == "CRM"  # untouched by B


@pytest.mark.parametrize("role", ["agent", "light-agent", "customer"])
async def test_only_admins_may_use_the_api(ws: WS, role: str) -> None:
    admin, other = await ws.person("admin"), await ws.person(role)
    t = await add_target(ws, admin, "https://hooks.example.com/in")
    async with ws.client(other) as c:
        problem(await c.get("/webhooks"), 403)
        r = await c.post("/webhooks", json={"name": "X", "url": "https://a.example/", "event_types": ALL})
        problem(r, 403)
        for method, path, body in ROUTES:
            problem(await c.request(method, path.format(id=t["id"]), json=body), 403)


def test_a_new_secret_is_random_base64_of_32_bytes() -> None:
    import base64

    s1, s2 = new_secret(), new_secret()
    assert s1 != s2 and len(base64.b64decode(s1.removeprefix("whsec_"))) == 32


async def test_update_and_the_delivery_log_pages_newest_first(ws: WS) -> None:
    admin = await ws.person("admin")
    t = await add_target(ws, admin, "https://hooks.example.com/in")
    async with ws.client(admin) as c:
        r = await c.patch(
            f"/webhooks/{t['id']}",
            json={"name": "Warehouse", "url": "https://dw.example.com/in", "event_types": ["ticket.solved"]},
        )
        assert r.status_code == 200, r.text
        assert (r.json()["name"], r.json()["url"], r.json()["event_types"]) == (
            "Warehouse",
            "https://dw.example.com/in",
            ["ticket.solved"],
        )
        made = [(await c.post(f"/webhooks/{t['id']}/test")).json()["id"] for _ in range(3)]
        first = (await c.get(f"/webhooks/{t['id']}/deliveries", params={"limit": 2})).json()
        assert [d["id"] for d in first["items"]] == made[::-1][:2] and first["next_before"] == made[1]
        rest = (
            await c.get(
                f"/webhooks/{t['id']}/deliveries", params={"limit": 2, "before": first["next_before"]}
            )
        ).json()
        assert [d["id"] for d in rest["items"]] == [made[0]] and rest["next_before"] is None
        listed = (await c.get("/webhooks")).json()
        assert listed[0]["last_delivery"]["id"] == made[-1]
        assert (await c.delete(f"/webhooks/{t['id']}")).status_code == 204
        problem(await c.get(f"/webhooks/{t['id']}"), 404)
        assert (await c.get("/webhooks")).json() == []


async def test_finished_deliveries_leave_the_log_after_30_days(ws: WS) -> None:
    admin = await ws.person("admin")
    t = await add_target(ws, admin, "http://10.9.8.7/hooks")  # refused: each delivery fails at once
    now = datetime.now(UTC)
    with time_machine.travel(now - timedelta(days=31), tick=False):
        async with ws.client(admin) as c:
            for _ in range(2):
                assert (await c.post(f"/webhooks/{t['id']}/test")).status_code == 202
        await drain(ws.platform)
        assert [d["status"] for d in await deliveries(ws, admin, t["id"])] == ["failed", "failed"]
    with time_machine.travel(now, tick=False):
        async with ws.client(admin) as c:
            recent = (await c.post(f"/webhooks/{t['id']}/test")).json()["id"]
        await drain(ws.platform)  # the prune job queued with the old deliveries is due by now
    assert [d["id"] for d in await deliveries(ws, admin, t["id"])] == [recent]


async def test_a_delivery_id_is_never_reused_after_its_target_is_deleted(ws: WS, receiver: Receiver) -> None:
    # The id is the webhook-id receivers drop repeats by: a new delivery must never get an old one.
    allow(ws, receiver)
    admin = await ws.person("admin")
    first = await add_target(ws, admin, receiver.url, receiver=receiver)
    async with ws.client(admin) as c:
        old = (await c.post(f"/webhooks/{first['id']}/test")).json()["id"]
        assert (await c.delete(f"/webhooks/{first['id']}")).status_code == 204
    second = await add_target(ws, admin, receiver.url, receiver=receiver)
    assert second["id"] != first["id"]
    async with ws.client(admin) as c:
        new = (await c.post(f"/webhooks/{second['id']}/test")).json()["id"]
    assert new > old
    await drain(ws.platform)
    assert [g.headers["webhook-id"] for g in receiver.got] == [f"whd_{new}"]
    assert [d["status"] for d in await deliveries(ws, admin, second["id"])] == ["delivered"]
