"""One writer of ticket state: a customer's reply does the same to a solved ticket whichever channel
it came by (email ingest, a chat visitor's line, the portal's page, the API with a customer token),
and the chat's auto-assignment goes through the same assignment path, notice included, as a
person's assignment. Driven through each channel's real entry point (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from helpline.domains.accounts.models import Role
from helpline.domains.channels.chat import queries as chat_queries
from helpline.domains.channels.chat import routing
from helpline.domains.channels.chat import service as chat
from helpline.domains.tickets.models import Event, Ticket
from tests.conftest import PASSWORD, WS, Person, drain
from tests.integration.chat.conftest import HOST_ORIGIN, principal
from tests.integration.email.conftest import deliver, mail, make_mailbox

events_t, tickets_t = Event.__table__, Ticket.__table__
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


async def _widget(ws: WS) -> dict[str, Any]:
    """A chat widget made through the API, as the chat service reads it (by its key)."""
    admin = await ws.person(Role.admin)
    async with ws.client(admin) as c:
        r = await c.post(
            "/chat/widgets",
            json={"name": f"Shop {uuid.uuid4().hex[:4]}", "allowed_origins": [HOST_ORIGIN]},
        )
        assert r.status_code == 201, r.text
    async with ws.platform.db.read() as conn:
        widget = await chat_queries.widget_by_key(conn, r.json()["key"])
    assert widget is not None
    return dict(widget)


async def _ticket(ws: WS, ticket_id: int) -> dict[str, Any]:
    async with ws.platform.db.read() as conn:
        row = (await conn.execute(sa.select(tickets_t).where(tickets_t.c.id == ticket_id))).mappings().one()
        return dict(row)


async def _events(ws: WS, ticket_id: int, after: int = 0) -> list[dict[str, Any]]:
    async with ws.platform.db.read() as conn:
        rows = await conn.execute(
            sa.select(events_t)
            .where(events_t.c.ticket_id == ticket_id, events_t.c.id > after)
            .order_by(events_t.c.id)
        )
        return [dict(r) for r in rows.mappings()]


@asynccontextmanager
async def _listening(ws: WS) -> AsyncIterator[list[dict[str, Any]]]:
    """What the inbox's live channel of the workspace carries while the block runs."""
    got: list[dict[str, Any]] = []
    agen = ws.platform.pubsub.subscribe(f"ws:{ws.id}:tickets")

    async def listen() -> None:
        async for m in agen:
            got.append(m)

    task = asyncio.create_task(listen())
    await asyncio.sleep(0.05)  # the subscription registers on its first iteration
    try:
        yield got
        await asyncio.sleep(0.1)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class Channel:
    """One way a customer writes: ``open`` makes their ticket (its id), ``reply`` writes on it."""

    name = ""
    message_channel = ""

    def __init__(self, ws: WS) -> None:
        self.ws = ws

    async def open(self) -> int:
        raise NotImplementedError

    async def reply(self, ticket_id: int) -> None:
        raise NotImplementedError


class Email(Channel):
    name = message_channel = "email"

    async def open(self) -> int:
        self.mailbox = await make_mailbox(self.ws.platform, self.ws.id)
        self.sender = f"carla-{uuid.uuid4().hex[:6]}@customer.test"
        self.first = f"<{uuid.uuid4().hex}@customer.test>"
        raw = mail(sender=self.sender, to=self.mailbox["address"], message_id=self.first)
        row = await deliver(self.ws.platform, self.mailbox, raw)
        return int(row["ticket_id"])

    async def reply(self, ticket_id: int) -> None:
        raw = mail(
            sender=self.sender,
            to=self.mailbox["address"],
            subject="Re: Printer on fire",
            body="It is on fire again.\n",
            headers={"In-Reply-To": self.first, "References": self.first},
        )
        row = await deliver(self.ws.platform, self.mailbox, raw)
        assert row["ticket_id"] == ticket_id, row


