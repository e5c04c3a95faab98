"""The organizations API: create, read, search, change, members, and who may see which."""

from __future__ import annotations

from helpline.domains.accounts.models import Role
from tests.conftest import problem


async def new_org(c, **body) -> dict:
    r = await c.post("/organizations", json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def test_create_get_update(ws):
    agent = await ws.person(Role.agent)
    async with ws.client(agent) as c:
        r = await c.post(
            "/organizations",
            json={
                "name": " Acme Corp ",
                "domains": ["ACME.example.com", "@acme.test", "acme.test"],
                "shared_tickets": True,
                "notes": "Key account",
                "tags": ["enterprise"],
                "attributes": {"region": "emea"},
            },
        )
        assert r.status_code == 201, r.text
        org = r.json()
        assert r.headers["Location"] == f"/api/v1/organizations/{org['id']}"
        assert (
            org["name"],
            org["domains"],
            org["shared_tickets"],
            org["notes"],
            org["tags"],
            org["attributes"],
        ) == (
            "Acme Corp",
            ["acme.example.com", "acme.test"],
            True,
            "Key account",
            ["enterprise"],
            {"region": "emea"},
        )
        assert (await c.get(f"/organizations/{org['id']}")).json() == org

        r = await c.patch(
            f"/organizations/{org['id']}",
            json={
                "name": "Acme Inc",
                "domains": ["acme.test"],
                "shared_tickets": False,
                "tags": ["b", "a", "b"],
            },
        )
        assert r.status_code == 200, r.text
        got = r.json()
        assert (got["name"], got["domains"], got["shared_tickets"], got["tags"], got["notes"]) == (
            "Acme Inc",
            ["acme.test"],
            False,
            ["a", "b"],
            "Key account",
        )
        problem(await c.patch("/organizations/999999999", json={"name": "x"}), 404)
        problem(await c.get("/organizations/999999999"), 404)


async def test_names_and_domains_are_unique_per_workspace(make_ws):
    one, two = await make_ws(), await make_ws()
    a1, a2 = await one.person(Role.admin), await two.person(Role.admin)
    async with one.client(a1) as c:
        first = await new_org(c, name="Umbrella", domains=["umbrella.test"])
        body = problem(await c.post("/organizations", json={"name": "Umbrella"}), 409)
        assert body["errors"][0]["field"] == "name"
        body = problem(
            await c.post("/organizations", json={"name": "Other", "domains": ["UMBRELLA.test"]}), 409
        )
        assert body["errors"][0]["field"] == "domains"
        second = await new_org(c, name="Second")
        problem(await c.patch(f"/organizations/{second['id']}", json={"name": "Umbrella"}), 409)
        problem(await c.patch(f"/organizations/{second['id']}", json={"domains": ["umbrella.test"]}), 409)
        # Keeping its own name and domains is not a clash.
        r = await c.patch(
            f"/organizations/{first['id']}", json={"name": "Umbrella", "domains": ["umbrella.test"]}
        )
        assert r.status_code == 200, r.text
    async with two.client(a2) as c:
        await new_org(c, name="Umbrella", domains=["umbrella.test"])  # another workspace: no clash


async def test_list_search_and_paginate(ws):
    light = await ws.person(Role.light_agent)
    admin = await ws.person(Role.admin)
    async with ws.client(admin) as c:
        made = [await new_org(c, name=f"Company {i}", domains=[f"co{i}.test"]) for i in range(5)]
        odd = await new_org(c, name="50%_Off Ltd")
    async with ws.client(light) as c:
        seen, cursor = [], None
        while True:
            page = (
                await c.get("/organizations", params={"limit": 2, **({"cursor": cursor} if cursor else {})})
            ).json()
            assert len(page["items"]) <= 2
            seen += [o["id"] for o in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert seen == [o["id"] for o in made] + [odd["id"]]

        async def search(q: str) -> list[int]:
            r = await c.get("/organizations", params={"q": q})
            assert r.status_code == 200, r.text
            return [o["id"] for o in r.json()["items"]]

        assert await search("company 2") == [made[2]["id"]]
        assert await search("CO4.TEST") == [made[4]["id"]]  # by domain
        assert await search("%_") == [odd["id"]]  # wildcards are literal
        assert await search("zzz") == []
        problem(await c.get("/organizations", params={"cursor": "abc"}), 422)
        # Light agents read organizations; they do not change them.
        problem(await c.patch(f"/organizations/{odd['id']}", json={"notes": "x"}), 403)


async def test_members_of_an_organization(ws):
    agent = await ws.person(Role.agent)
    async with ws.client(agent) as c:
        org = await new_org(c, name="Hooli", domains=["hooli.test"])
        gavin = (await c.post("/contacts", json={"email": "gavin@hooli.test", "name": "Gavin"})).json()
        (await c.post("/contacts", json={"email": "richard@piedpiper.test", "name": "Richard"})).json()
        page = (await c.get(f"/organizations/{org['id']}/contacts")).json()
        assert [m["id"] for m in page["items"]] == [gavin["id"]] and page["next_cursor"] is None
        problem(await c.get("/organizations/999999999/contacts"), 404)


async def test_a_customer_sees_only_their_own_organization(ws):
    agent = await ws.person(Role.agent)
    a, b, loner = [await ws.person(Role.customer) for _ in range(3)]
    async with ws.client(agent) as c:
        mine = await new_org(c, name="Customer Co")
        theirs = await new_org(c, name="Someone Else Inc")
        for who in (a, b):
            r = await c.patch(f"/contacts/{who.contact_id}", json={"organization_id": mine["id"]})
            assert r.status_code == 200, r.text
        r = await c.post(
            "/tickets", json={"subject": "Our invoice", "body": "Wrong total", "requester_id": a.contact_id}
        )
        assert r.status_code == 201, r.text
        ticket_id = r.json()["id"]
    async with ws.client(b) as c:
        assert (await c.get(f"/organizations/{mine['id']}")).json()["name"] == "Customer Co"
        problem(await c.get(f"/organizations/{theirs['id']}"), 404)
        assert [o["id"] for o in (await c.get("/organizations")).json()["items"]] == [mine["id"]]
        # Fellow members stay hidden: a customer's contact list holds only themself.
        members = (await c.get(f"/organizations/{mine['id']}/contacts")).json()["items"]
        assert [m["id"] for m in members] == [b.contact_id]
        problem(await c.get(f"/contacts/{a.contact_id}"), 404)
        problem(await c.patch(f"/organizations/{mine['id']}", json={"shared_tickets": True}), 403)
        problem(await c.post("/organizations", json={"name": "My own org"}), 403)
        problem(await c.get(f"/tickets/{ticket_id}"), 404)
    async with ws.client(agent) as c:
        r = await c.patch(f"/organizations/{mine['id']}", json={"shared_tickets": True})
        assert r.status_code == 200 and r.json()["shared_tickets"] is True
    async with ws.client(b) as c:  # the organization now shares its tickets among its members
        assert (await c.get(f"/tickets/{ticket_id}")).status_code == 200
    async with ws.client(loner) as c:
        assert (await c.get("/organizations")).json()["items"] == []
        problem(await c.get(f"/organizations/{mine['id']}"), 404)
        problem(await c.get(f"/organizations/{mine['id']}/contacts"), 404)


async def test_another_workspace_cannot_see_or_touch_organizations(make_ws):
    one, two = await make_ws(), await make_ws()
    agent1, agent2 = await one.person(Role.agent), await two.person(Role.agent)
    async with one.client(agent1) as c:
        org = await new_org(c, name="Secret Org", domains=["secret.test"])
    async with two.client(agent2) as c:
        problem(await c.get(f"/organizations/{org['id']}"), 404)
        problem(await c.patch(f"/organizations/{org['id']}", json={"name": "Stolen"}), 404)
        problem(await c.get(f"/organizations/{org['id']}/contacts"), 404)
        assert (await c.get("/organizations", params={"q": "secret"})).json()["items"] == []
        body = problem(await c.post("/contacts", json={"name": "X", "organization_id": org["id"]}), 422)
        assert body["errors"][0]["field"] == "organization_id"
        # A contact at that domain in this workspace does not join the other workspace's organization.
        r = await c.post("/contacts", json={"email": "spy@secret.test", "name": "Spy"})
        assert r.status_code == 201 and r.json()["organization_id"] is None
    async with one.client(agent1) as c:
        assert (await c.get(f"/organizations/{org['id']}")).json()["name"] == "Secret Org"


async def test_bad_input_is_a_problem_naming_the_field(ws):
    agent = await ws.person(Role.agent)
    async with ws.client(agent) as c:
        cases = [
            ({"name": "A", "colour": "red"}, "colour"),
            ({"name": ""}, "name"),
            ({"name": "   "}, "name"),
            ({"name": "x" * 201}, "name"),
            ({}, "name"),
            ({"name": "A", "shared_tickets": "maybe"}, "shared_tickets"),
            ({"name": "A", "domains": "acme.test"}, "domains"),
            ({"name": "A", "domains": ["nodot"]}, "domains"),
            ({"name": "A", "domains": ["has space.test"]}, "domains"),
            ({"name": "A", "domains": [f"d{i}.test" for i in range(51)]}, "domains"),
            ({"name": "A", "attributes": {"k": {"nested": True}}}, "attributes"),
        ]
        for body, field in cases:
            got = problem(await c.post("/organizations", json=body), 422)
            fields = [e["field"] for e in got["errors"]]
            assert any(f == field or f.startswith(field + ".") for f in fields), (body, got)
        org = await new_org(c, name="Fine")
        for body, field in [({"name": None}, "name"), ({"domains": None}, "domains"), ({"id": 5}, "id")]:
            got = problem(await c.patch(f"/organizations/{org['id']}", json=body), 422)
            assert got["errors"][0]["field"] == field, got
        problem(await c.get("/organizations/abc"), 422)


async def test_create_is_idempotent_with_a_key(ws):
    admin = await ws.person(Role.admin)
    async with ws.client(admin) as c:
        headers = {"Idempotency-Key": "org-1"}
        first = await c.post("/organizations", json={"name": "Once"}, headers=headers)
        again = await c.post("/organizations", json={"name": "Once"}, headers=headers)
        assert first.status_code == again.status_code == 201
        assert first.json() == again.json() and again.headers["Idempotent-Replayed"] == "true"
