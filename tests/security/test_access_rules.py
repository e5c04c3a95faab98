"""Two-principal tests: nobody sees what is not theirs, and every role does only what it may."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from helpline.domains.accounts import service as accounts
from helpline.domains.accounts.models import Role
from tests.conftest import problem


async def _ticket(c, email="cust@a.test", **extra):
    r = await c.post(
        "/tickets",
        json={
            "subject": "Private matter",
            "body": "my card number is 1234",
            "requester": {"email": email},
            **extra,
        },
    )
    assert r.status_code == 201, r.text
    return r.json()


async def test_customer_b_never_sees_customer_a(ws):
    agent = await ws.person(Role.agent)
    a, b = await ws.person(Role.customer), await ws.person(Role.customer)
    async with ws.client(a) as ca:
        up = (await ca.post("/uploads", files={"file": ("id.png", b"\x89PNG-a", "image/png")})).json()
        ta = (
            await ca.post(
                "/tickets", json={"subject": "A's issue", "body": "secret of A", "attachments": [up["token"]]}
            )
        ).json()
        assert ta["requester_id"] == a.contact_id
        att = (await ca.get(f"/tickets/{ta['id']}/messages")).json()["items"][0]["attachments"][0]
    async with ws.client(agent) as cg:
        await cg.post(f"/tickets/{ta['id']}/messages", json={"body": "internal: A is VIP", "public": False})
    async with ws.client(b) as cb:
        problem(await cb.get(f"/tickets/{ta['id']}"), 404)
        problem(await cb.get(f"/tickets/{ta['id']}/messages"), 404)
        problem(await cb.post(f"/tickets/{ta['id']}/messages", json={"body": "hi"}), 404)
        problem(await cb.patch(f"/tickets/{ta['id']}", json={"subject": "x"}), 404)
        problem(await cb.get(f"/attachments/{att['id']}"), 404)
        problem(await cb.get(f"/contacts/{a.contact_id}"), 404)
        assert (await cb.get("/tickets")).json()["items"] == []
        assert (await cb.get("/tickets", params={"q": "secret"})).json()["items"] == []
        missing = await cb.get("/tickets/99999999")
        assert missing.json()["detail"].replace("99999999", "N") == (
            await cb.get(f"/tickets/{ta['id']}")
        ).json()["detail"].replace(str(ta["id"]), "N")
    async with ws.client(a) as ca:
        msgs = (await ca.get(f"/tickets/{ta['id']}/messages")).json()["items"]
        assert [m["body_text"] for m in msgs] == ["secret of A"]  # the internal note stays internal
        problem(await ca.post(f"/tickets/{ta['id']}/messages", json={"body": "x", "public": False}), 403)
        problem(await ca.get(f"/tickets/{ta['id']}/events"), 403)
        assert (await ca.get(f"/attachments/{att['id']}")).content == b"\x89PNG-a"


async def test_customer_sees_organization_tickets_only_when_shared(ws):
    agent = await ws.person(Role.admin)
    async with ws.platform.db.transaction() as uow:
        from helpline.domains.customers import service as customers

        org = await customers.create_organization(
            uow, ws.id, name="Acme", domains=["acme.test"], shared_tickets=False
        )
    a = await ws.person(Role.customer, email="ann@acme.test")
    b = await ws.person(Role.customer, email="ben@acme.test")
    async with ws.client(agent) as c:
        t = await _ticket(c, "ann@acme.test")
        assert t["organization_id"] == org
    async with ws.client(b) as cb:
        problem(await cb.get(f"/tickets/{t['id']}"), 404)
    async with ws.platform.db.transaction() as uow:
        await customers.update_organization(uow, ws.id, org, {"shared_tickets": True})
    async with ws.client(b) as cb:
        assert (await cb.get(f"/tickets/{t['id']}")).status_code == 200
        problem(await cb.post(f"/tickets/{t['id']}/messages", json={"body": "x", "public": False}), 403)
    _ = a


async def test_agent_outside_group_cannot_see_ticket_but_admin_can(ws):
    billing = await ws.person(Role.agent, groups=["Billing"])
    tech = await ws.person(Role.agent, groups=["Technical"])
    admin = await ws.person(Role.admin)
    async with ws.client(billing) as c:
        t = await _ticket(c, group_id=ws.groups["Billing"])
    async with ws.client(tech) as c:
        problem(await c.get(f"/tickets/{t['id']}"), 404)
        assert t["id"] not in [i["id"] for i in (await c.get("/tickets")).json()["items"]]
        problem(await c.post(f"/tickets/{t['id']}/messages", json={"body": "x"}), 404)
    async with ws.client(admin) as c:
        assert (await c.get(f"/tickets/{t['id']}")).status_code == 200
        await c.patch(f"/tickets/{t['id']}", json={"assignee_id": tech.user_id})
    async with ws.client(tech) as c:  # assigned to them: now they see it
        assert (await c.get(f"/tickets/{t['id']}")).status_code == 200


async def test_light_agent_reads_and_notes_but_never_replies_publicly(ws):
    agent, light = await ws.person(Role.agent), await ws.person(Role.light_agent)
    async with ws.client(agent) as c:
        t = await _ticket(c)
    async with ws.client(light) as c:
        assert (await c.get(f"/tickets/{t['id']}")).status_code == 200
        body = problem(
            await c.post(f"/tickets/{t['id']}/messages", json={"body": "Dear customer", "public": True}), 403
        )
        assert body["errors"][0]["field"] == "public"
        assert (
            await c.post(f"/tickets/{t['id']}/messages", json={"body": "note", "public": False})
        ).status_code == 201
        problem(await c.patch(f"/tickets/{t['id']}", json={"status": "solved"}), 403)
        problem(
            await c.post("/tickets", json={"subject": "s", "body": "b", "requester": {"email": "z@z.test"}}),
            403,
        )


async def test_workspace_token_sees_nothing_of_another_workspace(make_ws):
    one, two = await make_ws("One"), await make_ws("Two")
    admin1, admin2 = await one.person(Role.admin), await two.person(Role.admin)
    async with one.client(admin1) as c1:
        t = await _ticket(c1)
        contact = (await c1.post("/contacts", json={"email": "only@one.test", "name": "Only"})).json()
    async with two.client(admin2) as c2:
        problem(await c2.get(f"/tickets/{t['id']}"), 404)
        problem(await c2.get(f"/contacts/{contact['id']}"), 404)
        problem(await c2.patch(f"/tickets/{t['id']}", json={"subject": "x"}), 404)
        problem(await c2.post(f"/tickets/{t['id']}/merge", json={"target_id": t["id"]}), 404)
        assert (await c2.get("/tickets")).json()["items"] == []
        problem(await c2.get(f"/users/{admin1.user_id}"), 404)
        # ids of the other workspace are refused in writes too
        body = problem(
            await c2.post("/tickets", json={"subject": "s", "body": "b", "requester_id": t["requester_id"]}),
            422,
        )
        assert body["errors"][0]["field"] == "requester_id"


async def test_revoked_and_expired_tokens_fail(ws):
    agent = await ws.person(Role.agent, password="correct horse battery")
    async with ws.client(agent) as c:
        created = (
            await c.post("/tokens", json={"name": "script", "password": "correct horse battery"})
        ).json()
        async with ws.client(created["token"]) as c2:
            assert (await c2.get("/me")).status_code == 200
        assert (await c.delete(f"/tokens/{created['id']}")).status_code == 204
        async with ws.client(created["token"]) as c2:
            problem(await c2.get("/me"), 401)
    async with ws.platform.db.transaction() as uow:
        _, short = await accounts.create_token(
            uow, ws.id, agent.user_id, expires_at=datetime.now(UTC) + timedelta(seconds=1)
        )
        await uow.execute(
            accounts.tokens.update()
            .where(accounts.tokens.c.token_hash == accounts.security.token_hash(short))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    async with ws.client(short) as c2:
        problem(await c2.get("/me"), 401)
    async with ws.client("hl_not-a-real-token") as c2:
        r = problem(await c2.get("/tickets"), 401)
        assert r["detail"]
    async with ws.client() as anon:
        problem(await anon.get("/tickets"), 401)


async def test_only_admins_manage_users_groups_fields(ws):
    agent = await ws.person(Role.agent)
    customer = await ws.person(Role.customer)
    for who in (agent, customer):
        async with ws.client(who) as c:
            problem(await c.post("/users", json={"email": "n@n.test", "role": "admin"}), 403)
            problem(await c.post("/groups", json={"name": "G"}), 403)
            problem(await c.post("/custom-fields", json={"key": "k", "label": "K", "type": "text"}), 403)
    async with ws.client(customer) as c:
        problem(await c.get("/users"), 403)
        problem(await c.get(f"/users/{agent.user_id}"), 404)
        assert (await c.get(f"/users/{customer.user_id}")).status_code == 200
        problem(
            await c.post("/tickets", json={"subject": "s", "body": "b", "assignee_id": agent.user_id}), 403
        )


@pytest.mark.parametrize(
    "field,value",
    [
        ("priority", "urgent"),
        ("tags", ["vip"]),
        ("channel", "phone"),
        ("type", "incident"),
        ("cc_emails", ["boss@example.test"]),
    ],
)
async def test_customers_cannot_set_staff_fields_when_creating(ws, field, value):
    """PATCH refused these to customers already; creating a ticket let them through."""
    customer = await ws.person(Role.customer)
    agent = await ws.person(Role.agent)
    async with ws.client(customer) as api:
        body = problem(await api.post("/tickets", json={"subject": "Help", "body": "Hi", field: value}), 403)
        assert body["errors"][0]["field"] == field
        assert (await api.get("/tickets")).json()["items"] == []
        ok = await api.post("/tickets", json={"subject": "Help", "body": "Hi"})
        assert ok.status_code == 201 and ok.json()["priority"] == "normal" and ok.json()["tags"] == []
    async with ws.client(agent) as staff:
        made = await staff.post(
            "/tickets",
            json={"subject": "Call", "body": "x", "requester_id": customer.contact_id, field: value},
        )
        assert made.status_code == 201, made.text
