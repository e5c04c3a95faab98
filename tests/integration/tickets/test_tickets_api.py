"""The tickets API as a client uses it: the fixed contract, filters, search, ETags, idempotency."""

from __future__ import annotations

import asyncio
import hashlib

from helpline.domains.accounts.models import Role
from helpline.web.downloads import disposition
from tests.conftest import drain, problem


async def test_contract_create_get_patch_list_messages(ws):
    agent = await ws.person(Role.agent)
    async with ws.client(agent) as c:
        r = await c.post("/contacts", json={"email": "ann@customer.test", "name": "Ann"})
        assert r.status_code == 201 and r.json()["id"]
        r = await c.post(
            "/tickets",
            json={
                "subject": "Printer on fire",
                "body": "It is smoking.",
                "requester": {"email": "bob@customer.test", "name": "Bob"},
                "priority": "high",
                "tags": ["hardware", "fire"],
            },
        )
        assert r.status_code == 201, r.text
        t = r.json()
        assert t["status"] == "new" and t["number"] >= 1 and t["priority"] == "high"
        assert t["tags"] == ["fire", "hardware"]
        assert r.headers["ETag"] == '"v1"'
        got = (await c.get(f"/tickets/{t['id']}")).json()
        assert got["subject"] == "Printer on fire"

        r = await c.patch(f"/tickets/{t['id']}", json={"status": "pending", "assignee_id": agent.user_id})
        assert r.status_code == 200 and r.json()["status"] == "pending"
        assert r.headers["ETag"] == '"v2"'

        r = await c.post(
            f"/tickets/{t['id']}/messages", json={"body": "We sent a technician.", "public": True}
        )
        assert r.status_code == 201 and r.json()["public"] is True
        r = await c.post(
            f"/tickets/{t['id']}/messages", json={"body": "Internal: check warranty", "public": False}
        )
        assert r.status_code == 201
        msgs = (await c.get(f"/tickets/{t['id']}/messages")).json()["items"]
        assert [m["body_text"] for m in msgs] == [
            "It is smoking.",
            "We sent a technician.",
            "Internal: check warranty",
        ]

        page = (await c.get("/tickets", params={"status": "pending"})).json()
        assert [i["id"] for i in page["items"]] == [t["id"]] and page["next_cursor"] is None

        events = (await c.get(f"/tickets/{t['id']}/events")).json()["items"]
        kinds = [(e["kind"], e["field"]) for e in events]
        assert ("created", None) in kinds and ("field_changed", "status") in kinds
        assert ("field_changed", "assignee_id") in kinds
        status_ev = next(e for e in events if e["field"] == "status")
        assert (status_ev["old"], status_ev["new"], status_ev["actor_user_id"]) == (
            "new",
            "pending",
            agent.user_id,
        )


async def test_numbers_are_per_workspace_and_sequential(make_ws):
    one, two = await make_ws(), await make_ws()
    for w in (one, two):
        a = await w.person(Role.admin)
        async with w.client(a) as c:
            numbers = []
            for i in range(3):
                r = await c.post(
                    "/tickets", json={"subject": f"s{i}", "body": "b", "requester": {"email": "x@y.test"}}
                )
                numbers.append(r.json()["number"])
            assert numbers == [1, 2, 3]


