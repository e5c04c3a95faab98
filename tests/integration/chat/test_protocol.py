"""The chat protocol over real WebSockets, on SQLite and PostgreSQL: sequence numbers, resume after a
dropped socket (exactly what was missed, in order, no duplicates), idempotent resends by client id."""

from __future__ import annotations

from typing import Any

from helpline.domains.accounts.models import Role
from helpline.domains.channels.chat import routing, service

from .conftest import latest_ticket, principal, visitor


async def test_drop_five_messages_reconnect_exactly_five_in_order(
    ws: Any, server: str, widget: dict[str, Any]
) -> None:
    agent = principal(ws, await ws.person(Role.agent))
    v, welcome = await visitor(server, widget["key"])
    assert welcome["chat"] is None and welcome["token"] is None
    started, first = await v.start("Hello?", "c-0", name="Vera", email="vera@example.test")
    token = started["token"]
    assert (first["seq"], first["cid"], first["from"], first["body"]) == (1, "c-0", "visitor", "Hello?")
    ticket_id = await latest_ticket(ws.platform)
    await routing.accept(ws.platform, agent, ticket_id)
    assert (await v.until("state"))["state"] == "active"
    await service.agent_send(ws.platform, agent, ticket_id, "a-1", "Hi Vera, how can I help?")
    m = await v.until("msg")
    assert (m["seq"], m["from"], m["body"], m["cid"]) == (2, "agent", "Hi Vera, how can I help?", None)

    await v.close()  # the socket drops
    sent = []
    for i in range(5):
        body = f"answer {i + 1}"
        await service.agent_send(ws.platform, agent, ticket_id, f"a-{i + 2}", body)
        if i == 2:  # an internal note in the middle: never on the visitor's socket, no gap in its numbers
            await service.agent_send(
                ws.platform, agent, ticket_id, "n-1", "internal: VIP customer", public=False
            )
        sent.append(body)

    v2, welcome2 = await visitor(server, widget["key"], token=token, after=2)
    assert welcome2["chat"]["state"] == "active" and welcome2["chat"]["last"] == 7
    got = [await v2.until("msg") for _ in range(5)]
    assert [g["body"] for g in got] == sent
    assert [g["seq"] for g in got] == [3, 4, 5, 6, 7]
    rest = await v2.drain(0.7)
    assert not [f for f in rest if f["t"] == "msg"], rest  # nothing twice, no note
    assert "VIP" not in repr(got + rest)
    await v2.close()


async def test_resend_with_the_same_client_id_is_stored_once(
    ws: Any, server: str, widget: dict[str, Any]
) -> None:
    v, _ = await visitor(server, widget["key"])
    await v.start("first", "s-1", name="Rob")
    await v.send(t="msg", cid="m-1", body="are you there?")
    ack = await v.until("ack")
    assert ack == {"t": "ack", "cid": "m-1", "seq": 2}
    await v.send(t="msg", cid="m-1", body="are you there?")  # the client did not see the ack: resend
    ack2 = await v.until("ack")
    assert ack2["seq"] == 2 and ack2["dup"] is True
    frames = await v.drain(0.7)
    msgs = [f for f in frames if f["t"] == "msg"]
    assert [m["seq"] for m in msgs] in ([2], []), frames  # the live copy of seq 2 at most once
    await v.close()


async def test_sequence_numbers_follow_commit_order_under_concurrency(
    ws: Any, server: str, widget: dict[str, Any]
) -> None:
    import asyncio

    agent = principal(ws, await ws.person(Role.agent))
    v, _ = await visitor(server, widget["key"])
    started, _first = await v.start("go", "g-0")
    from helpline.domains.channels.chat.identity import read_token

    assert read_token(ws.platform.settings.ensure_secret_key(), widget["id"], started["token"])
    ticket_id = await latest_ticket(ws.platform)
    await asyncio.gather(
        *(service.agent_send(ws.platform, agent, ticket_id, f"p-{i}", f"parallel {i}") for i in range(10))
    )
    got = [await v.until("msg") for _ in range(10)]
    assert [g["seq"] for g in got] == list(range(2, 12))
    await v.close()