class Chat(Channel):
    name = message_channel = "chat"

    async def open(self) -> int:
        widget = await _widget(self.ws)
        self.visitor = await chat.resolve(
            self.ws.platform, widget, None, None, origin=HOST_ORIGIN, ip="192.0.2.7"
        )
        email = f"cleo-{uuid.uuid4().hex[:6]}@customer.test"
        await chat.start(self.ws.platform, self.visitor, {"name": "Cleo", "email": email}, "Hello?", "c1")
        assert self.visitor.session is not None
        return int(self.visitor.session["ticket_id"])

    async def reply(self, ticket_id: int) -> None:
        await chat.refresh(self.ws.platform, self.visitor)
        ack = await chat.visitor_send(self.ws.platform, self.visitor, "c2", "It is on fire again.")
        assert ack["t"] == "ack" and not ack.get("dup"), ack


class _Customer(Channel):
    async def open(self) -> int:
        self.customer: Person = await self.ws.person(Role.customer, password=PASSWORD)
        async with self.ws.client(self.customer) as c:
            r = await c.post("/tickets", json={"subject": "Printer on fire", "body": "It is smoking."})
            assert r.status_code == 201, r.text
            return int(r.json()["id"])


class Portal(_Customer):
    name, message_channel = "portal", "web"

    async def reply(self, ticket_id: int) -> None:
        async with self.ws.platform.db.read() as conn:
            slug = (
                await conn.execute(sa.text("SELECT slug FROM workspaces WHERE id = :i"), {"i": self.ws.id})
            ).scalar_one()
        transport = httpx.ASGITransport(app=self.ws.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            page = await c.get(f"/portal/{slug}/login")
            r = await c.post(
                f"/portal/{slug}/login",
                data={"email": self.customer.email, "password": PASSWORD, "csrf_token": _csrf(page)},
            )
            assert r.status_code == 303, r.text
            page = await c.get(f"/portal/{slug}/requests/{ticket_id}")
            assert page.status_code == 200
            r = await c.post(
                f"/portal/{slug}/requests/{ticket_id}/reply",
                data={"body": "It is on fire again.", "csrf_token": _csrf(page)},
                files={"attachments": ("", b"", "application/octet-stream")},
            )
            assert r.status_code == 303, r.text


class Api(_Customer):
    name = message_channel = "api"

    async def reply(self, ticket_id: int) -> None:
        async with self.ws.client(self.customer) as c:
            r = await c.post(f"/tickets/{ticket_id}/messages", json={"body": "It is on fire again."})
            assert r.status_code == 201, r.text


def _csrf(page: httpx.Response) -> str:
    found = TOKEN.search(page.text)
    assert found, page.text[:300]
    return found.group(1)


def _shape(e: dict[str, Any]) -> tuple[Any, ...]:
    """An event as compared across channels: without the message's id and its channel's name."""
    new = e["new"]
    if e["kind"] == "message_added":
        new = {k: v for k, v in new.items() if k not in ("message_id", "channel")}
    return e["kind"], e["field"], e["old"], new, e["actor_kind"]


CHANNELS: dict[str, Callable[[WS], Channel]] = {"email": Email, "chat": Chat, "portal": Portal, "api": Api}


@pytest.mark.parametrize("via", list(CHANNELS))
async def test_a_customer_reply_reopens_a_solved_ticket_identically_whichever_channel(
    ws: WS, via: str
) -> None:
    channel = CHANNELS[via](ws)
    ticket_id = await channel.open()
    agent = await ws.person(Role.agent)
    async with ws.client(agent) as c:
        r = await c.patch(f"/tickets/{ticket_id}", json={"assignee_id": agent.user_id, "status": "solved"})
        assert r.status_code == 200, r.text
    await drain(ws.platform)
    before = await _ticket(ws, ticket_id)
    assert before["status"] == "solved" and before["solved_at"] is not None
    last = (await _events(ws, ticket_id))[-1]["id"]
    mails = len(ws.platform.mail.sent)

    async with _listening(ws) as published:
        await channel.reply(ticket_id)
    await drain(ws.platform)

    after = await _ticket(ws, ticket_id)
    assert (after["status"], after["solved_at"], after["assignee_id"]) == ("open", None, agent.user_id)
    assert after["version"] == before["version"] + 1  # one write of the ticket row
    written = await _events(ws, ticket_id, after=last)
    assert [_shape(e) for e in written] == [
        ("message_added", None, None, {"public": True, "author_kind": "customer"}, "customer"),
        ("field_changed", "status", "solved", "open", "customer"),
    ]
    assert written[0]["new"]["channel"] == channel.message_channel
    assert [m for m in published if m["ticket_id"] == ticket_id] == [
        {"ticket_id": ticket_id, "kind": "message_added"}
    ]
    # The assignee hears of it once, in the same words, whichever way the customer wrote.
    told = [(m["To"], m["Subject"]) for m in ws.platform.mail.sent[mails:]]
    assert told == [(agent.email, f"[#{after['number']}] Customer replied: {after['subject']}")], told


async def online(ws: WS, **kw: Any) -> Any:
    p = principal(ws, await ws.person(Role.agent, **kw))
    await routing.heartbeat(ws.platform, ws.id, p.user_id)  # what a console socket does every 20 s
    await routing.set_status(ws.platform, p, "online")
    return p


async def test_chat_auto_assignment_notifies_the_assignee_like_any_assignment(ws: WS) -> None:
    widget = await _widget(ws)
    agent = await online(ws)
    mails = len(ws.platform.mail.sent)
    v = await chat.resolve(ws.platform, widget, None, None, origin=HOST_ORIGIN, ip="192.0.2.8")
    await chat.start(ws.platform, v, {"name": "Dora"}, "Where is my parcel?", "d1")
    assert v.session is not None and v.session["state"] == "active"
    ticket_id = int(v.session["ticket_id"])
    ticket = await _ticket(ws, ticket_id)
    assert (ticket["assignee_id"], ticket["status"]) == (agent.user_id, "open")
    # Recorded as the system's assignment, through the tickets service's events.
    changes = [(e["field"], e["old"], e["new"], e["actor_kind"]) for e in await _events(ws, ticket_id)]
    assert ("assignee_id", None, agent.user_id, "system") in changes
    assert ("status", "new", "open", "system") in changes
    await drain(ws.platform)
    auto = [(m["To"], m["Subject"]) for m in ws.platform.mail.sent[mails:]]
    assert auto == [(agent.email, f"[#{ticket['number']}] Assigned to you: {ticket['subject']}")], auto

    # The same notice as a person's assignment of a ticket gives.
    boss = await ws.person(Role.admin)
    async with ws.client(boss) as c:
        r = await c.post(
            "/tickets",
            json={"subject": "Invoice", "body": "?", "requester": {"email": "eve@customer.test"}},
        )
        assert r.status_code == 201, r.text
        other = r.json()
        r = await c.patch(f"/tickets/{other['id']}", json={"assignee_id": agent.user_id})
        assert r.status_code == 200, r.text
    mails = len(ws.platform.mail.sent)
    await drain(ws.platform)
    by_hand = [(m["To"], m["Subject"]) for m in ws.platform.mail.sent[mails:]]
    assert by_hand == [(agent.email, f"[#{other['number']}] Assigned to you: Invoice")]


async def test_a_chat_transfer_notifies_the_new_agent_but_an_accept_does_not(ws: WS) -> None:
    widget = await _widget(ws)
    first = principal(ws, await ws.person(Role.agent))
    second = principal(ws, await ws.person(Role.agent))
    v = await chat.resolve(ws.platform, widget, None, None, origin=HOST_ORIGIN, ip="192.0.2.9")
    await chat.start(ws.platform, v, {"name": "Finn"}, "Hi", "f1")
    assert v.session is not None
    ticket_id = int(v.session["ticket_id"])
    await drain(ws.platform)
    mails = len(ws.platform.mail.sent)
    await routing.accept(ws.platform, first, ticket_id)  # takes it themselves: nobody to tell
    await drain(ws.platform)
    assert [m["To"] for m in ws.platform.mail.sent[mails:]] == []
    await routing.transfer(ws.platform, first, ticket_id, agent_id=second.user_id)
    await drain(ws.platform)
    assert [(m["To"], m["Subject"].split("] ")[1].split(":")[0]) for m in ws.platform.mail.sent[mails:]] == [
        (second.email, "Assigned to you")
    ]
    moves = [
        (e["old"], e["new"], e["actor_user_id"])
        for e in await _events(ws, ticket_id)
        if e["field"] == "assignee_id"
    ]
    assert moves == [(None, first.user_id, first.user_id), (first.user_id, second.user_id, first.user_id)]
