"""The fast paths stay correct: cached principals and custom-field definitions go stale at once
when what they say changes, in this process and (through Redis) in another; one-statement reads
and the two-plan searches answer what the plain queries answered."""

from __future__ import annotations

import httpx

from helpline.app import create_app
from helpline.domains.accounts.models import Role
from helpline.platform.runtime import build_platform
from tests.conftest import REDIS_URL, redis_or_skip


async def _token_id(ws, admin, person) -> int:
    async with ws.client(admin) as c:
        r = await c.get("/tokens")
    return next(t["id"] for t in r.json() if t["user_id"] == person.user_id and t["revoked_at"] is None)


async def test_revoked_token_fails_at_once_even_when_cached(ws):
    admin, agent = await ws.person(Role.admin), await ws.person(Role.agent)
    async with ws.client(agent) as c:
        for _ in range(3):  # the principal is cached after the first
            assert (await c.get("/me")).status_code == 200
    tid = await _token_id(ws, admin, agent)
    async with ws.client(admin) as c:
        assert (await c.delete(f"/tokens/{tid}")).status_code == 204
    async with ws.client(agent) as c:
        assert (await c.get("/me")).status_code == 401
    async with ws.client(admin) as c:  # the other principal is untouched
        assert (await c.get("/me")).status_code == 200


async def test_deactivation_role_and_group_changes_apply_at_once(ws):
    admin = await ws.person(Role.admin)
    agent = await ws.person(Role.agent, groups=["Billing"])
    other = await ws.person(Role.agent)
    async with ws.client(admin) as c:
        r = await c.post(
            "/tickets",
            json={
                "subject": "s",
                "body": "b",
                "requester": {"email": "r@p.test"},
                "group_id": ws.groups["Billing"],
            },
        )
        tid = r.json()["id"]
    async with ws.client(agent) as c:
        assert (await c.get(f"/tickets/{tid}")).status_code == 200
    async with ws.client(admin) as c:  # out of the group: the ticket is no longer theirs to see
        assert (await c.patch(f"/users/{agent.user_id}", json={"group_ids": []})).status_code == 200
    async with ws.client(agent) as c:
        assert (await c.get(f"/tickets/{tid}")).status_code == 404
    async with ws.client(other) as c:
        assert (await c.patch(f"/tickets/{tid}", json={"priority": "high"})).status_code == 404
        assert (await c.get("/me")).json()["role"] == "agent"
    async with ws.client(admin) as c:
        assert (await c.patch(f"/users/{other.user_id}", json={"role": "light-agent"})).status_code == 200
    async with ws.client(other) as c:
        assert (await c.get("/me")).json()["role"] == "light-agent"
    async with ws.client(admin) as c:
        assert (await c.patch(f"/users/{agent.user_id}", json={"is_active": False})).status_code == 200
    async with ws.client(agent) as c:
        assert (await c.get("/me")).status_code == 401


async def test_new_required_custom_field_applies_to_the_next_ticket(ws):
    admin = await ws.person(Role.admin)
    body = {"subject": "s", "body": "b", "requester": {"email": "cf@p.test"}}
    async with ws.client(admin) as c:
        assert (await c.post("/tickets", json=body)).status_code == 201  # definitions now cached
        r = await c.post(
            "/custom-fields", json={"key": "plan", "label": "Plan", "type": "text", "required": True}
        )
        assert r.status_code == 201, r.text
        r = await c.post("/tickets", json=body)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "custom_fields.plan"
        r = await c.post("/tickets", json={**body, "custom_fields": {"plan": "gold"}})
        assert r.status_code == 201 and r.json()["custom_fields"] == {"plan": "gold"}


async def test_created_ticket_answer_equals_a_fresh_read(ws):
    admin = await ws.person(Role.admin)
    async with ws.client(admin) as c:
        r = await c.post(
            "/tickets",
            json={
                "subject": "s",
                "body": "b",
                "requester": {"email": "a@p.test"},
                "tags": ["zeta", "alpha", "beta-2", "Big"],
                "cc_emails": ["c1@p.test"],
                "due_at": "2031-01-02T03:04:05+02:00",
                "priority": "high",
            },
        )
        assert r.status_code == 201, r.text
        got = await c.get(f"/tickets/{r.json()['id']}")
        assert got.json() == r.json()
        assert got.headers["etag"] == r.headers["etag"]


async def test_search_pages_newest_first_on_the_rare_and_the_filtered_path(ws):
    admin = await ws.person(Role.admin)
    ids = []
    async with ws.client(admin) as c:
        for i in range(7):
            r = await c.post(
                "/tickets",
                json={
                    "subject": f"quokkaword {i}",
                    "body": "b",
                    "requester": {"email": "s@p.test"},
                    "tags": ["t1"] if i % 2 else [],
                },
            )
            ids.append(r.json()["id"])
    from tests.conftest import drain

    await drain(ws.platform)
    async with ws.client(admin) as c:
        seen, cursor = [], None
        while True:
            r = await c.get(
                "/tickets", params={"q": "quokkaword", "limit": 3, **({"cursor": cursor} if cursor else {})}
            )
            seen += [t["id"] for t in r.json()["items"]]
            cursor = r.json()["next_cursor"]
            if not cursor:
                break
        assert seen == sorted(ids, reverse=True)
        r = await c.get("/tickets", params={"q": "quokkaword", "tag": "t1"})
        assert [t["id"] for t in r.json()["items"]] == sorted(ids[1::2], reverse=True)
        assert all(t["tags"] == ["t1"] for t in r.json()["items"])
        r = await c.get("/tickets", params={"tag": "t1", "limit": 2})
        assert [t["id"] for t in r.json()["items"]] == sorted(ids[1::2], reverse=True)[:2]


async def test_revocation_reaches_another_process_through_redis(ws, settings):
    """Two app instances (as two worker processes) sharing the database and Redis."""
    redis_or_skip()
    admin, agent = await ws.person(Role.admin), await ws.person(Role.agent)
    shared = settings.model_copy(update={"redis_url": REDIS_URL})
    one, two = build_platform(shared), build_platform(shared)
    try:

        def client(platform, who):
            return httpx.AsyncClient(
                transport=httpx.ASGITransport(app=create_app(platform=platform)),
                base_url="http://testserver/api/v1",
                headers={"Authorization": f"Bearer {who.token}"},
            )

        async with client(one, agent) as c:
            assert (await c.get("/me")).status_code == 200  # cached, in Redis
            assert (await c.get("/me")).status_code == 200
        async with client(two, admin) as c:
            tid = next(t["id"] for t in (await c.get("/tokens")).json() if t["user_id"] == agent.user_id)
            assert (await c.delete(f"/tokens/{tid}")).status_code == 204
        async with client(one, agent) as c:
            assert (await c.get("/me")).status_code == 401
    finally:
        await one.close()
        await two.close()
