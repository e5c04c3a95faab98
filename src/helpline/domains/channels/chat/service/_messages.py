"""Messages of a chat: the visitors' (stored in group commits by ``_Writer``) and their uploads, the
agents', read receipts and typing."""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass
from typing import Any

import orjson

from helpline.domains.accounts.principal import Principal
from helpline.domains.channels.chat import adapter
from helpline.domains.channels.chat import tickets_bridge as bridge
from helpline.domains.channels.chat.common import limit, publish_after, publish_message
from helpline.domains.channels.chat.hub import hub_of
from helpline.domains.channels.chat.models import ChatSession, ChatState
from helpline.domains.channels.chat.service._visitors import Visitor, _body, _cid
from helpline.domains.tickets import content
from helpline.domains.tickets import queries as ticket_queries
from helpline.domains.tickets import service as tickets_service
from helpline.domains.tickets.schemas import MessageCreate
from helpline.errors import Conflict, Invalid

log = logging.getLogger(__name__)
sessions = ChatSession.__table__


async def visitor_send(
    platform: Any, v: Visitor, cid: Any, body: str, files: list[str] | None = None
) -> dict[str, Any]:
    """The visitor's message; a resend of a stored client id answers the stored one. Returns the ack,
    once the message is stored with its number (and published on the hub after that commit)."""
    s = v.session
    if s is None:
        raise Conflict("no chat is open: start one first")
    body, cid = _body(platform, body), _cid(cid)
    await limit(platform, f"chat:msg:{s['id']}", platform.settings.chat_messages_per_minute, 60, "messages")
    stored = await _uploads(platform, v, files or [])
    text, html = content.render_body(body, is_html=False)
    line = bridge.VisitorLine(int(s["ticket_id"]), cid, text, html, stored)
    ack = await _writer(platform).submit(line, int(s["visitor_id"]))
    for f in files or []:
        await platform.cache.delete(f"chat:upload:{f}")
    return ack


def _files_event(files: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"name": f["filename"], "size": f["size"], "type": f["content_type"]} for f in files]


async def _store_one(platform: Any, line: bridge.VisitorLine, visitor_id: int) -> dict[str, Any]:
    """One visitor message in a transaction of its own, checking why it may not be stored (the chat
    ended, or its client id was stored before: a resend). Returns the ack."""
    cid = line.client_id
    async with platform.db.transaction() as uow:
        # One statement: the session (locked), its ticket, the visitor, and a stored copy of this cid.
        row = await bridge.prepare(uow, line.ticket_id, visitor_id, cid)
        if row is None or row["state"] == ChatState.ended:
            raise Conflict("this chat has ended; start a new one")
        if row["dup_seq"] is not None:
            return {"t": "ack", "cid": cid, "seq": row["dup_pseq"], "dup": True}
        ticket = {
            "id": line.ticket_id,
            "workspace_id": row["workspace_id"],
            "status": row["status"],
            "assignee_id": row["assignee_id"],
        }
        mid = await bridge.add_visitor_message(
            uow, platform.pubsub, ticket, contact_id=int(row["contact_id"]), body=line.text
        )
        await bridge.attach_files(
            uow, workspace_id=int(row["workspace_id"]), message_id=mid, files=line.files
        )
        numbered = await bridge.number(uow, line.ticket_id, mid, public=True, client_id=cid)
        publish_message(
            uow,
            platform,
            int(row["workspace_id"]),
            numbered,
            from_="visitor",
            name=str(row["name"] or ""),
            body=line.text,
            files=_files_event(line.files),
        )
    return {"t": "ack", "cid": cid, "seq": numbered["pseq"]}


@dataclass
class _Waiting:
    line: bridge.VisitorLine
    visitor_id: int
    done: asyncio.Future[dict[str, Any]]


class _Writer:
    """Group commit of visitors' messages, per process: a message that arrives while the previous
    ones are being stored waits for that transaction, then goes with every other message that
    arrived meanwhile in one transaction of a fixed number of statements. An idle process stores a
    message at once, alone; a busy one stores more per transaction, so the cost of a message falls
    as the rate rises. Each message is still acked only after its commit, and published after it."""

    MOST = 100  # messages per transaction

    def __init__(self, platform: Any) -> None:
        self.platform = platform
        self.queue: list[_Waiting] = []
        self.task: asyncio.Task[None] | None = None

    async def submit(self, line: bridge.VisitorLine, visitor_id: int) -> dict[str, Any]:
        w = _Waiting(line, visitor_id, asyncio.get_running_loop().create_future())
        self.queue.append(w)
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._run())
        return await w.done

    async def _run(self) -> None:
        while self.queue:
            batch, self.queue = self.queue[: self.MOST], self.queue[self.MOST :]
            try:
                await self._store(batch)
            except BaseException as exc:
                for w in batch:
                    if not w.done.done():
                        w.done.set_exception(exc if isinstance(exc, Exception) else Conflict("not stored"))
                raise

    async def _store(self, batch: list[_Waiting]) -> None:
        # The same client id twice in a batch (a resend before the first was acked): the first
        # goes in the batch, the others wait for it and answer its number.
        firsts: list[_Waiting] = []
        seen: set[tuple[int, str]] = set()
        again: list[_Waiting] = []
        for w in batch:
            key = (w.line.ticket_id, w.line.client_id or "")
            if w.line.client_id and key in seen:
                again.append(w)
            else:
                seen.add(key)
                firsts.append(w)
        p = self.platform
        try:
            async with p.db.transaction() as uow:
                stored = await bridge.store_visitor_lines(uow, p.pubsub, [w.line for w in firsts])
                for w, st in zip(firsts, stored, strict=True):
                    if st is not None:
                        publish_message(
                            uow,
                            p,
                            st.workspace_id,
                            st.numbered,
                            from_="visitor",
                            name=st.name,
                            body=w.line.text,
                            files=_files_event(w.line.files),
                        )
        except Exception:
            log.exception("chat: storing %d messages together failed; storing them one by one", len(firsts))
            stored = [None] * len(firsts)
        for w, st in zip(firsts, stored, strict=True):
            if st is not None:
                _settle(w, {"t": "ack", "cid": w.line.client_id, "seq": st.numbered["pseq"]})
        for w in [*(w for w, st in zip(firsts, stored, strict=True) if st is None), *again]:
            try:
                _settle(w, await _store_one(p, w.line, w.visitor_id))
            except Exception as exc:
                if not w.done.done():
                    w.done.set_exception(exc)


