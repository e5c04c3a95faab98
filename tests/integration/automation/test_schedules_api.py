"""Schedules over the API: CRUD, the body's checks naming the part at fault, one default per
workspace, group assignment, the recompute/reapply jobs, who may do what, and across workspaces."""

from __future__ import annotations

import sqlalchemy as sa

from helpline.domains.accounts.models import Role
from helpline.platform.models import Job
from tests.conftest import problem

jobs_t = Job.__table__

WEEK = {"mon": [["09:00", "12:30"], ["13:30", "17:00"]], "tue": [["09:00", "17:00"]], "sun": []}


def body(tz: str = "Europe/Berlin", **extra):
    return {"timezone": tz, "week": WEEK, "holidays": [], **extra}


async def jobs_of(ws, kind: str) -> list[dict]:
    async with ws.platform.db.read() as conn:
        rows = await conn.execute(
            sa.select(jobs_t.c.args, jobs_t.c.dedupe_key).where(
                jobs_t.c.kind == kind, jobs_t.c.state == "queued"
            )
        )
        return [dict(r) for r in rows.mappings()]


async def test_crud_versions_default_and_jobs(ws):
    admin = await ws.person(Role.admin, groups=["Tier 2"])
    gid = ws.groups["Tier 2"]
    async with ws.client(admin) as c:
        r = await c.post("/schedules", json={"name": "Berlin office", "body": body()})
        assert r.status_code == 201, r.text
        first = r.json()
        assert first["is_default"] is True  # the first schedule is the default whatever it asked
        assert first["version"] == 1 and first["timezone"] == "Europe/Berlin"
        assert first["body"]["week"]["mon"] == [["09:00", "12:30"], ["13:30", "17:00"]]
        assert first["body"]["week"]["sat"] == []
        assert {"schedule_id": first["id"]} in [j["args"] for j in await jobs_of(ws, "sla.recompute")]
        mine = [j for j in await jobs_of(ws, "sla.reapply") if j["args"] == {"workspace_id": ws.id}]
        assert [j["dedupe_key"] for j in mine] == [f"sla.reapply:{ws.id}"]

        r = await c.post(
            "/schedules", json={"name": "NY", "body": body("America/New_York"), "group_ids": [gid]}
        )
        second = r.json()
        assert r.status_code == 201 and second["is_default"] is False and second["group_ids"] == [gid]

        # an edit of the hours: version 2, a version row, a recompute job for it
        new = body(week={"mon": [["08:00", "16:00"]]})
        r = await c.patch(f"/schedules/{second['id']}", json={"body": new})
        assert r.status_code == 200, r.text
        assert r.json()["version"] == 2 and r.json()["body"]["week"]["mon"] == [["08:00", "16:00"]]
        async with ws.platform.db.read() as conn:
            versions = (
                (
                    await conn.execute(
                        sa.text(
                            "SELECT version FROM schedule_versions WHERE schedule_id = :s ORDER BY version"
                        ),
                        {"s": second["id"]},
                    )
                )
                .scalars()
                .all()
            )
        assert versions == [1, 2]
        keys = [j["dedupe_key"] for j in await jobs_of(ws, "sla.recompute")]
        assert f"sla.recompute:{second['id']}" in keys
        # renaming alone does not bump the version
        r = await c.patch(f"/schedules/{second['id']}", json={"name": "New York"})
        assert r.json()["version"] == 2 and r.json()["name"] == "New York"

        # making the second the default unsets the first
        r = await c.patch(f"/schedules/{second['id']}", json={"is_default": True})
        assert r.json()["is_default"] is True
        listed = (await c.get("/schedules")).json()
        assert [s["is_default"] for s in listed] == [True, False] and listed[0]["id"] == second["id"]
        # a default cannot be unset, and cannot be deleted while others exist
        body_ = problem(await c.patch(f"/schedules/{second['id']}", json={"is_default": False}), 422)
        assert body_["errors"][0]["field"] == "is_default"
        problem(await c.delete(f"/schedules/{second['id']}"), 409)
        assert (await c.delete(f"/schedules/{first['id']}")).status_code == 204
        assert (await c.delete(f"/schedules/{second['id']}")).status_code == 204  # the last one
        assert (await c.get("/schedules")).json() == []


async def test_body_errors_name_the_part(ws):
    admin = await ws.person(Role.admin)
    async with ws.client(admin) as c:
        cases = [
            ({"timezone": "Mars/Olympus"}, "timezone"),
            ({"week": {"mon": [["09:00", "12:00"], ["11:00", "13:00"]]}}, "week.mon[1]"),
            ({"week": {"tue": [["24:00", "24:00"]]}}, "week.tue[0]"),
            ({"week": {"wed": [["17:00", "09:00"]]}}, "week.wed[0]"),
            ({"holidays": [{"name": "X", "start": "2027-01-02", "end": "2027-01-01"}]}, "holidays[0].end"),
        ]
        for change, field in cases:
            r = await c.post("/schedules", json={"name": "S", "body": {**body(), **change}})
            got = problem(r, 422)
            assert got["errors"][0]["field"] == field, (change, got)
        ok = await c.post("/schedules", json={"name": "S", "body": body(week={"fri": [["00:00", "24:00"]]})})
        assert ok.status_code == 201, ok.text
        dup = problem(await c.post("/schedules", json={"name": "S", "body": body()}), 409)
        assert dup["errors"][0]["field"] == "name"


