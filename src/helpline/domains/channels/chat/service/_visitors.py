"""Visitors of a chat: who they are (a token, a signed-in site user, or new), starting and refreshing it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from helpline.db.base import utcnow
from helpline.domains.channels.chat import identity, queries
from helpline.domains.channels.chat import tickets_bridge as bridge
from helpline.domains.channels.chat.common import limit, publish_after, publish_message
from helpline.domains.channels.chat.models import ChatSession, ChatState, ChatVisitor
from helpline.domains.channels.chat.routing import dispatch
from helpline.domains.customers import service as customers
from helpline.domains.knowledge import deflection
from helpline.domains.tickets import content
from helpline.domains.tickets import service as tickets_service
from helpline.errors import Forbidden, Invalid
from helpline.platform.db import UnitOfWork

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
    #: The address of the page the chat was started on, as the widget said (shown to agents as text).
    page: str = ""
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
                        page_url=v.page[:500],
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