async def test_cursor_pagination_and_sorting(ws):
    a = await ws.person(Role.admin)
    async with ws.client(a) as c:
        ids = []
        for i in range(7):
            ids.append(
                (
                    await c.post(
                        "/tickets", json={"subject": f"t{i}", "body": "b", "requester": {"email": "p@q.test"}}
                    )
                ).json()["id"]
            )
        seen, cursor = [], None
        while True:
            params = {"limit": 3, "sort": "number"}
            if cursor:
                params["cursor"] = cursor
            page = (await c.get("/tickets", params=params)).json()
            seen += [i["id"] for i in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert seen == ids
        newest = (await c.get("/tickets", params={"sort": "-created_at", "limit": 2})).json()["items"]
        assert [i["id"] for i in newest] == ids[::-1][:2]
        problem(await c.get("/tickets", params={"cursor": "garbage!!"}), 422)
        problem(await c.get("/tickets", params={"sort": "subject"}), 422)


async def test_filters(ws):
    a = await ws.person(Role.admin, groups=["Billing"])
    async with ws.client(a) as c:
        gid = ws.groups["Billing"]
        t1 = (
            await c.post(
                "/tickets",
                json={
                    "subject": "a",
                    "body": "b",
                    "requester": {"email": "one@a.test"},
                    "tags": ["vip"],
                    "group_id": gid,
                    "priority": "urgent",
                },
            )
        ).json()
        t2 = (
            await c.post(
                "/tickets",
                json={
                    "subject": "b",
                    "body": "b",
                    "requester": {"email": "two@a.test"},
                    "assignee_id": a.user_id,
                },
            )
        ).json()
        assert [i["id"] for i in (await c.get("/tickets", params={"tag": "vip"})).json()["items"]] == [
            t1["id"]
        ]
        assert [i["id"] for i in (await c.get("/tickets", params={"group_id": gid})).json()["items"]] == [
            t1["id"]
        ]
        assert [
            i["id"] for i in (await c.get("/tickets", params={"assignee_id": a.user_id})).json()["items"]
        ] == [t2["id"]]
        assert [
            i["id"] for i in (await c.get("/tickets", params={"unassigned": "true"})).json()["items"]
        ] == [t1["id"]]
        assert [
            i["id"] for i in (await c.get("/tickets", params={"priority": ["urgent", "low"]})).json()["items"]
        ] == [t1["id"]]
        r = await c.get("/tickets", params={"requester_id": t2["requester_id"]})
        assert [i["id"] for i in r.json()["items"]] == [t2["id"]]
        future = "2999-01-01T00:00:00Z"
        assert (await c.get("/tickets", params={"created_after": future})).json()["items"] == []
        assert len((await c.get("/tickets", params={"created_before": future})).json()["items"]) == 2
        problem(await c.get("/tickets", params={"created_after": "2020-01-01T00:00:00"}), 422)


async def test_full_text_search(ws):
    a = await ws.person(Role.admin)
    async with ws.client(a) as c:
        t1 = (
            await c.post(
                "/tickets",
                json={
                    "subject": "Invoice missing",
                    "body": "Where is my invoice for March?",
                    "requester": {"email": "s@a.test"},
                },
            )
        ).json()
        t2 = (
            await c.post(
                "/tickets",
                json={
                    "subject": "Login broken",
                    "body": "Password reset emails never arrive",
                    "requester": {"email": "s@a.test"},
                },
            )
        ).json()
        await c.post(f"/tickets/{t2['id']}/messages", json={"body": "secretword in a note", "public": False})
        await drain(ws.platform)
        hits = lambda r: [i["id"] for i in r.json()["items"]]  # noqa: E731
        assert hits(await c.get("/tickets", params={"q": "invoices"})) == [t1["id"]]  # stemmed
        assert hits(await c.get("/tickets", params={"q": "password email"})) == [t2["id"]]
        assert hits(await c.get("/tickets", params={"q": "secretword"})) == [t2["id"]]
        assert hits(await c.get("/tickets", params={"q": "nothing-like-this"})) == []
        assert hits(await c.get("/tickets", params={"q": '"); DROP TABLE tickets; --'})) == []


async def test_if_match_prevents_lost_updates(ws):
    a, b = await ws.person(Role.agent), await ws.person(Role.agent)
    async with ws.client(a) as ca, ws.client(b) as cb:
        t = (
            await ca.post("/tickets", json={"subject": "s", "body": "b", "requester": {"email": "c@d.test"}})
        ).json()
        etag = (await ca.get(f"/tickets/{t['id']}")).headers["ETag"]
        assert (
            await cb.patch(f"/tickets/{t['id']}", json={"priority": "high"}, headers={"If-Match": etag})
        ).status_code == 200
        body = problem(
            await ca.patch(f"/tickets/{t['id']}", json={"priority": "low"}, headers={"If-Match": etag}), 412
        )
        assert "changed" in body["detail"]
        assert (await ca.get(f"/tickets/{t['id']}")).json()["priority"] == "high"


async def test_idempotency_key_replays_instead_of_duplicating(ws):
    a = await ws.person(Role.agent)
    async with ws.client(a) as c:
        body = {"subject": "Once", "body": "only once", "requester": {"email": "e@f.test"}}
        h = {"Idempotency-Key": "abc-123"}
        r1, r2 = (
            await c.post("/tickets", json=body, headers=h),
            await c.post("/tickets", json=body, headers=h),
        )
        assert r1.status_code == r2.status_code == 201
        assert r1.json()["id"] == r2.json()["id"] and r2.headers.get("Idempotent-Replayed") == "true"
        assert len((await c.get("/tickets")).json()["items"]) == 1
        problem(await c.post("/tickets", json={**body, "subject": "Other"}, headers=h), 422)


async def test_concurrent_creates_get_distinct_numbers(ws):
    a = await ws.person(Role.agent)
    async with ws.client(a) as c:
        rs = await asyncio.gather(
            *[
                c.post("/tickets", json={"subject": f"c{i}", "body": "b", "requester": {"email": "x@c.test"}})
                for i in range(20)
            ]
        )
        assert all(r.status_code == 201 for r in rs), [r.text for r in rs if r.status_code != 201]
        assert sorted(r.json()["number"] for r in rs) == list(range(1, 21))


async def test_merge_split_and_links(ws):
    a = await ws.person(Role.admin)
    async with ws.client(a) as c:
        src = (
            await c.post(
                "/tickets", json={"subject": "dup", "body": "first copy", "requester": {"email": "m@n.test"}}
            )
        ).json()
        dst = (
            await c.post(
                "/tickets", json={"subject": "orig", "body": "original", "requester": {"email": "m@n.test"}}
            )
        ).json()
        r = await c.post(f"/tickets/{src['id']}/merge", json={"target_id": dst["id"]})
        assert r.status_code == 200, r.text
        closed = (await c.get(f"/tickets/{src['id']}")).json()
        assert closed["status"] == "closed" and closed["merged_into_id"] == dst["id"]
        assert {"ticket_id": dst["id"], "kind": "related"} in closed["links"]
        bodies = [m["body_text"] for m in (await c.get(f"/tickets/{dst['id']}/messages")).json()["items"]]
        assert "first copy" in bodies and "original" in bodies
        problem(await c.post(f"/tickets/{src['id']}/merge", json={"target_id": dst["id"]}), 409)

        m = (await c.post(f"/tickets/{dst['id']}/messages", json={"body": "a different problem"})).json()
        r = await c.post(
            f"/tickets/{dst['id']}/split", json={"message_id": m["id"], "subject": "Other problem"}
        )
        assert r.status_code == 201, r.text
        new = r.json()
        assert new["subject"] == "Other problem" and new["requester_id"] == dst["requester_id"]
        assert [x["body_text"] for x in (await c.get(f"/tickets/{new['id']}/messages")).json()["items"]] == [
            "a different problem"
        ]

        third = (
            await c.post(
                "/tickets", json={"subject": "child", "body": "b", "requester": {"email": "m@n.test"}}
            )
        ).json()
        assert (
            await c.post(f"/tickets/{third['id']}/links", json={"target_id": dst["id"], "kind": "child"})
        ).status_code == 201
        assert {"ticket_id": third["id"], "kind": "child"} in (await c.get(f"/tickets/{dst['id']}")).json()[
            "links"
        ]
        assert (await c.delete(f"/tickets/{third['id']}/links/{dst['id']}")).status_code == 204


async def test_bulk_update(ws):
    a = await ws.person(Role.agent)
    async with ws.client(a) as c:
        ids = [
            (
                await c.post(
                    "/tickets", json={"subject": f"b{i}", "body": "b", "requester": {"email": "b@b.test"}}
                )
            ).json()["id"]
            for i in range(3)
        ]
        r = await c.post(
            "/tickets/bulk-update",
            json={"ids": [*ids, 999999], "changes": {"status": "solved", "add_tags": ["done"]}},
        )
        assert r.status_code == 200
        assert r.json()["updated"] == ids and r.json()["failed"][0]["id"] == 999999
        items = (await c.get("/tickets", params={"status": "solved"})).json()["items"]
        assert sorted(i["id"] for i in items) == ids and all(i["tags"] == ["done"] for i in items)


async def test_custom_fields_are_typed_and_validated(ws):
    admin = await ws.person(Role.admin)
    async with ws.client(admin) as c:
        for f in (
            {"key": "plan", "label": "Plan", "type": "dropdown", "options": ["free", "pro"]},
            {"key": "seats", "label": "Seats", "type": "number"},
            {"key": "renewal", "label": "Renewal", "type": "date"},
            {"key": "vip", "label": "VIP", "type": "checkbox"},
        ):
            assert (await c.post("/custom-fields", json=f)).status_code == 201
        problem(await c.post("/custom-fields", json={"key": "x", "label": "X", "type": "dropdown"}), 422)
        t = (
            await c.post(
                "/tickets",
                json={
                    "subject": "s",
                    "body": "b",
                    "requester": {"email": "c@f.test"},
                    "custom_fields": {"plan": "pro", "seats": 5, "renewal": "2027-01-31", "vip": True},
                },
            )
        ).json()
        assert t["custom_fields"] == {"plan": "pro", "seats": 5, "renewal": "2027-01-31", "vip": True}
        for bad in (
            {"plan": "gold"},
            {"seats": "five"},
            {"renewal": "31/01/2027"},
            {"vip": "yes"},
            {"nope": 1},
        ):
            body = problem(await c.patch(f"/tickets/{t['id']}", json={"custom_fields": bad}), 422)
            assert body["errors"][0]["field"] == f"custom_fields.{next(iter(bad))}"
        r = await c.patch(f"/tickets/{t['id']}", json={"custom_fields": {"seats": None}})
        assert "seats" not in r.json()["custom_fields"]


async def test_attachments_upload_and_download(ws):
    a = await ws.person(Role.agent)
    async with ws.client(a) as c:
        up = await c.post("/uploads", files={"file": ("report.pdf", b"%PDF-1.4 hello", "application/pdf")})
        assert up.status_code == 201, up.text
        t = (
            await c.post(
                "/tickets",
                json={
                    "subject": "s",
                    "body": "see attached",
                    "requester": {"email": "g@h.test"},
                    "attachments": [up.json()["token"]],
                },
            )
        ).json()
        msg = (await c.get(f"/tickets/{t['id']}/messages")).json()["items"][0]
        att = msg["attachments"][0]
        assert (att["filename"], att["size"]) == ("report.pdf", 14)
        r = await c.get(att["url"].removeprefix("/api/v1"))
        assert r.content == b"%PDF-1.4 hello" and r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["content-disposition"].startswith("attachment")
        problem(
            await c.post(
                "/tickets",
                json={
                    "subject": "s",
                    "body": "b",
                    "requester": {"email": "g@h.test"},
                    "attachments": [up.json()["token"]],
                },
            ),
            422,
        )  # used once
        problem(await c.post("/uploads", files={"file": ("x.html", b"<script>", "text/html")}), 422)


async def test_html_bodies_are_sanitized(ws):
    a = await ws.person(Role.agent)
    async with ws.client(a) as c:
        t = (
            await c.post(
                "/tickets",
                json={
                    "subject": "s",
                    "html": True,
                    "requester": {"email": "x@s.test"},
                    "body": '<p onclick="x()">Hi <script>alert(1)</script><a href="javascript:x">l</a></p>',
                },
            )
        ).json()
        m = (await c.get(f"/tickets/{t['id']}/messages")).json()["items"][0]
        assert (
            "script" not in m["body_html"]
            and "onclick" not in m["body_html"]
            and "javascript" not in m["body_html"]
        )
        assert m["body_text"].startswith("Hi")


async def test_assignment_notifies_by_mail(ws):
    a, b = await ws.person(Role.agent), await ws.person(Role.agent)
    async with ws.client(a) as c:
        t = (
            await c.post(
                "/tickets", json={"subject": "Help", "body": "b", "requester": {"email": "n@o.test"}}
            )
        ).json()
        await c.patch(f"/tickets/{t['id']}", json={"assignee_id": b.user_id})
    await drain(ws.platform)
    sent = [m for m in ws.platform.mail.sent if m["To"] == b.email]
    assert sent and f"[#{t['number']}]" in sent[-1]["Subject"]


async def test_a_file_lost_from_storage_is_410_with_a_safe_name(ws):
    """Downloads share one path (web/downloads.py): a file the storage lost answers 410 problem+json,
    never a 500; a name with quotes and non-ASCII cannot break the header."""
    a = await ws.person(Role.agent)
    name = "Größe Q3.pdf"
    async with ws.client(a) as c:
        up = await c.post("/uploads", files={"file": (name, b"%PDF-1.4 lost", "application/pdf")})
        assert up.status_code == 201, up.text
        t = await c.post(
            "/tickets",
            json={
                "subject": "s",
                "body": "b",
                "requester": {"email": "l@h.test"},
                "attachments": [up.json()["token"]],
            },
        )
        msg = (await c.get(f"/tickets/{t.json()['id']}/messages")).json()["items"][0]
        url = msg["attachments"][0]["url"].removeprefix("/api/v1")
        r = await c.get(url)
        assert r.headers["content-disposition"] == (
            "attachment; filename=\"Gre Q3.pdf\"; filename*=UTF-8''Gr%C3%B6%C3%9Fe%20Q3.pdf"
        )
        assert (
            disposition('a"b\\c\r\n.pdf')
            == "attachment; filename=\"abc.pdf\"; filename*=UTF-8''a%22b%5Cc%0D%0A.pdf"
        )
        ws.platform.storage._path(hashlib.sha256(b"%PDF-1.4 lost").hexdigest()).unlink()
        problem(await c.get(url), 410)
