"""``POST /api/v1/imports/tickets``: tickets with their history, as an admin sees them afterwards."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from helpline.domains.accounts.models import Role
from helpline.domains.tickets.models import Event, Message, Ticket, TicketImport
from tests.conftest import WS, problem

URL = "/imports/tickets"


def item(source_id: str = "1001", **over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "source_id": source_id,
        "subject": "Printer on fire",
        "created_at": "2024-03-01T09:00:00+01:00",
        "status": "solved",
        "priority": "high",
        "type": "incident",
        "channel": "email",
        "requester": {"email": f"nora.{source_id}@customer.test", "name": "Nora Lind"},
        "tags": ["hardware", "vip"],
        "messages": [
            {
                "author_kind": "customer",
                "created_at": "2024-03-01T09:00:00+01:00",
                "body_text": "The printer is smoking.",
            },
            {
                "author_kind": "agent",
                "created_at": "2024-03-01T10:30:00+01:00",
                "body_html": "<p>Unplug it <script>alert(1)</script>now.</p>",
            },
            {
                "author_kind": "agent",
                "public": False,
                "created_at": "2024-03-01T10:31:00+01:00",
                "body_text": "Third printer this month.",
            },
        ],
        "status_changes": [
            {"at": "2024-03-01T10:30:00+01:00", "status": "pending"},
            {"at": "2024-03-02T08:00:00Z", "status": "solved"},
        ],
    }
    base.update(over)
    return base


async def count(ws: WS, table: Any) -> int:
    async with ws.platform.db.read() as conn:
        query = sa.select(sa.func.count()).select_from(table).where(table.c.workspace_id == ws.id)
        return int((await conn.execute(query)).scalar_one())


TABLES = (Ticket.__table__, Message.__table__, Event.__table__, TicketImport.__table__)


async def test_import_writes_history_with_its_times_in_order(ws: WS) -> None:
    admin = await ws.person(Role.admin, name="Maya Admin")
    agent = await ws.person(Role.agent, name="Jonas Agent", email="jonas@helpdesk.test")
    await ws.person(Role.customer, email="nora.1001@customer.test")  # an existing contact is matched
    body = item()
    body["assignee"] = agent.email
    body["messages"][1]["author"] = {"email": agent.email}
    async with ws.client(admin) as c:
        r = await c.post(URL, json={"source": "zendesk", "tickets": [body]})
        assert r.status_code == 200, r.text
        out = r.json()
        assert (out["created"], out["unchanged"], out["refused"]) == (1, 0, [])
        (t,) = out["tickets"]
        assert t["source_id"] == "1001" and t["result"] == "created"
        tid = t["ticket_id"]

        ticket = (await c.get(f"/tickets/{tid}")).json()
        assert ticket["status"] == "solved" and ticket["priority"] == "high"
        assert ticket["number"] == t["number"]
        assert ticket["created_at"].startswith("2024-03-01T08:00:00")
        assert ticket["updated_at"].startswith("2024-03-02T08:00:00")
        assert ticket["assignee_id"] == agent.user_id
        assert sorted(ticket["tags"]) == ["hardware", "vip"]

        messages = (await c.get(f"/tickets/{tid}/messages")).json()["items"]
        assert [m["created_at"][:19] for m in messages] == [
            "2024-03-01T08:00:00",
            "2024-03-01T09:30:00",
            "2024-03-01T09:31:00",
        ]
        customer, reply, note = messages
        assert customer["author_kind"] == "customer" and customer["author_contact_id"] is not None
        assert reply["author_user_id"] == agent.user_id and reply["public"] is True
        assert "<script>" not in reply["body_html"] and "Unplug it" in reply["body_text"]
        assert note["public"] is False and note["author_user_id"] == admin.user_id  # no author: the admin

        events = (await c.get(f"/tickets/{tid}/events")).json()["items"]
    kinds = [(e["kind"], e["field"], e["created_at"][:19]) for e in events]
    assert kinds == [
        ("created", None, "2024-03-01T08:00:00"),
        ("message_added", None, "2024-03-01T08:00:00"),
        ("message_added", None, "2024-03-01T09:30:00"),
        ("field_changed", "status", "2024-03-01T09:30:00"),
        ("message_added", None, "2024-03-01T09:31:00"),
        ("field_changed", "status", "2024-03-02T08:00:00"),
    ]
    ids = [e["id"] for e in events]
    assert ids == sorted(ids)  # the feed delivers by id: ids grow with time
    assert {e["actor_kind"] for e in events} == {"import"}
    assert {e["actor_user_id"] for e in events} == {admin.user_id}
    assert events[0]["new"]["status"] == "new" and events[0]["new"]["assignee_id"] == agent.user_id
    assert [e["new"]["author_kind"] for e in events if e["kind"] == "message_added"] == [
        "customer",
        "agent",
        "agent",
    ]
    assert [(e["old"], e["new"]) for e in events if e["field"] == "status"] == [
        ("new", "pending"),
        ("pending", "solved"),
    ]
    async with ws.platform.db.read() as conn:
        solved_at = (
            await conn.execute(sa.select(Ticket.__table__.c.solved_at).where(Ticket.__table__.c.id == tid))
        ).scalar_one()
    assert solved_at == datetime(2024, 3, 2, 8, tzinfo=UTC)


async def test_imported_ticket_page_history_and_search(ws: WS, console: Any) -> None:
    admin, page = await console(Role.admin, name="Maya Admin")
    async with ws.client(admin.token) as c:
        r = await c.post(URL, json={"source": "zendesk", "tickets": [item("77", subject="Quokka escape")]})
        tid = r.json()["tickets"][0]["ticket_id"]
        found = (await c.get("/tickets", params={"q": "quokka"})).json()["items"]
    assert [t["id"] for t in found] == [tid]  # indexed at once, no job to wait for
    html = (await page.get(f"/tickets/{tid}")).text
    assert "Nora Lind opened this by email (imported by Maya Admin)" in html
    assert "The status changed from pending to solved (imported)" in html
    assert "The printer is smoking." in html


async def test_same_items_again_change_nothing(ws: WS) -> None:
    admin = await ws.person(Role.admin)
    batch = {"source": "zendesk", "tickets": [item("1"), item("2")]}
    async with ws.client(admin) as c:
        first = (await c.post(URL, json=batch)).json()
        before = [await count(ws, t) for t in TABLES]
        second = (await c.post(URL, json=batch)).json()
        after = [await count(ws, t) for t in TABLES]
        other_source = (await c.post(URL, json={"source": "freshdesk", "tickets": [item("1")]})).json()
    assert (first["created"], first["unchanged"]) == (2, 0)
    assert (second["created"], second["unchanged"]) == (0, 2)
    assert [t["result"] for t in second["tickets"]] == ["unchanged", "unchanged"]
    assert [t["ticket_id"] for t in second["tickets"]] == [t["ticket_id"] for t in first["tickets"]]
    assert before == after and before[0] == 2
    assert other_source["created"] == 1  # source ids are per source


async def test_bad_items_are_refused_by_field_and_the_rest_imports(ws: WS) -> None:
    admin = await ws.person(Role.admin)
    future = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    bad = [
        item("n1", created_at="2024-03-01T09:00:00"),  # naive
        item("n2", group="Nobody's group"),
        item("n3", assignee="ghost@helpdesk.test"),
        item("n4", created_at=future),
        item(
            "n5",
            messages=[{"author_kind": "customer", "created_at": "2024-02-01T00:00:00Z", "body_text": "x"}],
        ),
        item("n6", status="new"),
        item("n7", status="bogus"),
        {"subject": "no id"},
    ]
    async with ws.client(admin) as c:
        r = await c.post(URL, json={"source": "zendesk", "tickets": [item("good"), *bad]})
    out = r.json()
    assert out["created"] == 1 and out["tickets"][0]["source_id"] == "good"
    refused = {x["index"]: (x["source_id"], {e["field"] for e in x["errors"]}) for x in out["refused"]}
    assert refused[1] == ("n1", {"created_at"})
    assert refused[2] == ("n2", {"group"})
    assert refused[3] == ("n3", {"assignee"})
    assert refused[4][1] >= {"created_at"}
    assert refused[5] == ("n5", {"messages.0.created_at"})
    assert refused[6] == ("n6", {"status"})
    assert refused[7] == ("n7", {"status"})
    assert refused[8][0] is None and {"source_id", "created_at", "requester"} <= refused[8][1]
    messages = {e["message"] for x in out["refused"] for e in x["errors"]}
    assert "is before the ticket's created_at" in messages
    assert any("no group named" in m for m in messages)


async def test_unknown_agent_is_written_as_the_admin_and_noted(ws: WS) -> None:
    admin = await ws.person(Role.admin)
    body = item("u1")
    body["messages"][1]["author"] = {"email": "left-the-company@old.test"}
    async with ws.client(admin) as c:
        out = (await c.post(URL, json={"source": "zendesk", "tickets": [body]})).json()
        tid = out["tickets"][0]["ticket_id"]
        messages = (await c.get(f"/tickets/{tid}/messages")).json()["items"]
    assert messages[1]["author_user_id"] == admin.user_id
    assert out["tickets"][0]["notes"] == [
        f"messages.1.author: no staff member left-the-company@old.test; written as {admin.email}"
    ]


async def test_malformed_requests_and_the_batch_limit(ws: WS) -> None:
    admin = await ws.person(Role.admin)
    async with ws.client(admin) as c:
        too_many = await c.post(
            URL, json={"source": "zendesk", "tickets": [item(str(i)) for i in range(101)]}
        )
        no_source = await c.post(URL, json={"tickets": []})
        not_json = await c.post(URL, content=b"[1,", headers={"content-type": "application/json"})
    assert field_error_of(problem(too_many, 422), "tickets")
    assert "100" in field_error_of(problem(too_many, 422), "tickets")
    assert field_error_of(problem(no_source, 422), "source")
    assert problem(not_json, 400)["code"] == "malformed_body"


def field_error_of(body: dict[str, Any], name: str) -> str:
    for e in body.get("errors", []):
        if e["field"] == name or e["field"].endswith(f".{name}") or e["field"] == f"body.{name}":
            return str(e["message"])
    return ""


async def test_agents_may_not_import_and_workspaces_stay_apart(ws: WS, make_ws: Any) -> None:
    agent = await ws.person(Role.agent)
    admin_a = await ws.person(Role.admin)
    other = await make_ws("Other Co")
    admin_b = await other.person(Role.admin)
    async with ws.client(agent) as c:
        problem(await c.post(URL, json={"source": "zendesk", "tickets": [item("1")]}), 403)
    assert await count(ws, Ticket.__table__) == 0
    async with other.client(admin_b) as c:
        b = (await c.post(URL, json={"source": "zendesk", "tickets": [item("1")]})).json()
    async with ws.client(admin_a) as c:
        a = (await c.post(URL, json={"source": "zendesk", "tickets": [item("1")]})).json()
        problem(await c.get(f"/tickets/{b['tickets'][0]['ticket_id']}"), 404)
    assert b["created"] == 1 and a["created"] == 1  # the same source id, per workspace
    assert await count(ws, Ticket.__table__) == 1 and await count(other, Ticket.__table__) == 1
