"""One contract, every channel: chat, email and the in-memory twin, on SQLite and PostgreSQL.

A channel behind the tickets domain's port (``tickets.channel_port``) must: deliver a staff public
reply on a ticket it holds exactly once (a repeated Idempotency-Key, a transaction retried after a
failure), deliver nothing when the write rolls back, never deliver an internal note, leave a ticket
it does not hold untouched (no rows of its own, nothing sent), and render its parts of the ticket
page. "Delivered" is what the customer gets: for chat, the numbered line on the visitor's stream
(the hub's events as a visitor's socket receives them, and the numbers stored for it); for email,
the reply sent through the outbox (its send job run); for the twin, its record.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from helpline.db.base import utcnow
from helpline.domains.accounts.models import Role
from helpline.domains.accounts.principal import Principal
from helpline.domains.channels.chat import queries as chat_queries
from helpline.domains.channels.chat import routing
from helpline.domains.channels.chat import service as chat_service
from helpline.domains.channels.chat.hub import hub_of
from helpline.domains.channels.chat.models import ChatMessage
from helpline.domains.channels.email.models import OutboundMail
from helpline.domains.channels.memory import MemoryChannel
from helpline.domains.tickets import channel_port, queries, service
from helpline.domains.tickets.models import Message, Ticket
from helpline.domains.tickets.schemas import MessageCreate
from tests.conftest import PASSWORD, WS, Person, drain
from tests.integration.email.conftest import deliver, mail, make_mailbox

chat_messages, outbox = ChatMessage.__table__, OutboundMail.__table__
messages, tickets = Message.__table__, Ticket.__table__


def principal(ws: WS, person: Person) -> Principal:
    return Principal(
        user_id=person.user_id,
        workspace_id=ws.id,
        role=person.role,
        email=person.email,
        name=person.email.split("@")[0],
    )


@dataclass(eq=False)
class Ear:
    """A visitor's place on the chat hub: the events a visitor's socket would be handed."""

    staff: bool = False
    events: list[dict[str, Any]] = field(default_factory=list)

    def deliver(self, event: dict[str, Any]) -> None:
        self.events.append(event)


class Rig:
    """How the contract reaches one channel: a ticket it holds, and what it delivered."""

    name = ""
    #: What the ticket page shows of this channel on a ticket it holds.
    marker = ""

    def __init__(self, ws: WS, agent: Person) -> None:
        self.ws, self.agent = ws, agent

    async def held(self) -> int:
        raise NotImplementedError

    async def delivered(self, ticket_id: int) -> list[str]:
        """Bodies that reached the customer of ``ticket_id``, in order (jobs run first)."""
        raise NotImplementedError

    async def own_rows(self) -> int:
        """How many rows of its own the channel keeps for this workspace's tickets."""
        raise NotImplementedError


class ChatRig(Rig):
    name, marker = "chat", "Open the live chat"

    def __init__(self, ws: WS, agent: Person) -> None:
        super().__init__(ws, agent)
        self.ears: dict[int, Ear] = {}

    async def held(self) -> int:
        admin = await self.ws.person(Role.admin)
        async with self.ws.client(admin) as c:
            r = await c.post("/chat/widgets", json={"name": f"Shop {uuid.uuid4().hex[:4]}"})
            assert r.status_code == 201, r.text
        p = self.ws.platform
        async with p.db.read() as conn:
            widget = await chat_queries.widget_by_key(conn, r.json()["key"])
        v = await chat_service.resolve(p, widget, None, None, ip=f"10.1.{uuid.uuid4().int % 250}.1")
        await chat_service.start(p, v, {"name": "Vera"}, "Is anyone there?", "c0")
        assert v.session is not None
        ticket_id = int(v.session["ticket_id"])
        await routing.accept(p, principal(self.ws, self.agent), ticket_id)
        ear = self.ears[ticket_id] = Ear()
        await hub_of(p).join(ear, self.ws.id, f"t:{ticket_id}")
        return ticket_id

    async def delivered(self, ticket_id: int) -> list[str]:
        await asyncio.sleep(0.2)  # the hub hands events over from its own task
        pushed = [
            e["body"]
            for e in self.ears[ticket_id].events
            if e.get("t") == "msg" and e.get("from") == "agent" and e.get("public")
        ]
        async with self.ws.platform.db.read() as conn:
            numbered = [
                str(r[0])
                for r in await conn.execute(
                    sa.select(messages.c.body_text)
                    .join(chat_messages, chat_messages.c.message_id == messages.c.id)
                    .where(
                        chat_messages.c.ticket_id == ticket_id,
                        chat_messages.c.pseq.is_not(None),
                        messages.c.author_kind == "agent",
                    )
                    .order_by(chat_messages.c.seq)
                )
            ]
        assert pushed == numbered, (pushed, numbered)
        return numbered

    async def own_rows(self) -> int:
        async with self.ws.platform.db.read() as conn:
            return int(
                (
                    await conn.execute(
                        sa.select(sa.func.count())
                        .select_from(chat_messages.join(tickets, tickets.c.id == chat_messages.c.ticket_id))
                        .where(tickets.c.workspace_id == self.ws.id)
                    )
                ).scalar_one()
            )


