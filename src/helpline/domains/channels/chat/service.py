"""Writes of the chat channel: starting a chat, messages from visitors and agents (numbered and
idempotent by client id), read receipts, agent status, auto-assignment within each agent's limit,
accept, transfer, end, the offline form. Events go out on the hub after commit."""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

import orjson
import sqlalchemy as sa

from helpline.db.base import utcnow
from helpline.domains.accounts.principal import Principal
from helpline.domains.channels.chat import adapter, identity, queries
from helpline.domains.channels.chat import tickets_bridge as bridge
from helpline.domains.channels.chat.common import limit, publish_after, publish_message
from helpline.domains.channels.chat.hub import hub_of
from helpline.domains.channels.chat.models import ChatSession, ChatState, ChatVisitor
from helpline.domains.channels.chat.routing import dispatch
from helpline.domains.customers import service as customers
from helpline.domains.knowledge import deflection
from helpline.domains.tickets import content
from helpline.domains.tickets import queries as ticket_queries
from helpline.domains.tickets import service as tickets_service
from helpline.domains.tickets.schemas import MessageCreate
from helpline.errors import Conflict, Forbidden, Invalid
from helpline.platform.db import UnitOfWork

log = logging.getLogger(__name__)
sessions = ChatSession.__table__
visitors = ChatVisitor.__table__


@dataclass
class Visitor:
    """A visitor as a socket or request knows them: the widget, who they are (if known yet) and their chat."""

    widget: dict[str, Any]
    visitor_id: int | None = None
    external_id: str | None = None
    hints: dict[str, str] = field(default_factory=dict)
    origin: str = ""
    ip: str = ""
    session: dict[str, Any] | None = None

    @property
    def workspace_id(self) -> int:
        return int(self.widget["workspace_id"])


async def resolve(
    platform: Any,
    widget: dict[str, Any],
    token: str | None,
    user: dict[str, Any] | None,
    *,
    origin: str = "",
    ip: str = "",
) -> Visitor:
    """Who this is, from a visitor token or a host-site identity, and their open chat if any."""
    v = Visitor(widget=widget, origin=origin, ip=ip)
    secret = platform.settings.ensure_secret_key()
    async with platform.db.read() as conn:
        if user and user.get("id"):
            uid = str(user["id"])[:255]
            if not identity.verify_user(widget["identity_secret"], uid, str(user.get("hash", ""))):
                raise Forbidden("the visitor's identity could not be verified (user_hash)")
            v.external_id = uid
            v.hints = {k: str(user.get(k, ""))[:200] for k in ("name", "email") if user.get(k)}
            row = await queries.visitor_by_external(conn, widget["id"], uid)
            v.visitor_id = int(row["id"]) if row else None
        else:
            vid = identity.read_token(secret, widget["id"], token)
            if vid is not None and await queries.visitor(conn, widget["id"], vid) is not None:
                v.visitor_id = vid
    await refresh(platform, v)
    return v


def token_of(platform: Any, v: Visitor) -> str | None:
    if v.visitor_id is None:
        return None
    return identity.visitor_token(platform.settings.ensure_secret_key(), v.widget["id"], v.visitor_id)


def check_fields(
    widget: dict[str, Any], given: dict[str, Any], *, need_email: bool = False
) -> dict[str, str]:
    out: dict[str, str] = {}
    specs = list(widget.get("prechat_fields") or [])
    if need_email and not any(f.get("name") == "email" for f in specs):
        specs.append({"name": "email", "type": "email", "required": True})
    for f in specs:
        name = str(f.get("name", ""))
        value = str(given.get(name, "") or "").strip()[:500]
        if need_email and name == "email" and not value:
            raise Invalid("email", "required")
        if f.get("required") and not value:
            raise Invalid(name, "required")
        if value and (f.get("type") == "email" or name == "email"):
            try:
                customers.normalise_identity("email", value)
            except Exception as exc:
                raise Invalid(name, "not an email address") from exc
        if value:
            out[name] = value
    return out


def _body(platform: Any, body: str) -> str:
    body = (body or "").strip()
    if not body:
        raise Invalid("body", "empty message")
    if len(body) > platform.settings.chat_max_message_chars:
        raise Invalid("body", f"longer than {platform.settings.chat_max_message_chars} characters")
    return body


def _cid(cid: Any) -> str | None:
    if cid is None or cid == "":
        return None
    if not isinstance(cid, str) or len(cid) > 64:
        raise Invalid("cid", "a client id is a string of at most 64 characters")
    return cid


async def _visitor_row(uow: UnitOfWork, v: Visitor, name: str, email: str) -> dict[str, Any]:
    now = utcnow()
    if v.visitor_id is None and v.external_id is not None:
        row = (
            (
                await uow.execute(
                    sa.select(visitors).where(
                        visitors.c.widget_id == v.widget["id"], visitors.c.external_id == v.external_id
                    )
                )
            )
            .mappings()
            .first()
        )
        if row is not None:
            v.visitor_id = int(row["id"])
    if v.visitor_id is None:
        v.visitor_id = int(
            (
                await uow.execute(
                    visitors.insert()
                    .values(
                        workspace_id=v.workspace_id,
                        widget_id=v.widget["id"],
                        external_id=v.external_id,
                        contact_id=None,
                        name=name[:200],
                        email=email[:320],
                        created_at=now,
                        last_seen_at=now,
                    )
                    .returning(visitors.c.id)
                )
            ).scalar_one()
        )
    row = (await uow.execute(sa.select(visitors).where(visitors.c.id == v.visitor_id))).mappings().one()
    return dict(row)


