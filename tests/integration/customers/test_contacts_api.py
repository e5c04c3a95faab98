"""The contacts API as a client uses it: create, read, search, change, identities, merge, and who may."""

from __future__ import annotations

import asyncio

from helpline.domains.accounts.models import Role
from tests.conftest import problem


async def new_contact(c, **body) -> dict:
    r = await c.post("/contacts", json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def test_contract_create_answers_201_with_id_and_409_on_same_email(ws):
    agent = await ws.person(Role.agent)
    async with ws.client(agent) as c:
        r = await c.post("/contacts", json={"email": "Ann@Customer.test", "name": "Ann"})
        assert r.status_code == 201, r.text
        ann = r.json()
        assert ann["id"] and r.headers["Location"] == f"/api/v1/contacts/{ann['id']}"
        assert ann["email"] == "ann@customer.test" and ann["name"] == "Ann"
        assert [(i["kind"], i["value"], i["primary"]) for i in ann["identities"]] == [
            ("email", "ann@customer.test", True)
        ]
        assert ann["merged_into_id"] is None and ann["organization_id"] is None
        assert (await c.get(f"/contacts/{ann['id']}")).json() == ann

        body = problem(
            await c.post("/contacts", json={"email": "ANN@customer.test", "name": "Other Ann"}), 409
        )
        assert body["errors"][0]["field"] == "email"


async def test_create_with_identities_notes_tags_attributes(ws):
    agent = await ws.person(Role.agent)
    async with ws.client(agent) as c:
        bo = await new_contact(
            c,
            name="Bo",
            identities=[
                {"kind": "phone", "value": "+44 20 7946 0000"},
                {"kind": "twitter", "value": "@BoTweets"},
            ],
            notes="VIP",
            tags=["vip", "beta", "vip"],
            attributes={"plan": "gold", "seats": 12},
        )
        assert bo["email"] is None
        assert [(i["kind"], i["value"], i["primary"]) for i in bo["identities"]] == [
            ("phone", "+442079460000", True),
            ("twitter", "botweets", False),
        ]
        assert bo["tags"] == ["beta", "vip"] and bo["attributes"] == {"plan": "gold", "seats": 12}
        assert bo["notes"] == "VIP"
        # Another contact cannot take an identity that is Bo's (normalised the same way).
        body = problem(
            await c.post(
                "/contacts",
                json={"name": "Imposter", "identities": [{"kind": "phone", "value": "+44 (20) 7946-0000"}]},
            ),
            409,
        )
        assert body["errors"][0]["field"] == "identities"


async def test_list_search_and_paginate(ws):
    agent = await ws.person(Role.light_agent)  # light agents read contacts, they do not write them
    admin = await ws.person(Role.admin)
    async with ws.client(admin) as c:
        made = [await new_contact(c, email=f"p{i}@shop.test", name=f"Person {i}") for i in range(5)]
        odd = await new_contact(c, name="100% Real", identities=[{"kind": "telegram", "value": "Tele_Gram"}])
    async with ws.client(agent) as c:
        seen, cursor = [], None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = (await c.get("/contacts", params=params)).json()
            assert len(page["items"]) <= 2
            seen += [i["id"] for i in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        ours = [m["id"] for m in made] + [odd["id"]]
        assert [i for i in seen if i in ours] == ours and len(seen) == len(set(seen))

        async def search(q: str) -> list[int]:
            r = await c.get("/contacts", params={"q": q})
            assert r.status_code == 200, r.text
            return [i["id"] for i in r.json()["items"]]

        assert await search("PERSON 3") == [made[3]["id"]]  # name, case-insensitive
        assert await search("p4@SHOP") == [made[4]["id"]]  # identity value
        assert await search("tele_gram") == [odd["id"]]  # "_" is literal, not a wildcard
        assert await search("100%") == [odd["id"]]  # "%" is literal, not a wildcard
        assert await search("0% R") == [odd["id"]]
        assert await search("%") == [odd["id"]]
        assert await search("nobody-at-all") == []
        problem(await c.get("/contacts", params={"cursor": "not-a-cursor"}), 422)
        problem(await c.get("/contacts", params={"limit": 1000}), 422)


async def test_update_contact_and_its_organization(ws):
    agent = await ws.person(Role.agent)
    async with ws.client(agent) as c:
        org = (await c.post("/organizations", json={"name": "Globex"})).json()
        cid = (await new_contact(c, email="hank@globex.test", name="Hank"))["id"]
        r = await c.patch(
            f"/contacts/{cid}",
            json={
                "name": "  Hank Scorpio ",
                "tags": ["boss"],
                "notes": "n",
                "organization_id": org["id"],
                "attributes": {"tier": 1},
            },
        )
        assert r.status_code == 200, r.text
        got = r.json()
        assert (got["name"], got["tags"], got["notes"], got["organization_id"], got["attributes"]) == (
            "Hank Scorpio",
            ["boss"],
            "n",
            org["id"],
            {"tier": 1},
        )
        assert got["updated_at"] >= got["created_at"]
        members = (await c.get("/contacts", params={"organization_id": org["id"]})).json()["items"]
        assert [m["id"] for m in members] == [cid]

        r = await c.patch(f"/contacts/{cid}", json={"organization_id": None})
        assert (
            r.status_code == 200
            and r.json()["organization_id"] is None
            and r.json()["name"] == "Hank Scorpio"
        )
        body = problem(await c.patch(f"/contacts/{cid}", json={"name": None}), 422)
        assert body["errors"][0]["field"] == "name"
        body = problem(await c.patch(f"/contacts/{cid}", json={"organization_id": 999_999_999}), 422)
        assert body["errors"][0]["field"] == "organization_id"
        problem(await c.patch("/contacts/999999999", json={"name": "x"}), 404)


async def test_new_contact_at_an_organization_domain_joins_it(ws):
    agent = await ws.person(Role.agent)
    async with ws.client(agent) as c:
        org = (
            await c.post("/organizations", json={"name": "Initech", "domains": ["initech.example.com"]})
        ).json()
        peter = await new_contact(c, email="peter@INITECH.example.com", name="Peter")
        assert peter["organization_id"] == org["id"]
        # So does a requester first seen on a ticket, and that ticket belongs to the organization.
        r = await c.post(
            "/tickets",
            json={
                "subject": "TPS report",
                "body": "Cover sheet?",
                "requester": {"email": "bill@initech.example.com", "name": "Bill"},
            },
        )
        assert r.status_code == 201, r.text
        bill_id = r.json()["requester_id"]
        assert r.json()["organization_id"] == org["id"]
        assert (await c.get(f"/contacts/{bill_id}")).json()["organization_id"] == org["id"]
        other = await new_contact(c, email="milton@basement.test", name="Milton")
        assert other["organization_id"] is None
        # An email given only as an identity counts too, and becomes the primary one.
        sam = await new_contact(
            c,
            name="Samir",
            identities=[
                {"kind": "phone", "value": "555 0199"},
                {"kind": "email", "value": "sam@initech.example.com"},
            ],
        )
        assert sam["organization_id"] == org["id"] and sam["email"] == "sam@initech.example.com"
        assert [i["kind"] for i in sam["identities"] if i["primary"]] == ["email"]
        page = (await c.get(f"/organizations/{org['id']}/contacts")).json()
        assert [m["id"] for m in page["items"]] == [peter["id"], bill_id, sam["id"]]


async def test_identities_add_and_remove(ws):
    agent = await ws.person(Role.agent)
    async with ws.client(agent) as c:
        cid = (await new_contact(c, email="mo@bar.test", name="Mo"))["id"]
        taken = (await new_contact(c, email="barney@bar.test", name="Barney"))["id"]
        r = await c.post(f"/contacts/{cid}/identities", json={"kind": "email", "value": "Moe@Tavern.test"})
        assert r.status_code == 201, r.text
        r = await c.post(f"/contacts/{cid}/identities", json={"kind": "whatsapp", "value": "+1 555 0100"})
        assert r.status_code == 201, r.text
        got = r.json()
        assert [(i["kind"], i["value"], i["primary"]) for i in got["identities"]] == [
            ("email", "mo@bar.test", True),
            ("email", "moe@tavern.test", False),
            ("whatsapp", "+15550100", False),
        ]
        first, second, phone = (i["id"] for i in got["identities"])

        body = problem(
            await c.post(f"/contacts/{taken}/identities", json={"kind": "email", "value": "mo@bar.test"}), 409
        )
        assert body["errors"][0]["field"] == "value"
        body = problem(
            await c.post(f"/contacts/{cid}/identities", json={"kind": "fax", "value": "123456"}), 422
        )
        assert body["errors"][0]["field"] == "kind"
        body = problem(
            await c.post(f"/contacts/{cid}/identities", json={"kind": "email", "value": "nope"}), 422
        )
        assert body["errors"][0]["field"] == "value"

        # Removing the primary email hands "primary" (and the contact's email) to the other email.
        assert (await c.delete(f"/contacts/{cid}/identities/{first}")).status_code == 204
        got = (await c.get(f"/contacts/{cid}")).json()
        assert got["email"] == "moe@tavern.test"
        assert [(i["id"], i["primary"]) for i in got["identities"]] == [(second, True), (phone, False)]
        # The freed address can be used again.
        assert (await c.post("/contacts", json={"email": "mo@bar.test", "name": "New Mo"})).status_code == 201

        problem(await c.delete(f"/contacts/{cid}/identities/{first}"), 404)
        problem(await c.delete(f"/contacts/{taken}/identities/{phone}"), 404)  # not that contact's
        assert (await c.delete(f"/contacts/{cid}/identities/{second}")).status_code == 204
        assert (await c.get(f"/contacts/{cid}")).json()["email"] is None
        problem(await c.delete(f"/contacts/{cid}/identities/{phone}"), 409)  # the last one stays


async def test_merge_moves_tickets_and_identities(ws):
    agent = await ws.person(Role.agent)
    async with ws.client(agent) as c:
        target = await new_contact(c, email="jane@work.test", name="Jane", tags=["a"])
        r = await c.post(
            "/tickets",
            json={
                "subject": "Help",
                "body": "From my home address",
                "requester": {"email": "jane@home.example.com", "name": "Jane H"},
            },
        )
        assert r.status_code == 201, r.text
        ticket = r.json()
        source_id = ticket["requester_id"]
        assert source_id != target["id"]
        await c.patch(f"/contacts/{source_id}", json={"tags": ["b"], "notes": "home"})

        r = await c.post(f"/contacts/{target['id']}/merge", json={"source_id": source_id})
        assert r.status_code == 200, r.text
        merged = r.json()
        assert merged["id"] == target["id"] and merged["email"] == "jane@work.test"
        assert sorted(i["value"] for i in merged["identities"]) == ["jane@home.example.com", "jane@work.test"]
        assert merged["tags"] == ["a", "b"] and merged["notes"] == "home"

        assert (await c.get(f"/tickets/{ticket['id']}")).json()["requester_id"] == target["id"]
        mine = (await c.get("/tickets", params={"requester_id": target["id"]})).json()["items"]
        assert [t["id"] for t in mine] == [ticket["id"]]
        source = (await c.get(f"/contacts/{source_id}")).json()
        assert source["merged_into_id"] == target["id"] and source["identities"] == []
        listed = [i["id"] for i in (await c.get("/contacts")).json()["items"]]
        assert target["id"] in listed and source_id not in listed
        # Mail from the old address now lands on the target.
        r = await c.post(
            "/tickets",
            json={"subject": "Again", "body": "b", "requester": {"email": "jane@home.example.com"}},
        )
        assert r.json()["requester_id"] == target["id"]

        problem(await c.post(f"/contacts/{target['id']}/merge", json={"source_id": source_id}), 409)
        problem(await c.post(f"/contacts/{source_id}/merge", json={"source_id": target["id"]}), 409)
        body = problem(await c.post(f"/contacts/{target['id']}/merge", json={"source_id": target["id"]}), 422)
        assert body["errors"][0]["field"] == "source_id"
        problem(await c.post(f"/contacts/{target['id']}/merge", json={"source_id": 999_999_999}), 404)
        problem(await c.patch(f"/contacts/{source_id}", json={"name": "x"}), 409)


async def test_only_admins_and_agents_write(ws):
    admin, light = await ws.person(Role.admin), await ws.person(Role.light_agent)
    customer = await ws.person(Role.customer)
    async with ws.client(admin) as c:
        cid = (await new_contact(c, email="zed@corp.test", name="Zed"))["id"]
        other = (await new_contact(c, email="yan@corp.test", name="Yan"))["id"]
    for who in (light, customer):
        async with ws.client(who) as c:
            problem(await c.post("/contacts", json={"email": "new@corp.test", "name": "New"}), 403)
            problem(await c.post("/organizations", json={"name": f"Org of {who.role}"}), 403)
            target = cid if who is light else customer.contact_id
            problem(
                await c.post(f"/contacts/{target}/identities", json={"kind": "phone", "value": "5550100"}),
                403,
            )
            problem(
                await c.post(f"/contacts/{target}/merge", json={"source_id": other}),
                404 if who is customer else 403,
            )
    async with ws.client(light) as c:
        assert (await c.get(f"/contacts/{cid}")).status_code == 200
        problem(await c.patch(f"/contacts/{cid}", json={"name": "Zed 2"}), 403)
        ident = (await c.get(f"/contacts/{cid}")).json()["identities"][0]["id"]
        problem(await c.delete(f"/contacts/{cid}/identities/{ident}"), 403)
    async with ws.client(customer) as c:
        r = await c.patch(f"/contacts/{customer.contact_id}", json={"name": "Call me Al"})
        assert r.status_code == 200 and r.json()["name"] == "Call me Al"
        body = problem(await c.patch(f"/contacts/{customer.contact_id}", json={"tags": ["vip"]}), 403)
        assert body["errors"][0]["field"] == "tags"
        problem(
            await c.patch(f"/contacts/{customer.contact_id}", json={"name": "Al", "organization_id": 1}), 403
        )
        problem(await c.patch(f"/contacts/{cid}", json={"name": "Hijack"}), 404)


async def test_a_customer_sees_only_their_own_contact(ws):
    agent = await ws.person(Role.agent)
    a, b = await ws.person(Role.customer, name="Alice"), await ws.person(Role.customer, name="Bob")
    async with ws.client(agent) as c:
        await new_contact(c, email="someone@else.test", name="Someone")
    async with ws.client(b) as c:
        own = await c.get(f"/contacts/{b.contact_id}")
        assert own.status_code == 200 and own.json()["email"] == b.email
        problem(await c.get(f"/contacts/{a.contact_id}"), 404)
        problem(await c.get("/contacts/999999999"), 404)  # the same answer as for a missing row
        listed = (await c.get("/contacts")).json()
        assert [i["id"] for i in listed["items"]] == [b.contact_id] and listed["next_cursor"] is None
        assert (await c.get("/contacts", params={"q": a.email})).json()["items"] == []
        ident = own.json()["identities"][0]["id"]
        problem(await c.delete(f"/contacts/{a.contact_id}/identities/{ident}"), 404)


async def test_another_workspace_cannot_see_or_touch_contacts(make_ws):
    one, two = await make_ws(), await make_ws()
    agent1, agent2 = await one.person(Role.agent), await two.person(Role.admin)
    async with one.client(agent1) as c:
        cid = (await new_contact(c, email="secret@one.test", name="Secret"))["id"]
        other = (await new_contact(c, email="other@one.test", name="Other"))["id"]
    async with two.client(agent2) as c:
        problem(await c.get(f"/contacts/{cid}"), 404)
        problem(await c.patch(f"/contacts/{cid}", json={"name": "Mine now"}), 404)
        problem(await c.post(f"/contacts/{cid}/identities", json={"kind": "phone", "value": "5550100"}), 404)
        problem(await c.post(f"/contacts/{cid}/merge", json={"source_id": other}), 404)
        mine = (await new_contact(c, email="secret@one.test", name="Same address, other workspace"))["id"]
        problem(await c.post(f"/contacts/{mine}/merge", json={"source_id": cid}), 404)
        found = (await c.get("/contacts", params={"q": "secret"})).json()["items"]
        assert [i["id"] for i in found] == [mine]
    async with one.client(agent1) as c:
        assert (await c.get(f"/contacts/{cid}")).json()["name"] == "Secret"


async def test_bad_input_is_a_problem_naming_the_field(ws):
    agent = await ws.person(Role.agent)
    async with ws.client(agent) as c:
        cases = [
            ({"email": "a@b.test", "name": "A", "bogus": 1}, "bogus"),
            ({"email": "a@b.test", "name": 123}, "name"),
            ({"email": "not-an-address", "name": "A"}, "email"),
            ({"name": "A", "identities": [{"kind": "pager", "value": "123"}]}, "identities.0.kind"),
            ({"name": "A", "identities": [{"kind": "phone", "value": "12"}]}, "identities.0.value"),
            ({"name": "A", "identities": "phone"}, "identities"),
            ({"name": "A", "tags": ["ok"] * 51}, "tags"),
            ({"name": "A", "tags": ["two words"]}, "tags.0"),
            ({"name": "x" * 201}, "name"),
            ({"name": "A", "organization_id": "acme"}, "organization_id"),
            ({"name": "A", "attributes": {"k" * 65: 1}}, "attributes"),
        ]
        for body, field in cases:
            got = problem(await c.post("/contacts", json=body), 422)
            fields = [e["field"] for e in got["errors"]]
            assert any(f == field or f.startswith(field + ".") for f in fields), (body, got)
        got = problem(await c.post("/contacts", json={"email": "a@b.test", "name": "A", "bogus": 1}), 422)
        assert got["errors"] == [{"field": "bogus", "message": "unknown field"}]
        problem(await c.post("/contacts", json={}), 422)
        problem(
            await c.post("/contacts", content=b"{not json", headers={"Content-Type": "application/json"}), 400
        )
        cid = (await new_contact(c, email="ok@b.test", name="Ok"))["id"]
        got = problem(await c.patch(f"/contacts/{cid}", json={"email": "new@b.test"}), 422)
        assert got["errors"][0]["field"] == "email"
        got = problem(await c.post(f"/contacts/{cid}/merge", json={"source_id": "x"}), 422)
        assert got["errors"][0]["field"] == "source_id"
        problem(await c.get("/contacts/not-a-number"), 422)
        problem(await c.get("/contacts/99999999999999999999"), 422)  # past 64 bits: no id, no crash


async def test_create_is_idempotent_with_a_key(ws):
    agent = await ws.person(Role.agent)
    async with ws.client(agent) as c:
        headers = {"Idempotency-Key": "contact-1"}
        body = {"email": "once@only.test", "name": "Once"}
        first = await c.post("/contacts", json=body, headers=headers)
        again = await c.post("/contacts", json=body, headers=headers)
        assert first.status_code == again.status_code == 201
        assert first.json()["id"] == again.json()["id"] and again.headers["Idempotent-Replayed"] == "true"
        problem(await c.post("/contacts", json={**body, "name": "Twice"}, headers=headers), 422)
        assert len((await c.get("/contacts", params={"q": "once@only"})).json()["items"]) == 1


async def test_unauthenticated_and_openapi(ws):
    async with ws.client() as c:
        problem(await c.get("/contacts"), 401)
        spec = (await c.get("/openapi.json")).json()
    post = spec["paths"]["/api/v1/contacts"]["post"]
    assert post["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].endswith("/ContactRead")
    assert "/api/v1/contacts/{contact_id}/merge" in spec["paths"]


async def test_racing_creates_of_one_email_give_one_contact_and_409s(ws):
    agent = await ws.person(Role.agent)
    async with ws.client(agent) as c:
        body = {"email": "race@track.test", "name": "Racer"}
        answers = await asyncio.gather(*(c.post("/contacts", json=body) for _ in range(6)))
    codes = sorted(r.status_code for r in answers)
    assert codes == [201] + [409] * 5, [r.text for r in answers]
    for r in answers:
        if r.status_code == 409:
            problem(r, 409)