class EmailRig(Rig):
    name, marker = "email", "Email: <strong>sent</strong>"

    async def held(self) -> int:
        box = await make_mailbox(self.ws.platform, self.ws.id)
        got = await deliver(
            self.ws.platform,
            box,
            mail(to=box["address"], sender=f"Carla <carla-{uuid.uuid4().hex[:6]}@c.test>"),
        )
        return int(got["ticket_id"])

    async def delivered(self, ticket_id: int) -> list[str]:
        await drain(self.ws.platform)
        async with self.ws.platform.db.read() as conn:
            rows = (
                await conn.execute(
                    sa.select(messages.c.body_text, outbox.c.state)
                    .join(messages, messages.c.id == outbox.c.message_id)
                    .where(outbox.c.ticket_id == ticket_id, outbox.c.kind == "reply")
                    .order_by(outbox.c.id)
                )
            ).all()
        assert all(r[1] == "sent" for r in rows), rows
        # Each went out once (the platform's console transport keeps what it was handed).
        texts = [m.get_body(("plain",)).get_content() for m in self.ws.platform.mail.sent]  # type: ignore[attr-defined]
        for body, _state in rows:
            assert sum(body in t for t in texts) == 1, (body, texts)
        return [str(r[0]) for r in rows]

    async def own_rows(self) -> int:
        async with self.ws.platform.db.read() as conn:
            return int(
                (
                    await conn.execute(
                        sa.select(sa.func.count())
                        .select_from(outbox)
                        .where(outbox.c.workspace_id == self.ws.id)
                    )
                ).scalar_one()
            )


class MemoryRig(Rig):
    name, marker = "memory", 'data-delivered-by="memory"'

    def __init__(self, ws: WS, agent: Person) -> None:
        super().__init__(ws, agent)
        self.twin = MemoryChannel()
        channel_port.registry_of(ws.platform.db).register(self.twin)

    async def held(self) -> int:
        ticket_id = await api_ticket(self.ws, self.agent)
        self.twin.hold(ticket_id)
        return ticket_id

    async def delivered(self, ticket_id: int) -> list[str]:
        return [m.body_text for m in self.twin.delivered if m.ticket_id == ticket_id]

    async def own_rows(self) -> int:
        return len(self.twin.taken)


async def api_ticket(ws: WS, agent: Person) -> int:
    """A ticket no channel holds: made through the API."""
    async with ws.client(agent) as c:
        r = await c.post(
            "/tickets",
            json={
                "subject": "By the API",
                "body": "Hello",
                "requester": {"email": f"r-{uuid.uuid4().hex[:6]}@c.test"},
            },
        )
        assert r.status_code == 201, r.text
        return int(r.json()["id"])


@pytest.fixture(params=["chat", "email", "memory"])
async def rig(request: pytest.FixtureRequest, ws: WS) -> AsyncIterator[Rig]:
    agent = await ws.person(Role.agent, password=PASSWORD)
    made = {"chat": ChatRig, "email": EmailRig, "memory": MemoryRig}[request.param](ws, agent)
    yield made
    if isinstance(made, ChatRig):
        for ticket_id, ear in made.ears.items():
            hub_of(ws.platform).leave(ear, ws.id, f"t:{ticket_id}")