def _settle(w: _Waiting, ack: dict[str, Any]) -> None:
    if not w.done.done():  # its sender may have gone (socket closed): the message is stored anyway
        w.done.set_result(ack)


def _writer(platform: Any) -> _Writer:
    writer = platform.extras.get("chat_writer")
    if writer is None:
        writer = platform.extras["chat_writer"] = _Writer(platform)
    return writer  # type: ignore[no-any-return]


async def _uploads(platform: Any, v: Visitor, tokens: list[str]) -> list[dict[str, Any]]:
    if len(tokens) > 5:
        raise Invalid("files", "at most 5 files a message")
    raws = await platform.cache.get_many([f"chat:upload:{t}" for t in tokens]) if tokens else []
    out = []
    for t, raw in zip(tokens, raws, strict=True):
        data = orjson.loads(raw) if raw else None
        if not data or data.get("visitor_id") != v.visitor_id:
            raise Invalid("files", f"unknown upload {t}")
        out.append(data)
    return out


async def store_upload(
    platform: Any, v: Visitor, filename: str, content_type: str | None, data: bytes
) -> dict[str, Any]:
    """Keep a visitor's file until the message that carries it (an hour at most)."""
    if v.session is None or v.visitor_id is None:
        raise Conflict("no chat is open: start one first")
    s = platform.settings
    await limit(platform, f"chat:uploads:{v.session['id']}", 20, 3600, "files")
    if not data:
        raise Invalid("file", "the file is empty")
    if len(data) > s.chat_max_upload_bytes:
        raise Invalid("file", f"larger than {s.chat_max_upload_bytes} bytes")
    name = content.clean_filename(filename)
    ctype = content.guess_type(name, content_type)
    if ctype in s.blocked_attachment_types:
        raise Invalid("file", f"files of type {ctype} are not accepted")
    digest = await platform.storage.put(data)
    token = secrets.token_urlsafe(18)
    info = {
        "visitor_id": v.visitor_id,
        "filename": name,
        "content_type": ctype,
        "size": len(data),
        "sha256": digest,
    }
    await platform.cache.set(f"chat:upload:{token}", orjson.dumps(info), 3600)
    return {"token": token, "name": name, "size": len(data), "type": ctype}


async def agent_send(
    platform: Any, actor: Principal, ticket_id: int, cid: Any, body: str, *, public: bool = True
) -> dict[str, Any]:
    """An agent's reply (``public``) or internal note typed in the chat box. Returns the ack (with
    ``seq``); a resent client id answers the stored message. The tickets service writes it and the
    chat adapter (``adapter.py``) numbers and publishes it, like a reply from the ticket page."""
    body, cid = _body(platform, body), _cid(cid)
    async with platform.db.transaction() as uow:
        ticket = await ticket_queries.access_ticket(uow.conn, actor, ticket_id)
        locked = await bridge.lock_session(uow, ticket_id)
        if locked is None:
            raise Conflict(f"ticket {ticket_id} is not a chat")
        dup = await bridge.existing(uow, ticket_id, cid)
        if dup is not None:
            return {
                "t": "ack",
                "ticket": ticket_id,
                "cid": cid,
                "seq": dup["seq"],
                "message_id": dup["message_id"],
                "dup": True,
            }
        with adapter.from_chat_box(ticket_id, cid) as box:
            mid = await tickets_service.add_message(
                uow, platform.pubsub, actor, ticket, MessageCreate(body=body, public=public), channel="chat"
            )
        if box.numbered is None:  # no chat adapter installed: nothing can number it
            raise Conflict(f"ticket {ticket_id} is not a chat")
    return {"t": "ack", "ticket": ticket_id, "cid": cid, "seq": box.numbered["seq"], "message_id": mid}


async def read(platform: Any, workspace_id: int, ticket_id: int, by: str, pseq: Any) -> None:
    """A read receipt: ``by`` (visitor or agent) has seen public messages up to ``pseq``."""
    if not isinstance(pseq, int) or pseq < 1:
        return
    col = sessions.c.visitor_read_pseq if by == "visitor" else sessions.c.agent_read_pseq
    async with platform.db.transaction() as uow:
        res = await uow.execute(
            sessions.update()
            .where(sessions.c.ticket_id == ticket_id, col < pseq, sessions.c.pseq >= pseq)
            .values({col.name: pseq})
        )
        if res.rowcount:
            publish_after(uow, platform, workspace_id, f"t:{ticket_id}", {"t": "read", "by": by, "seq": pseq})


async def typing(platform: Any, workspace_id: int, ticket_id: int, by: str, on: bool, name: str = "") -> None:
    await hub_of(platform).publish(
        workspace_id, f"t:{ticket_id}", {"t": "typing", "by": by, "on": bool(on), "name": name}
    )