async def test_messages_arriving_together_are_stored_together_in_order(
    ws: Any, server: str, widget: dict[str, Any], monkeypatch: Any
) -> None:
    """Visitors' messages that arrive while others are being stored share one transaction: each chat's
    numbers stay dense and in arrival order, a resend in the same batch is stored once, a solved
    ticket is reopened once, and each socket gets each message once."""
    import asyncio

    import sqlalchemy as sa

    from helpline.domains.channels.chat import queries
    from helpline.domains.channels.chat import tickets_bridge as bridge
    from helpline.domains.channels.chat.models import ChatMessage
    from helpline.domains.tickets.models import Event, Message, Ticket

    va_sock, _ = await visitor(server, widget["key"])
    started_a, _ = await va_sock.start("chat a", "a-0", name="Ann")
    ticket_a = await latest_ticket(ws.platform)
    vb_sock, _ = await visitor(server, widget["key"])
    started_b, _ = await vb_sock.start("chat b", "b-0", name="Ben")
    async with ws.platform.db.transaction() as uow:
        t = Ticket.__table__
        await uow.execute(t.update().where(t.c.id == ticket_a).values(status="solved"))
    async with ws.platform.db.read() as conn:
        row = await queries.widget_by_key(conn, widget["key"])
    va = await service.resolve(ws.platform, row, started_a["token"], None)
    vb = await service.resolve(ws.platform, row, started_b["token"], None)
    batches: list[int] = []
    store = bridge.store_visitor_lines

    async def counted(uow: Any, pubsub: Any, lines: list[Any]) -> Any:
        batches.append(len(lines))
        return await store(uow, pubsub, lines)

    monkeypatch.setattr(bridge, "store_visitor_lines", counted)

    acks = await asyncio.gather(
        service.visitor_send(ws.platform, va, "a-1", "one"),
        service.visitor_send(ws.platform, vb, "b-1", "uno"),
        service.visitor_send(ws.platform, va, "a-2", "two"),
        service.visitor_send(ws.platform, va, "a-1", "one"),  # a resend before the first was acked
        service.visitor_send(ws.platform, vb, "b-2", "dos"),
        service.visitor_send(ws.platform, va, "a-3", "three"),
    )
    assert [(a["cid"], a["seq"], a.get("dup", False)) for a in acks] == [
        ("a-1", 2, False),
        ("b-1", 2, False),
        ("a-2", 3, False),
        ("a-1", 2, True),
        ("b-2", 3, False),
        ("a-3", 4, False),
    ]
    assert batches == [5], batches  # one transaction; the resend waited for its first copy
    cm, m, e, t = ChatMessage.__table__, Message.__table__, Event.__table__, Ticket.__table__
    async with ws.platform.db.read() as conn:
        stored = (
            await conn.execute(
                sa.select(cm.c.seq, cm.c.pseq, cm.c.client_id, m.c.body_text)
                .join(m, m.c.id == cm.c.message_id)
                .where(cm.c.ticket_id == ticket_a)
                .order_by(cm.c.seq)
            )
        ).all()
        reopened = (
            await conn.execute(
                sa.select(sa.func.count()).where(
                    e.c.ticket_id == ticket_a, e.c.kind == "field_changed", e.c.field == "status"
                )
            )
        ).scalar_one()
        added = (
            await conn.execute(
                sa.select(sa.func.count()).where(e.c.ticket_id == ticket_a, e.c.kind == "message_added")
            )
        ).scalar_one()
        status = (await conn.execute(sa.select(t.c.status).where(t.c.id == ticket_a))).scalar_one()
    assert [tuple(r) for r in stored] == [
        (1, 1, "a-0", "chat a"),
        (2, 2, "a-1", "one"),
        (3, 3, "a-2", "two"),
        (4, 4, "a-3", "three"),
    ]
    assert (reopened, added, status) == (1, 4, "open")
    got_a = [await va_sock.until("msg") for _ in range(3)]
    assert [(g["seq"], g["body"], g["cid"]) for g in got_a] == [
        (2, "one", "a-1"),
        (3, "two", "a-2"),
        (4, "three", "a-3"),
    ]
    got_b = [await vb_sock.until("msg") for _ in range(2)]
    assert [(g["seq"], g["body"]) for g in got_b] == [(2, "uno"), (3, "dos")]
    rest = await va_sock.drain(0.5)
    assert not [f for f in rest if f["t"] == "msg"], rest
    await va_sock.close()
    await vb_sock.close()


async def test_a_message_to_an_ended_chat_fails_alone_in_its_batch(
    ws: Any, server: str, widget: dict[str, Any]
) -> None:
    import asyncio

    from helpline.domains.channels.chat import queries
    from helpline.errors import Conflict

    va_sock, _ = await visitor(server, widget["key"])
    started_a, _ = await va_sock.start("chat a", "a-0", name="Ann")
    ticket_a = await latest_ticket(ws.platform)
    vb_sock, _ = await visitor(server, widget["key"])
    started_b, _ = await vb_sock.start("chat b", "b-0", name="Ben")
    async with ws.platform.db.read() as conn:
        row = await queries.widget_by_key(conn, widget["key"])
    va = await service.resolve(ws.platform, row, started_a["token"], None)
    vb = await service.resolve(ws.platform, row, started_b["token"], None)
    await routing.end(ws.platform, ws.id, ticket_a)  # va still holds the chat it had
    got = await asyncio.gather(
        service.visitor_send(ws.platform, va, "a-1", "too late"),
        service.visitor_send(ws.platform, vb, "b-1", "in time"),
        return_exceptions=True,
    )
    assert isinstance(got[0], Conflict)
    assert got[1] == {"t": "ack", "cid": "b-1", "seq": 2}
    await va_sock.close()
    await vb_sock.close()