async def start(
    platform: Any,
    v: Visitor,
    fields: dict[str, Any],
    body: str,
    cid: Any = None,
    bot: dict[str, Any] | None = None,
) -> Visitor:
    """Open a chat (a ticket with channel chat, queued). A visitor with a chat open gets that one back.
    ``bot`` (``{reason, article_id, locale}``) says the answer bot handed this visitor over: the agent
    gets an internal note saying why and which article it had cited."""
    if v.session is not None:
        return v
    values = check_fields(v.widget, fields)
    body, cid = _body(platform, body), _cid(cid)
    await limit(
        platform,
        f"chat:start:{v.widget['id']}:{v.ip}",
        platform.settings.chat_starts_per_hour,
        3600,
        "chats started from this address",
    )
    name = values.get("name") or v.hints.get("name", "")
    email = values.get("email") or v.hints.get("email", "")
    ws = v.workspace_id
    async with platform.db.transaction() as uow:
        row = await _visitor_row(uow, v, name, email)
        open_row = (
            (
                await uow.execute(
                    sa.select(sessions).where(
                        sessions.c.visitor_id == row["id"], sessions.c.state != ChatState.ended.value
                    )
                )
            )
            .mappings()
            .first()
        )
        if open_row is not None:
            v.session = dict(open_row)
            return v
        contact_id = row["contact_id"]
        if contact_id is None and email:
            contact_id = await tickets_service.find_or_create_contact(uow, ws, email=email, name=name)
        if contact_id is None:
            contact_id = await customers.create_contact(uow, ws, name=name or "Chat visitor")
        await uow.execute(
            visitors.update()
            .where(visitors.c.id == row["id"])
            .values(
                contact_id=contact_id,
                name=name[:200] or row["name"],
                email=email[:320] or row["email"],
                last_seen_at=utcnow(),
            )
        )
        text, html = content.render_body(body, is_html=False)
        subject = "Chat: " + " ".join(body.split())[:80]
        ticket_id, message_id, _n = await bridge.create_ticket(
            uow,
            platform.pubsub,
            workspace_id=ws,
            contact_id=contact_id,
            subject=subject,
            body_text=text,
            body_html=html,
            channel="chat",
            group_id=v.widget["group_id"],
        )
        session_id = int(
            (
                await uow.execute(
                    sessions.insert()
                    .values(
                        workspace_id=ws,
                        widget_id=v.widget["id"],
                        visitor_id=row["id"],
                        ticket_id=ticket_id,
                        group_id=v.widget["group_id"],
                        agent_id=None,
                        state=ChatState.queued.value,
                        seq=0,
                        pseq=0,
                        visitor_read_pseq=0,
                        agent_read_pseq=0,
                        origin=v.origin[:300],
                        queued_at=utcnow(),
                    )
                    .returning(sessions.c.id)
                )
            ).scalar_one()
        )
        first = await bridge.number(uow, ticket_id, message_id, public=True, client_id=cid)
        publish_message(uow, platform, ws, first, from_="visitor", name=name, body=text)
        extra = {k: val for k, val in values.items() if k not in ("name", "email")}
        verified = f"Verified by the host site as user {v.external_id}.\n" if v.external_id else ""
        handed = ""
        if bot and v.widget["answer_bot"]:
            handed = await deflection.handover_note(uow.conn, ws, platform.settings.base_url, bot) + "\n"
        if extra or verified or handed:
            note = handed + verified + "".join(f"{k}: {val}\n" for k, val in extra.items())
            ticket = {"id": ticket_id, "workspace_id": ws}
            nid = await bridge.add_system_note(
                uow, platform.pubsub, ticket, text=note.strip(), channel="chat"
            )
            noted = await bridge.number(uow, ticket_id, nid, public=False, client_id=None)
            publish_message(uow, platform, ws, noted, from_="system", name="", body=note.strip())
        publish_after(
            uow, platform, ws, "agents", {"t": "chat", "ticket": ticket_id, "state": "queued"}, staff=True
        )
        v.session = dict(
            (await uow.execute(sa.select(sessions).where(sessions.c.id == session_id))).mappings().one()
        )
    # The queue is published once: by dispatch, whether or not an agent took the chat at once.
    await dispatch(platform, ws, changed=True)
    await refresh(platform, v)
    return v


async def refresh(platform: Any, v: Visitor) -> None:
    """Re-read the visitor's chat (its state may have moved on: assigned, ended) with its agent's name."""
    if v.visitor_id is None:
        return
    async with platform.db.read() as conn:
        s = await queries.open_session(conn, v.visitor_id)
        if s is not None and s["agent_id"] is not None:
            s["agent_name"] = await queries.user_name(conn, int(s["agent_id"]))
    v.session = s


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
