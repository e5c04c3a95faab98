"""Tables of the tickets domain."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from helpline.db.base import Base, BigId, IdMixin, JSONType, utcnow


class Status(StrEnum):
    new = "new"
    open = "open"
    pending = "pending"
    on_hold = "on-hold"
    solved = "solved"
    closed = "closed"


class Priority(StrEnum):
    low = "low"
    normal = "normal"
    high = "high"
    urgent = "urgent"


class TicketType(StrEnum):
    question = "question"
    incident = "incident"
    problem = "problem"
    task = "task"
    complaint = "complaint"


class Channel(StrEnum):
    api = "api"
    web = "web"
    email = "email"
    chat = "chat"
    sms = "sms"
    whatsapp = "whatsapp"
    social = "social"
    phone = "phone"
    portal = "portal"


class AuthorKind(StrEnum):
    agent = "agent"
    customer = "customer"
    system = "system"


class LinkKind(StrEnum):
    related = "related"
    parent = "parent"
    child = "child"


class FieldType(StrEnum):
    text = "text"
    number = "number"
    date = "date"
    dropdown = "dropdown"
    checkbox = "checkbox"


def _ws_time_index(name: str, *cols: str) -> sa.Index:
    return sa.Index(name, "workspace_id", *cols, "updated_at", "id")


class Ticket(IdMixin, Base):
    __tablename__ = "tickets"
    __table_args__ = (
        sa.UniqueConstraint("workspace_id", "number"),
        _ws_time_index("ix_tickets_ws_updated"),
        _ws_time_index("ix_tickets_ws_status", "status"),
        _ws_time_index("ix_tickets_ws_assignee", "assignee_id"),
        _ws_time_index("ix_tickets_ws_group", "group_id"),
        _ws_time_index("ix_tickets_ws_requester", "requester_id"),
        _ws_time_index("ix_tickets_ws_org", "organization_id"),
        sa.Index("ix_tickets_ws_created", "workspace_id", "created_at", "id"),
        # For the foreign key's ON DELETE SET NULL: without it, deleting a ticket scans them all.
        sa.Index(
            "ix_tickets_merged_into",
            "merged_into_id",
            postgresql_where=sa.text("merged_into_id IS NOT NULL"),
            sqlite_where=sa.text("merged_into_id IS NOT NULL"),
        ),
    )
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(sa.BigInteger)
    subject: Mapped[str] = mapped_column(sa.String(500))
    status: Mapped[str] = mapped_column(sa.String(16), default=Status.new)
    priority: Mapped[str] = mapped_column(sa.String(16), default=Priority.normal)
    type: Mapped[str | None] = mapped_column(sa.String(16))
    channel: Mapped[str] = mapped_column(sa.String(16), default=Channel.api)
    requester_id: Mapped[int] = mapped_column(sa.ForeignKey("contacts.id"))
    #: The requester's organization when the ticket was created or the requester last changed.
    organization_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="SET NULL")
    )
    assignee_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    group_id: Mapped[int | None] = mapped_column(sa.ForeignKey("groups.id", ondelete="SET NULL"))
    due_at: Mapped[datetime | None]
    custom: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    #: Bumped on every change; the API's ETag.
    version: Mapped[int] = mapped_column(default=1)
    merged_into_id: Mapped[int | None] = mapped_column(sa.ForeignKey("tickets.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    solved_at: Mapped[datetime | None]


class TicketTag(Base):
    __tablename__ = "ticket_tags"
    __table_args__ = (sa.Index("ix_ticket_tags_ws_tag", "workspace_id", "tag", "ticket_id"),)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(sa.String(80), primary_key=True)
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"))


class TicketCC(Base):
    """A contact copied on the ticket (a CC); they receive public replies."""

    __tablename__ = "ticket_ccs"
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        sa.ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class TicketFollower(Base):
    """An agent following the ticket; they are notified of every change."""

    __tablename__ = "ticket_followers"
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)


class TicketLink(IdMixin, Base):
    """``source`` is ``kind`` of ``target``: related, or parent/child (stored once, from the parent)."""

    __tablename__ = "ticket_links"
    __table_args__ = (sa.UniqueConstraint("source_id", "target_id"),)
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"))
    source_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id", ondelete="CASCADE"))
    target_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CustomField(IdMixin, Base):
    __tablename__ = "custom_fields"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "key"),)
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(sa.String(64))
    label: Mapped[str] = mapped_column(sa.String(200))
    type: Mapped[str] = mapped_column(sa.String(16))
    options: Mapped[list[str]] = mapped_column(JSONType, default=list)
    required: Mapped[bool] = mapped_column(default=False)
    customer_visible: Mapped[bool] = mapped_column(default=False)
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Message(IdMixin, Base):
    """One entry of a conversation. Append-only: a trigger refuses changes to its content, except one
    redaction (``redacted_at`` set with the erasure marker as its body, migration 0037)."""

    __tablename__ = "messages"
    __table_args__ = (
        sa.Index("ix_messages_ticket", "ticket_id", "id"),
        # For the foreign key's ON DELETE SET NULL when a contact is deleted.
        sa.Index(
            "ix_messages_author_contact",
            "author_contact_id",
            postgresql_where=sa.text("author_contact_id IS NOT NULL"),
            sqlite_where=sa.text("author_contact_id IS NOT NULL"),
        ),
    )
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"))
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id", ondelete="CASCADE"))
    public: Mapped[bool] = mapped_column(default=True)
    author_kind: Mapped[str] = mapped_column(sa.String(16))
    author_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    author_contact_id: Mapped[int | None] = mapped_column(sa.ForeignKey("contacts.id", ondelete="SET NULL"))
    channel: Mapped[str] = mapped_column(sa.String(16))
    body_text: Mapped[str] = mapped_column(sa.Text)
    body_html: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: When the text was erased at the customer's request (``customers.privacy``); never changes after.
    redacted_at: Mapped[datetime | None]


class Upload(IdMixin, Base):
    """A file uploaded ahead of the message that will carry it; content is stored by SHA-256."""

    __tablename__ = "uploads"
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"))
    token: Mapped[str] = mapped_column(sa.String(64), unique=True)
    uploader_user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(sa.String(255))
    content_type: Mapped[str] = mapped_column(sa.String(255))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Attachment(IdMixin, Base):
    __tablename__ = "attachments"
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"))
    message_id: Mapped[int] = mapped_column(sa.ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(sa.String(255))
    content_type: Mapped[str] = mapped_column(sa.String(255))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Event(IdMixin, Base):
    """One change to a ticket: the audit history, and the source of every later metric."""

    __tablename__ = "events"
    __table_args__ = (
        sa.Index("ix_events_ticket", "ticket_id", "id"),
        sa.Index("ix_events_ws_created", "workspace_id", "created_at"),
    )
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"))
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(32))
    field: Mapped[str | None] = mapped_column(sa.String(64))
    old: Mapped[Any] = mapped_column(JSONType, nullable=True)
    new: Mapped[Any] = mapped_column(JSONType, nullable=True)
    actor_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    actor_kind: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


_ = BigId


class SavedView(IdMixin, Base):
    """An inbox view built from list filters: private to its owner, or shared with a group."""

    __tablename__ = "saved_views"
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    owner_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    group_id: Mapped[int | None] = mapped_column(sa.ForeignKey("groups.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(100))
    filters: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TicketDraft(Base):
    """What an agent has typed in a ticket's composer and not sent yet: one per agent and ticket,
    saved as they type (``tickets/service/_compose.py``) and deleted when they send."""

    __tablename__ = "ticket_drafts"
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(sa.Text, default="")
    public: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class TicketSnooze(Base):
    """A ticket put aside until ``until``: it leaves the open views until then (a job wakes it, and
    so does any customer reply). At most one per ticket (``tickets/service/_snooze.py``)."""

    __tablename__ = "ticket_snoozes"
    __table_args__ = (sa.Index("ix_ticket_snoozes_until", "until"),)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True)
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    until: Mapped[datetime]
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TimeEntry(IdMixin, Base):
    """Minutes an agent spent on a ticket, with an optional note (``tickets/service/_time.py``)."""

    __tablename__ = "time_entries"
    __table_args__ = (
        sa.Index("ix_time_entries_ticket", "ticket_id", "id"),
        sa.Index("ix_time_entries_ws_user", "workspace_id", "user_id", "created_at"),
    )
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"))
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    minutes: Mapped[int]
    note: Mapped[str] = mapped_column(sa.String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TicketImport(IdMixin, Base):
    """A ticket brought in from another help desk (``tickets/service/_import.py``): which item of which
    source it was, so that importing the same item again changes nothing."""

    __tablename__ = "ticket_imports"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "source", "source_id"),)
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"))
    #: Where it came from: ``zendesk``, ``csv:<name>``, or what an API client names.
    source: Mapped[str] = mapped_column(sa.String(100))
    source_id: Mapped[str] = mapped_column(sa.String(200))
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