async def reply(rig: Rig, ticket_id: int, body: str, *, public: bool = True, key: str | None = None) -> Any:
    headers = {"Idempotency-Key": key} if key else {}
    async with rig.ws.client(rig.agent) as c:
        r = await c.post(
            f"/tickets/{ticket_id}/messages", json={"body": body, "public": public}, headers=headers
        )
        assert r.status_code == 201, r.text
        return r.json()


async def write(rig: Rig, ticket_id: int, body: str, *, fail: bool) -> None:
    """The tickets service writes a staff reply in a transaction; ``fail``: it then rolls back."""
    p, actor = rig.ws.platform, principal(rig.ws, rig.agent)

    class Failed(Exception):
        pass

    try:
        async with p.db.transaction() as uow:
            ticket = await queries.access_ticket(uow.conn, actor, ticket_id)
            await service.add_message(uow, p.pubsub, actor, ticket, MessageCreate(body=body))
            if fail:
                raise Failed
    except Failed:
        pass


async def test_a_public_reply_reaches_the_channel_once_when_its_key_repeats(rig: Rig) -> None:
    ticket_id = await rig.held()
    first = await reply(rig, ticket_id, "Here is your answer.", key="k-1")
    again = await reply(rig, ticket_id, "Here is your answer.", key="k-1")
    assert first["id"] == again["id"]
    assert await rig.delivered(ticket_id) == ["Here is your answer."]


async def test_a_transaction_retried_after_a_failure_delivers_once(rig: Rig) -> None:
    ticket_id = await rig.held()
    await write(rig, ticket_id, "Second try lands.", fail=True)
    await write(rig, ticket_id, "Second try lands.", fail=False)
    assert await rig.delivered(ticket_id) == ["Second try lands."]


async def test_nothing_is_delivered_when_the_write_rolls_back(rig: Rig) -> None:
    ticket_id = await rig.held()
    before = await rig.own_rows()
    await write(rig, ticket_id, "Never sent.", fail=True)
    assert await rig.delivered(ticket_id) == []
    assert await rig.own_rows() == before


async def test_internal_notes_are_never_delivered(rig: Rig) -> None:
    ticket_id = await rig.held()
    await reply(rig, ticket_id, "Internal: VIP customer.", public=False)
    await reply(rig, ticket_id, "Public words.")
    assert await rig.delivered(ticket_id) == ["Public words."]
    if isinstance(rig, ChatRig):  # not even as an event a visitor's socket could be handed
        assert "VIP" not in repr(rig.ears[ticket_id].events)


async def test_a_ticket_the_channel_does_not_hold_is_untouched(rig: Rig) -> None:
    held = await rig.held()
    other = await api_ticket(rig.ws, rig.agent)
    before = await rig.own_rows()
    await reply(rig, other, "Not for this channel.")
    await reply(rig, other, "Nor this note.", public=False)
    assert await rig.own_rows() == before
    assert await rig.delivered(held) == []
    # The port itself says so, and writes nothing.
    port = next(p for p in channel_port.registry_of(rig.ws.platform.db).ports if p.name == rig.name)
    actor = principal(rig.ws, rig.agent)
    async with rig.ws.platform.db.transaction() as uow:
        ticket = await queries.access_ticket(uow.conn, actor, other)
        message = channel_port.StaffMessage(
            id=0,
            ticket_id=other,
            workspace_id=rig.ws.id,
            author=actor,
            public=True,
            body_text="direct",
            body_html="<p>direct</p>",
            written_via="api",
            files=0,
            created_at=utcnow(),
        )
        assert await port.staff_message(uow, ticket, message) is False
    assert await rig.own_rows() == before


async def test_its_parts_of_the_ticket_page_render(rig: Rig) -> None:
    ticket_id = await rig.held()
    other = await api_ticket(rig.ws, rig.agent)
    await reply(rig, ticket_id, "Shown with its delivery.")
    await rig.delivered(ticket_id)  # the jobs ran: the page shows where the reply went
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=rig.ws.app), base_url="http://testserver"
    ) as c:
        r = await c.post("/api/v1/session", json={"email": rig.agent.email, "password": PASSWORD})
        assert r.status_code == 200, r.text
        page = await c.get(f"/tickets/{ticket_id}")
        plain = await c.get(f"/tickets/{other}")
    assert page.status_code == 200 and plain.status_code == 200
    assert rig.marker in page.text, page.text
    assert rig.marker not in plain.text