async def test_groups_of_this_workspace_only_and_one_schedule_each(ws, make_ws):
    admin = await ws.person(Role.admin, groups=["Billing"])
    other = await make_ws("Other")
    await other.person(Role.admin, groups=["Theirs"])
    async with ws.client(admin) as c:
        got = problem(
            await c.post(
                "/schedules", json={"name": "S", "body": body(), "group_ids": [other.groups["Theirs"]]}
            ),
            422,
        )
        assert got["errors"][0]["field"] == "group_ids"
        gid = ws.groups["Billing"]
        a = (await c.post("/schedules", json={"name": "A", "body": body(), "group_ids": [gid]})).json()
        b = (await c.post("/schedules", json={"name": "B", "body": body(), "group_ids": [gid]})).json()
        assert b["group_ids"] == [gid]
        assert (await c.get(f"/schedules/{a['id']}")).json()["group_ids"] == []  # the group moved


async def test_who_may_read_and_write(ws, make_ws):
    admin, agent, customer = (
        await ws.person(Role.admin),
        await ws.person(Role.agent),
        await ws.person(Role.customer),
    )
    async with ws.client(admin) as c:
        sid = (await c.post("/schedules", json={"name": "S", "body": body()})).json()["id"]
    async with ws.client(agent) as c:
        assert (await c.get("/schedules")).status_code == 200
        assert (await c.get(f"/schedules/{sid}")).json()["name"] == "S"
        problem(await c.post("/schedules", json={"name": "T", "body": body()}), 403)
        problem(await c.patch(f"/schedules/{sid}", json={"name": "T"}), 403)
        problem(await c.delete(f"/schedules/{sid}"), 403)
    async with ws.client(customer) as c:
        problem(await c.get("/schedules"), 403)
        problem(await c.get(f"/schedules/{sid}"), 403)
    other = await make_ws("Other")
    admin_b = await other.person(Role.admin)
    async with other.client(admin_b) as c:
        assert (await c.get("/schedules")).json() == []
        problem(await c.get(f"/schedules/{sid}"), 404)
        problem(await c.patch(f"/schedules/{sid}", json={"name": "Mine"}), 404)
        problem(await c.delete(f"/schedules/{sid}"), 404)
        problem(await c.post(f"/schedules/{sid}/holidays/import", json={"country": "DE", "year": 2027}), 404)
    async with ws.client(admin) as c:
        assert (await c.get(f"/schedules/{sid}")).json()["name"] == "S"


async def test_holiday_preview_and_import(ws):
    admin, agent = await ws.person(Role.admin), await ws.person(Role.agent)
    async with ws.client(agent) as c:
        r = await c.get("/schedules/holidays", params={"country": "DE", "subdiv": "BY", "year": 2027})
        assert r.status_code == 200, r.text
        days = {d["date"]: d["name"] for d in r.json()["days"]}
        assert days["2027-03-26"] == "Good Friday" and days["2027-03-29"] == "Easter Monday"
        assert "2027-05-27" in days  # Corpus Christi: Bavaria's, not every state's
        assert r.json()["source"] == "holidays:DE-BY"
        got = problem(await c.get("/schedules/holidays", params={"country": "XX", "year": 2027}), 422)
        assert got["errors"][0]["field"] == "country"
        got = problem(
            await c.get("/schedules/holidays", params={"country": "DE", "subdiv": "ZZ", "year": 2027}), 422
        )
        assert got["errors"][0]["field"] == "subdiv" and "BY" in got["errors"][0]["message"]
        got = problem(await c.get("/schedules/holidays", params={"country": "DE", "year": 1990}), 422)
        assert got["errors"][0]["field"] == "year"
    async with ws.client(admin) as c:
        sid = (await c.post("/schedules", json={"name": "Munich", "body": body()})).json()["id"]
        imp = {"country": "DE", "subdiv": "BY", "year": 2027, "dates_off": ["2027-03-29"]}
        r = await c.post(f"/schedules/{sid}/holidays/import", json=imp)
        assert r.status_code == 200, r.text
        assert r.json()["added"] == len(days)
        hol = {h["start"]: h for h in r.json()["schedule"]["body"]["holidays"]}
        assert hol["2027-03-26"] == {
            "name": "Good Friday",
            "start": "2027-03-26",
            "end": "2027-03-26",
            "enabled": True,
            "source": "holidays:DE-BY",
        }
        assert hol["2027-03-29"]["enabled"] is False  # switched off, kept visible
        version = r.json()["schedule"]["version"]
        again = await c.post(f"/schedules/{sid}/holidays/import", json={**imp, "dates_off": []})
        assert again.json()["added"] == 0
        assert len(again.json()["schedule"]["body"]["holidays"]) == len(days)
        assert again.json()["schedule"]["version"] == version
    async with ws.client(agent) as c:
        problem(await c.post(f"/schedules/{sid}/holidays/import", json=imp), 403)
