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
