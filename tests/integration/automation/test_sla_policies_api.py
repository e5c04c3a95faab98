"""SLA policies over the API: CRUD, checks naming the exact part, order and fallback, the reapply job,
who may do what, across workspaces, and policies_for (what the engine matches with)."""

from __future__ import annotations

import sqlalchemy as sa

from helpline.domains.accounts.models import Role
from helpline.domains.automation import conditions, sla_policies
from helpline.platform.models import Job
from tests.conftest import problem

jobs_t = Job.__table__
URGENT = {
    "urgent": {"first_reply": {"minutes": 60, "warn": 15}, "resolution": {"minutes": 480, "business": False}}
}


async def reapply_jobs(ws) -> list:
    async with ws.platform.db.read() as conn:
        rows = await conn.execute(
            sa.select(jobs_t.c.args, jobs_t.c.dedupe_key).where(
                jobs_t.c.kind == "sla.reapply", jobs_t.c.state == "queued"
            )
        )
        return [tuple(r) for r in rows if r[0] == {"workspace_id": ws.id}]  # the jobs table is shared


async def test_crud_defaults_version_and_reapply(ws):
    admin = await ws.person(Role.admin, groups=["VIP"])
    async with ws.client(admin) as c:
        r = await c.post(
            "/sla-policies",
            json={
                "name": "VIP",
                "conditions": {"all": [{"field": "tags", "operator": "includes_any", "value": ["vip"]}]},
                "targets": URGENT,
                "escalations": [
                    {"on": "breach", "actions": [{"type": "notify", "group_ids": [ws.groups["VIP"]]}]},
                    {
                        "on": "warn",
                        "metrics": ["first_reply"],
                        "actions": [{"type": "tag", "tag": "at-risk"}],
                    },
                ],
            },
        )
        assert r.status_code == 201, r.text
        p = r.json()
        assert p["version"] == 1 and p["position"] == 0 and p["active"] is True and p["is_fallback"] is False
        assert p["targets"]["urgent"]["first_reply"] == {"minutes": 60, "business": True, "warn": 15}
        assert p["targets"]["urgent"]["resolution"] == {"minutes": 480, "business": False, "warn": 0}
        assert p["escalations"][0]["metrics"] == [
            "first_reply",
            "next_reply",
            "periodic_update",
            "resolution",
            "requester_wait",
            "agent_work",
        ]
        assert p["conditions"] == {
            "all": [{"field": "tags", "operator": "includes_any", "value": ["vip"]}],
            "any": [],
        }
        assert await reapply_jobs(ws) == [({"workspace_id": ws.id}, f"sla.reapply:{ws.id}")]

        r = await c.patch(f"/sla-policies/{p['id']}", json={"description": "Key accounts"})
        assert r.json()["version"] == 2 and r.json()["description"] == "Key accounts"
        assert r.json()["targets"] == p["targets"]  # left out: unchanged
        dup = problem(await c.post("/sla-policies", json={"name": "VIP"}), 409)
        assert dup["errors"][0]["field"] == "name"
        assert (await c.delete(f"/sla-policies/{p['id']}")).status_code == 204
        problem(await c.get(f"/sla-policies/{p['id']}"), 404)


