"""Tables of the chat channel.

A chat is a ticket with channel ``chat``; its messages are ordinary ``messages`` rows (append-only).
What chat adds beside them: the widget a chat came through, the visitor behind it, the chat session
(queue and assignment state, and the two per-conversation counters), and ``chat_messages``, which
gives each stored message its sequence numbers in the transaction that stores it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from helpline.db.base import Base, BigId, IdMixin, JSONType, utcnow


class ChatState(StrEnum):
    queued = "queued"
    active = "active"
    ended = "ended"


class AgentStatus(StrEnum):
    online = "online"
    away = "away"
    offline = "offline"


class ChatWidget(IdMixin, Base):
    """One embeddable widget: where it may be embedded, how it looks and speaks, when it is open."""

    __tablename__ = "chat_widgets"
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    #: Public identifier used in the embedding snippet (``data-widget``) and on the socket URL.
    key: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    #: Exact origins (``https://shop.example``) whose pages may open chats; empty refuses every origin.
    allowed_origins: Mapped[list[str]] = mapped_column(JSONType, default=list)
    #: ``{colour, position (right|left), logo_url}``.
    theme: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    greeting: Mapped[str] = mapped_column(sa.Text, default="")
    #: The default language of the widget's texts; ``texts`` overrides strings per language.
    locale: Mapped[str] = mapped_column(sa.String(16), default="en")
    texts: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    #: ``[{name, label, type (text|email|textarea), required}]`` asked before a chat starts.
    prechat_fields: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    max_chats_per_agent: Mapped[int] = mapped_column(default=3)
    #: Opening hours: ``{"mon": [["09:00", "17:00"]], ...}`` in ``timezone``; empty means always open.
    schedule: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    timezone: Mapped[str] = mapped_column(sa.String(64), default="UTC")
    #: Chats from this widget go to this group's queue (None: the workspace's).
    group_id: Mapped[int | None] = mapped_column(sa.ForeignKey("groups.id", ondelete="SET NULL"), index=True)
    #: Shared with the host site: ``user_hash = HMAC-SHA256(identity_secret, user_id)`` proves a visitor.
    identity_secret: Mapped[str] = mapped_column(sa.String(80))
    enabled: Mapped[bool] = mapped_column(default=True)
    #: Before a person is reached, suggest help-centre articles while the visitor types and let the
    #: answer bot answer the first question (the visitor can always ask for a person).
    answer_bot: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChatVisitor(IdMixin, Base):
    """Someone using a widget: anonymous (known by a signed token) or verified by the host site."""

    __tablename__ = "chat_visitors"
    __table_args__ = (sa.UniqueConstraint("widget_id", "external_id"),)
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    widget_id: Mapped[int] = mapped_column(sa.ForeignKey("chat_widgets.id", ondelete="CASCADE"))
    #: The host site's user id, set only when its HMAC was verified.
    external_id: Mapped[str | None] = mapped_column(sa.String(255))
    contact_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("contacts.id", ondelete="SET NULL"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(200), default="")
    email: Mapped[str] = mapped_column(sa.String(320), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChatSession(IdMixin, Base):
    """One chat: its ticket, queue and assignment state, and its two sequence counters."""

    __tablename__ = "chat_sessions"
    __table_args__ = (
        sa.Index("ix_chat_sessions_ws_state", "workspace_id", "state", "queued_at"),
        sa.Index("ix_chat_sessions_visitor", "visitor_id", "state"),
    )
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"))
    widget_id: Mapped[int] = mapped_column(sa.ForeignKey("chat_widgets.id", ondelete="CASCADE"), index=True)
    visitor_id: Mapped[int] = mapped_column(sa.ForeignKey("chat_visitors.id", ondelete="CASCADE"))
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id", ondelete="CASCADE"), unique=True)
    group_id: Mapped[int | None] = mapped_column(sa.ForeignKey("groups.id", ondelete="SET NULL"), index=True)
    agent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    state: Mapped[str] = mapped_column(sa.String(16), default=ChatState.queued)
    #: Last sequence number given to any message of the conversation (notes included).
    seq: Mapped[int] = mapped_column(default=0)
    #: Last sequence number given to a public message: the only numbering a visitor sees.
    pseq: Mapped[int] = mapped_column(default=0)
    visitor_read_pseq: Mapped[int] = mapped_column(default=0)
    agent_read_pseq: Mapped[int] = mapped_column(default=0)
    origin: Mapped[str] = mapped_column(sa.String(300), default="")
    #: The page the visitor started the chat on (what the widget said; shown to agents as text).
    page_url: Mapped[str] = mapped_column(sa.String(500), default="", server_default="")
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)
    accepted_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]


class ChatMessage(Base):
    """A message's place in its conversation: ``seq`` (every message) and ``pseq`` (public ones only),
    assigned in the transaction that stores the message, and the sender's ``client_id`` (unique per
    ticket, so a resent message is stored once)."""

    __tablename__ = "chat_messages"
    __table_args__ = (
        sa.UniqueConstraint("ticket_id", "client_id"),
        sa.UniqueConstraint("ticket_id", "pseq"),
    )
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    pseq: Mapped[int | None]
    message_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("messages.id", ondelete="CASCADE"), unique=True
    )
    client_id: Mapped[str | None] = mapped_column(sa.String(64))
    public: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChatAgent(Base):
    """An agent's chat status (online, away, offline). Whether they are connected right now is kept in
    the cache with a short time to live, so a process that dies takes its agents offline with it."""

    __tablename__ = "chat_agents"
    workspace_id: Mapped[int] = mapped_column(
        sa.ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    status: Mapped[str] = mapped_column(sa.String(16), default=AgentStatus.offline)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
