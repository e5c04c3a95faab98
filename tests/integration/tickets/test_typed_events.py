"""Every event row the application's flows write is a typed event: it parses, and writing the parsed
event again gives the same row. The flows: a ticket's life through the API (create, replies and
notes, every property, tags, people, links, split, merge), a customer's reply, email (new mail, a
reply copying someone, a bounce's note), chat (start, lines, auto-assignment, end), a contact merge
and an erasure. The event list API answers with the same rows (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from helpline.domains.accounts.models import Role
from helpline.domains.channels.chat import queries as chat_queries
from helpline.domains.channels.chat import routing
from helpline.domains.channels.chat import service as chat
from helpline.domains.tickets import events
from helpline.domains.tickets.models import Event
from tests.conftest import PASSWORD, WS, drain
from tests.integration.chat.conftest import HOST_ORIGIN, principal
from tests.integration.email.conftest import deliver, mail, make_mailbox

events_t = Event.__table__


async def _api_flows(ws: WS) -> None:
    admin = await ws.person(Role.admin, groups=["Billing"])
    agent = await ws.person(Role.agent)
    customer = await ws.person(Role.customer, password=PASSWORD)
    async with ws.client(admin) as c:
        assert (
            await c.post("/custom-fields", json={"key": "plan", "label": "Plan", "type": "text"})
        ).status_code == 201
        r = await c.post(
            "/tickets",
            json={
                "subject": "Printer",
                "body": "Smoke.",
                "requester": {"email": "ann@customer.test"},
                "assignee_id": agent.user_id,
                "tags": ["hw"],
                "cc_emails": ["boss@customer.test"],
            },
        )
        assert r.status_code == 201, r.text
        a = r.json()["id"]
        assert (await c.post(f"/tickets/{a}/messages", json={"body": "On it."})).status_code == 201
        assert (
            await c.post(f"/tickets/{a}/messages", json={"body": "psst", "public": False})
        ).status_code == 201
        r = await c.patch(
            f"/tickets/{a}",
            json={
                "subject": "Printer on fire",
                "status": "pending",
                "priority": "urgent",
                "type": "incident",
                "group_id": ws.groups["Billing"],
                "assignee_id": admin.user_id,
                "due_at": "2030-01-01T00:00:00Z",
                "requester_id": customer.contact_id,
                "custom_fields": {"plan": "gold"},
                "add_tags": ["fire"],
                "follower_ids": [agent.user_id],
                "cc_emails": ["cfo@customer.test"],
            },
        )
        assert r.status_code == 200, r.text
        r = await c.post(
            "/tickets", json={"subject": "Other", "body": "x", "requester": {"email": "bo@customer.test"}}
        )
        b = r.json()["id"]
        assert (
            await c.post(f"/tickets/{a}/links", json={"target_id": b, "kind": "child"})
        ).status_code == 201
        assert (await c.delete(f"/tickets/{a}/links/{b}")).status_code == 204
        msgs = (await c.get(f"/tickets/{a}/messages")).json()["items"]
        r = await c.post(f"/tickets/{a}/split", json={"message_id": msgs[-1]["id"], "subject": "Split off"})
        assert r.status_code == 201, r.text
        assert (await c.post(f"/tickets/{b}/merge", json={"target_id": a})).status_code == 200
    async with ws.client(customer) as c:
        r = await c.post(f"/tickets/{a}/messages", json={"body": "Thanks, again broken."})
        assert r.status_code == 201, r.text
    async with ws.client(admin) as c:
        # A contact merge moves tickets to another requester; an erasure redacts a contact.
        one = (await c.post("/contacts", json={"email": "dup1@customer.test"})).json()["id"]
        two = (await c.post("/contacts", json={"email": "dup2@customer.test"})).json()["id"]
        r = await c.post("/tickets", json={"subject": "Dup", "body": "x", "requester_id": two})
        assert r.status_code == 201
        assert (await c.post(f"/contacts/{one}/merge", json={"source_id": two})).status_code == 200
        r = await c.post(f"/contacts/{one}/erase", json={"confirm": "ERASE"})
        assert r.status_code == 200, r.text


async def _email_flows(ws: WS) -> None:
    box = await make_mailbox(ws.platform, ws.id)
    first = f"<{uuid.uuid4().hex}@customer.test>"
    await deliver(ws.platform, box, mail(to=box["address"], message_id=first, cc="pat@customer.test"))
    reply = mail(
        to=box["address"],
        subject="Re: Printer on fire",
        cc="quinn@customer.test",
        headers={"In-Reply-To": first, "References": first},
    )
    row = await deliver(ws.platform, box, reply)
    assert row["ticket_id"]


async def _chat_flows(ws: WS) -> None:
    admin = await ws.person(Role.admin)
    async with ws.client(admin) as c:
        r = await c.post("/chat/widgets", json={"name": "Shop", "allowed_origins": [HOST_ORIGIN]})
    async with ws.platform.db.read() as conn:
        widget = await chat_queries.widget_by_key(conn, r.json()["key"])
    assert widget is not None
    agent = principal(ws, await ws.person(Role.agent))
    await routing.heartbeat(ws.platform, ws.id, agent.user_id)
    await routing.set_status(ws.platform, agent, "online")
    v = await chat.resolve(ws.platform, widget, None, None, origin=HOST_ORIGIN, ip="192.0.2.10")
    await chat.start(ws.platform, v, {"name": "Gus"}, "Hello", "g1")
    assert v.session is not None
    await chat.visitor_send(ws.platform, v, "g2", "Anyone?")
    await chat.agent_send(ws.platform, agent, int(v.session["ticket_id"]), "a1", "Hi Gus")
    await routing.end(ws.platform, ws.id, int(v.session["ticket_id"]), agent)


EXPECTED = {
    ("created", None),
    ("message_added", None),
    ("linked", None),
    ("unlinked", None),
    ("split", None),
    ("merged_into", None),
    ("merged_from", None),
    ("erased", None),
    *(
        ("field_changed", f)
        for f in (
            "subject",
            "status",
            "priority",
            "type",
            "group_id",
            "assignee_id",
            "due_at",
            "requester_id",
            "custom_fields",
            "tags",
            "follower_ids",
            "cc_contact_ids",
        )
    ),
}


async def test_every_event_the_flows_write_is_typed_and_reads_back_as_written(ws: WS) -> None:
    await _api_flows(ws)
    await _email_flows(ws)
    await _chat_flows(ws)
    await drain(ws.platform)
    async with ws.platform.db.read() as conn:
        rows = [
            dict(r)
            for r in (
                await conn.execute(
                    sa.select(events_t).where(events_t.c.workspace_id == ws.id).order_by(events_t.c.id)
                )
            ).mappings()
        ]
    seen: set[tuple[str, str | None]] = set()
    classes: set[str] = set()
    for row in rows:
        event = events.parse(row)
        classes.add(type(event).__name__)
        again = event.to_row(
            {"id": row["ticket_id"], "workspace_id": row["workspace_id"]}, None, row["created_at"]
        )
        assert (again["kind"], again["field"], again["old"], again["new"]) == (
            row["kind"],
            row["field"],
            row["old"],
            row["new"],
        ), row
        seen.add((row["kind"], row["field"]))
    assert seen >= EXPECTED, EXPECTED - seen
    assert {"StatusChanged", "Assigned", "TagsChanged", "FollowersChanged", "CCsChanged"} <= classes
    # Every message event says how the message came and who wrote it.
    added = [r["new"] for r in rows if r["kind"] == "message_added"]
    assert {(m["channel"], m["author_kind"]) for m in added} >= {
        ("api", "agent"),
        ("api", "customer"),
        ("email", "customer"),
        ("chat", "customer"),
        ("chat", "agent"),
    }
    # The event list API reads through the same types.
    admin = await ws.person(Role.admin)
    async with ws.client(admin) as c:
        for ticket_id in sorted({r["ticket_id"] for r in rows}):
            r = await c.get(f"/tickets/{ticket_id}/events")
            assert r.status_code == 200, r.text
            for item in r.json()["items"]:
                events.parse(item)