async def test_errors_name_the_exact_part(ws, make_ws):
    admin = await ws.person(Role.admin)
    customer = await ws.person(Role.customer)
    other = await make_ws("Other")
    stranger = await other.person(Role.agent)
    await ws.person(Role.admin, groups=["G"])
    cases = [
        (
            {"targets": {"urgent": {"first_reply": {"minutes": 30, "warn": 31}}}},
            "targets.urgent.first_reply.warn",
        ),
        ({"targets": {"urgent": {"first_reply": {"minutes": 0}}}}, "targets.urgent.first_reply.minutes"),
        ({"targets": {"urgent": {"first_response": {"minutes": 5}}}}, "targets.urgent.first_response"),
        (
            {"conditions": {"all": [{"field": "priority", "operator": "contains", "value": "x"}]}},
            "conditions.all[0].operator",
        ),
        (
            {"conditions": {"any": [{"field": "shoe_size", "operator": "is", "value": 1}]}},
            "conditions.any[0].field",
        ),
        (
            {"conditions": {"all": [{"field": "priority", "operator": "is", "value": "asap"}]}},
            "conditions.all[0].value",
        ),
        (
            {
                "escalations": [
                    {"on": "breach", "actions": [{"type": "notify", "user_ids": [customer.user_id]}]}
                ]
            },
            "escalations[0].actions[0].user_ids",
        ),
        (
            {"escalations": [{"on": "breach", "actions": [{"type": "assign", "user_id": stranger.user_id}]}]},
            "escalations[0].actions[0].user_id",
        ),
        (
            {"escalations": [{"on": "warn", "actions": [{"type": "webhook", "url": "ftp://x.test/"}]}]},
            "escalations[0].actions[0].url",
        ),
        (
            {"escalations": [{"on": "warn", "actions": [{"type": "assign"}]}]},
            "escalations[0].actions[0].user_id",
        ),
    ]
    async with ws.client(admin) as c:
        for extra, field in cases:
            got = problem(await c.post("/sla-policies", json={"name": "P", **extra}), 422)
            assert got["errors"][0]["field"].startswith(field), (extra, got["errors"])
        ok = await c.post(
            "/sla-policies",
            json={
                "name": "P",
                "escalations": [
                    {"on": "warn", "actions": [{"type": "webhook", "url": "https://hooks.example.test/sla"}]}
                ],
            },
        )
        assert ok.status_code == 201, ok.text


async def test_order_and_fallback(ws):
    admin = await ws.person(Role.admin)
    async with ws.client(admin) as c:
        ids = [(await c.post("/sla-policies", json={"name": n})).json()["id"] for n in ("A", "B", "C")]
        fb = (await c.post("/sla-policies", json={"name": "Everyone", "is_fallback": True})).json()["id"]
        r = await c.post("/sla-policies/order", json={"ids": [fb, ids[2], ids[0], ids[1]]})
        assert r.status_code == 200, r.text
        assert [p["name"] for p in r.json()] == ["C", "A", "B", "Everyone"]  # the fallback last anyway
        problem(await c.post("/sla-policies/order", json={"ids": [ids[0], ids[1]]}), 422)
        # a second fallback replaces the first
        await c.patch(f"/sla-policies/{ids[1]}", json={"is_fallback": True})
        listed = (await c.get("/sla-policies")).json()
        assert [(p["name"], p["is_fallback"]) for p in listed][-1] == ("B", True)
        assert sum(p["is_fallback"] for p in listed) == 1
        await c.patch(f"/sla-policies/{ids[0]}", json={"active": False})
    async with ws.platform.db.read() as conn:
        rows = await sla_policies.policies_for(conn, ws.id)
    # "Everyone" keeps its place (first) once no longer the fallback; A is off
    assert [r.name for r in rows] == ["Everyone", "C", "B"]
    assert rows[-1].is_fallback and conditions.matches(rows[0].conditions, {"priority": "low"})


async def test_who_may_and_across_workspaces(ws, make_ws):
    admin, agent, customer = (
        await ws.person(Role.admin),
        await ws.person(Role.agent),
        await ws.person(Role.customer),
    )
    async with ws.client(admin) as c:
        pid = (await c.post("/sla-policies", json={"name": "P"})).json()["id"]
    async with ws.client(agent) as c:
        assert [p["id"] for p in (await c.get("/sla-policies")).json()] == [pid]
        problem(await c.post("/sla-policies", json={"name": "Q"}), 403)
        problem(await c.patch(f"/sla-policies/{pid}", json={"name": "Q"}), 403)
        problem(await c.delete(f"/sla-policies/{pid}"), 403)
        problem(await c.post("/sla-policies/order", json={"ids": [pid]}), 403)
    async with ws.client(customer) as c:
        problem(await c.get("/sla-policies"), 403)
    other = await make_ws("Other")
    admin_b = await other.person(Role.admin)
    async with other.client(admin_b) as c:
        assert (await c.get("/sla-policies")).json() == []
        problem(await c.get(f"/sla-policies/{pid}"), 404)
        problem(await c.patch(f"/sla-policies/{pid}", json={"name": "Mine"}), 404)
        problem(await c.delete(f"/sla-policies/{pid}"), 404)
        problem(await c.post("/sla-policies/order", json={"ids": [pid]}), 422)
    async with ws.client(admin) as c:
        assert (await c.get(f"/sla-policies/{pid}")).json()["name"] == "P"
