"""The HTTP side of the widget: long polling and frames (the fallback when WebSockets are blocked),
file upload by the visitor and download of their own files only."""

from __future__ import annotations

from typing import Any

import httpx

from helpline.domains.accounts.models import Role
from helpline.domains.channels.chat import routing, service

from .conftest import HOST_ORIGIN, latest_ticket, principal, visitor

H = {"Origin": HOST_ORIGIN}


async def test_long_poll_and_frames_resume_like_the_socket(
    ws: Any, server: str, widget: dict[str, Any]
) -> None:
    agent = principal(ws, await ws.person(Role.agent))
    key = widget["key"]
    async with httpx.AsyncClient(base_url=server, headers=H, timeout=30) as c:
        r = await c.post(
            f"/chat/frame?widget={key}",
            json={
                "frame": {"t": "start", "fields": {"name": "Polly"}, "body": "no sockets here", "cid": "p0"}
            },
        )
        started = r.json()
        assert started["t"] == "started", started
        token = started["token"]
        ticket = await latest_ticket(ws.platform)
        await routing.accept(ws.platform, agent, ticket)
        await service.agent_send(ws.platform, agent, ticket, "a1", "Hello Polly")
        await service.agent_send(ws.platform, agent, ticket, "n1", "note", public=False)
        await service.agent_send(ws.platform, agent, ticket, "a2", "Still there?")
        r = await c.post(f"/chat/poll?widget={key}", json={"token": token, "after": 1, "wait": 0})
        msgs = [e for e in r.json()["events"] if e["t"] == "msg"]
        assert [(m["seq"], m["body"]) for m in msgs] == [(2, "Hello Polly"), (3, "Still there?")]
        r = await c.post(
            f"/chat/frame?widget={key}",
            json={"token": token, "frame": {"t": "msg", "cid": "p1", "body": "yes"}},
        )
        assert r.json() == {"t": "ack", "cid": "p1", "seq": 4}
        again = await c.post(
            f"/chat/frame?widget={key}",
            json={"token": token, "frame": {"t": "msg", "cid": "p1", "body": "yes"}},
        )
        assert again.json()["dup"] is True and again.json()["seq"] == 4
        r = await c.post(f"/chat/poll?widget={key}", json={"token": token, "after": 4, "wait": 0.3})
        assert [e for e in r.json()["events"] if e["t"] == "msg"] == []


async def test_visitor_uploads_a_file_and_only_they_can_fetch_it(
    ws: Any, server: str, widget: dict[str, Any]
) -> None:
    v, _ = await visitor(server, widget["key"])
    started, _first = await v.start("see attached", "u0", name="Uma")
    token = started["token"]
    key = widget["key"]
    async with httpx.AsyncClient(base_url=server, headers=H) as c:
        r = await c.post(
            f"/chat/upload?widget={key}&token={token}",
            files={"file": ("receipt.txt", b"order 1234, paid", "text/plain")},
        )
        assert r.status_code == 201, r.text
        up = r.json()
        bad = await c.post(
            f"/chat/upload?widget={key}&token={token}", files={"file": ("x.html", b"<script>", "text/html")}
        )
        assert bad.status_code == 422
        await v.send(t="msg", cid="u1", body="the receipt", files=[up["token"]])
        ack = await v.until("ack", cid="u1")
        async with ws.client(await ws.person(Role.admin)) as api:
            msgs = (await api.get(f"/tickets/{await latest_ticket(ws.platform)}/messages")).json()
        items = msgs.get("items", msgs) if isinstance(msgs, dict) else msgs
        att = [a for m in items for a in m.get("attachments", [])]
        assert [a["filename"] for a in att] == ["receipt.txt"], items
        got = await c.get(f"/chat/files/{att[0]['id']}?widget={key}", headers={"X-Chat-Token": token})
        assert got.status_code == 200 and got.content == b"order 1234, paid"
        other, _ = await visitor(server, key)
        await other.start("me too", "o0")
        await other.close()
        stranger = await c.get(
            f"/chat/files/{att[0]['id']}?widget={key}", headers={"X-Chat-Token": "1.forged"}
        )
        assert stranger.status_code == 404
        assert ack["seq"] == 2
    await v.close()
