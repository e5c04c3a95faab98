"""The live queue's cost, counted in frames on real sockets, on SQLite and PostgreSQL: a chat start
publishes the queue once; a waiting visitor who reconnects, or long-polls, is told their own place
and nobody else hears of it (a reconnect storm of N waiting visitors is N frames, not N²)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from helpline.domains.accounts.models import Role

from .conftest import HOST_ORIGIN, PASSWORD, Wire, agent_socket, set_status, sign_in, visitor


def queues(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [f for f in frames if f["t"] == "queue"]


async def quiet(wires: list[Wire]) -> None:
    """None of ``wires`` gets a queue frame (within half a second of silence each)."""
    got = await asyncio.gather(*(w.drain(0.5) for w in wires))
    assert [queues(frames) for frames in got] == [[] for _ in wires], got


async def test_start_publishes_once_and_reconnects_and_polls_publish_nothing(
    ws: Any, server: str, widget: dict[str, Any]
) -> None:
    person = await ws.person(Role.agent, password=PASSWORD)
    cookie, csrf = await sign_in(server, person.email)
    await set_status(server, cookie, csrf, "offline")
    console, _ = await agent_socket(server, cookie)  # the agent's status is offline: every chat waits
    assert len(queues(await console.drain())) == 1  # its own copy of the queue, on connecting

    waiting: list[tuple[Wire, str]] = []
    for i in range(3):
        v, _ = await visitor(server, widget["key"])
        started, _ = await v.start(f"question {i}", f"q{i}")
        assert started["chat"]["state"] == "queued"
        assert (await v.until("queue"))["position"] == i + 1
        published = queues(await console.drain())
        assert len(published) == 1, published  # one start, one publish
        assert len(published[0]["ids"]) == i + 1
        await quiet([v] + [w for w, _ in waiting])  # the others' places did not change: no frame
        waiting.append((v, started["token"]))

    # Every waiting visitor's socket drops and comes back: each is told their place, alone.
    for v, _ in waiting:
        await v.close()
    back = []
    for i, (_, token) in enumerate(waiting):
        v, welcome = await visitor(server, widget["key"], token=token, after=1)
        assert welcome["chat"]["state"] == "queued"
        assert (await v.until("queue"))["position"] == i + 1
        back.append(v)
    await quiet([console, *back])

    # The long-poll fallback: the first poll gets the place; a poll that shows it waits, answering nothing.
    key, token = widget["key"], waiting[2][1]
    async with httpx.AsyncClient(base_url=server, headers={"Origin": HOST_ORIGIN}, timeout=30) as c:
        r = await c.post(f"/chat/poll?widget={key}", json={"token": token, "after": 1, "hello": True})
        (q,) = queues(r.json()["events"])
        assert q["position"] == 3
        began = time.monotonic()
        r = await c.post(
            f"/chat/poll?widget={key}",
            json={"token": token, "after": 1, "queue": [q["position"], q["wait"]], "wait": 1},
        )
        assert r.json()["events"] == [] and time.monotonic() - began >= 0.9
    await quiet([console, *back])

    # A change to the queue still reaches everyone it concerns, once.
    await back[0].send(t="end")
    assert (await back[0].until("ended"))["t"] == "ended"
    assert [len(f["ids"]) for f in queues(await console.drain())] == [2]
    assert (await back[1].until("queue"))["position"] == 1
    assert (await back[2].until("queue"))["position"] == 2
    await quiet(back[1:])
    for v in [console, *back]:
        await v.close()
