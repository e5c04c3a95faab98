"""Tables of the email channel: mailboxes, inbound mail (raw bytes by hash), threads, outbound mail.

Migration ``0010_email`` creates them; keep the two in step.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from helpline.db.base import Base, IdMixin, JSONType, utcnow


class InboundState(StrEnum):
    received = "received"  # raw bytes stored, row committed, not processed yet
    processed = "processed"  # a ticket or a message exists for it (or it was deliberately dropped)
    failed = "failed"  # could not be parsed or broke a limit: on the failed-mail list


class OutboundState(StrEnum):
    queued = "queued"
    sent = "sent"
    retrying = "retrying"
    failed = "failed"


class Mailbox(IdMixin, Base):
    """A support address: how its mail comes in (IMAP, our SMTP receiver, a webhook) and goes out."""

    __tablename__ = "email_mailboxes"
    __table_args__ = (sa.UniqueConstraint("address"),)
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    #: The support address (lower case); replies carry it as From, plus-addressed as Reply-To.
    address: Mapped[str] = mapped_column(sa.String(320))
    active: Mapped[bool] = mapped_column(default=True)
    group_id: Mapped[int | None] = mapped_column(sa.ForeignKey("groups.id", ondelete="SET NULL"))
    #: IMAP: host empty means no fetcher. tls is "ssl", "starttls" or "none"; auth "password" or "xoauth2".
    imap_host: Mapped[str] = mapped_column(sa.String(255), default="")
    imap_port: Mapped[int] = mapped_column(default=993)
    imap_tls: Mapped[str] = mapped_column(sa.String(16), default="ssl")
    imap_username: Mapped[str] = mapped_column(sa.String(320), default="")
    imap_auth: Mapped[str] = mapped_column(sa.String(16), default="password")
    imap_secret: Mapped[str] = mapped_column(sa.Text, default="")
    imap_folder: Mapped[str] = mapped_column(sa.String(255), default="INBOX")
    #: Where fetched mail goes after commit: empty keeps it (flagged \\Seen), else the folder to move it to.
    imap_move_to: Mapped[str] = mapped_column(sa.String(255), default="")
    imap_uidvalidity: Mapped[int | None] = mapped_column(sa.BigInteger)
    imap_last_uid: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    #: SMTP out: host empty means the install's own mail transport.
    smtp_host: Mapped[str] = mapped_column(sa.String(255), default="")
    smtp_port: Mapped[int] = mapped_column(default=587)
    smtp_tls: Mapped[str] = mapped_column(sa.String(16), default="starttls")
    smtp_username: Mapped[str] = mapped_column(sa.String(320), default="")
    #: "password" or "xoauth2" (migration 0033); with xoauth2, smtp_secret is an access token, unless
    #: the mailbox has an OAuth2 client (below), whose renewed token serves both directions.
    smtp_auth: Mapped[str] = mapped_column(sa.String(16), default="password", server_default="password")
    smtp_secret: Mapped[str] = mapped_column(sa.Text, default="")
    dkim_domain: Mapped[str] = mapped_column(sa.String(253), default="")
    dkim_selector: Mapped[str] = mapped_column(sa.String(63), default="")
    dkim_private_key: Mapped[str] = mapped_column(sa.Text, default="")
    #: OAuth2 client for XOAUTH2 (migration 0033): the access token is renewed from the refresh token
    #: at the token endpoint (RFC 6749 section 6) and cached with its expiry (``oauth2.py``).
    oauth_token_url: Mapped[str] = mapped_column(sa.String(2000), default="", server_default="")
    oauth_client_id: Mapped[str] = mapped_column(sa.String(500), default="", server_default="")
    oauth_client_secret: Mapped[str] = mapped_column(sa.Text, default="", server_default="")
    oauth_refresh_token: Mapped[str] = mapped_column(sa.Text, default="", server_default="")
    oauth_scope: Mapped[str] = mapped_column(sa.String(1000), default="", server_default="")
    oauth_access_token: Mapped[str] = mapped_column(sa.Text, default="", server_default="")
    oauth_expires_at: Mapped[datetime | None]
    #: Why the token endpoint last refused a refresh (cleared by a good one or new client settings).
    oauth_error: Mapped[str | None] = mapped_column(sa.Text)
    oauth_error_at: Mapped[datetime | None]
    #: HMAC key of the raw-MIME webhook; empty disables the webhook for this mailbox.
    webhook_secret: Mapped[str] = mapped_column(sa.Text, default="")
    auto_ack: Mapped[bool] = mapped_column(default=False)
    auto_ack_subject: Mapped[str] = mapped_column(sa.String(500), default="")
    auto_ack_body: Mapped[str] = mapped_column(sa.Text, default="")
    #: Health: the fetcher's lease (one fetcher per mailbox), its last good fetch and last error.
    lease_owner: Mapped[str | None] = mapped_column(sa.String(128))
    lease_until: Mapped[datetime | None]
    last_fetch_ok_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    last_error_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class InboundMail(IdMixin, Base):
    """One message received, stored as raw bytes (``raw_sha256`` in platform storage) before parsing.

    ``(mailbox_id, message_key)`` is unique: the same message fetched twice, or again after a crash
    between the commit and the IMAP flag, is one row and so one ticket.
    """

    __tablename__ = "email_inbound"
    __table_args__ = (
        sa.UniqueConstraint("mailbox_id", "message_key"),
        sa.Index("ix_email_inbound_ws_state", "workspace_id", "state", "id"),
        sa.Index("ix_email_inbound_sender", "mailbox_id", "from_address", "received_at"),
        # The stale-mail sweep finds mail still waiting (migration 0034).
        sa.Index(
            "ix_email_inbound_received",
            "received_at",
            postgresql_where=sa.text("state = 'received'"),
            sqlite_where=sa.text("state = 'received'"),
        ),
        # The ticket page reads a message's mail by message id (migration 0032).
        sa.Index(
            "ix_email_inbound_message",
            "message_id",
            postgresql_where=sa.text("message_id IS NOT NULL"),
            sqlite_where=sa.text("message_id IS NOT NULL"),
        ),
    )
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"))
    mailbox_id: Mapped[int] = mapped_column(sa.ForeignKey("email_mailboxes.id", ondelete="CASCADE"))
    #: The Message-ID header without brackets, or ``sha256:<hash>`` when there is none.
    message_key: Mapped[str] = mapped_column(sa.String(255))
    raw_sha256: Mapped[str] = mapped_column(sa.String(64))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    source: Mapped[str] = mapped_column(sa.String(16))  # smtp | imap | webhook | api
    envelope_from: Mapped[str] = mapped_column(sa.String(320), default="")
    from_address: Mapped[str] = mapped_column(sa.String(320), default="")
    subject: Mapped[str] = mapped_column(sa.String(500), default="")
    state: Mapped[str] = mapped_column(sa.String(16), default=InboundState.received)
    #: What processing did (new_ticket, reply, bounce, loop, …) or, when failed, why.
    outcome: Mapped[str] = mapped_column(sa.String(32), default="")
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    ticket_id: Mapped[int | None] = mapped_column(sa.ForeignKey("tickets.id", ondelete="SET NULL"))
    message_id: Mapped[int | None] = mapped_column(sa.ForeignKey("messages.id", ondelete="SET NULL"))
    #: SPF/DKIM/DMARC verdicts from our own receiving host's Authentication-Results.
    auth: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    attempts: Mapped[int] = mapped_column(default=0)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]


class EmailThread(Base):
    """A ticket served by a mailbox: replies go out through it."""

    __tablename__ = "email_threads"
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(
        sa.ForeignKey("email_mailboxes.id", ondelete="CASCADE"), index=True
    )
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"))


class EmailMessageId(Base):
    """An RFC 5322 Message-ID seen on a ticket (ours outgoing, or theirs incoming), for threading."""

    __tablename__ = "email_message_ids"
    workspace_id: Mapped[int] = mapped_column(
        sa.ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    rfc_id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    outgoing: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboundMail(IdMixin, Base):
    """One email to send (an agent's reply, an auto-acknowledgement, a chat's transcript) and its
    delivery state.

    ``recipients`` maps each address to ``pending``, ``sent`` or ``failed: <why>``: one refused
    recipient does not hold back the others.
    """

    __tablename__ = "email_outbound"
    __table_args__ = (
        sa.UniqueConstraint("message_id"),
        sa.Index("ix_email_outbound_ws_state", "workspace_id", "state", "id"),
        sa.Index("ix_email_outbound_to", "workspace_id", "kind", "first_recipient", "created_at"),
    )
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"))
    mailbox_id: Mapped[int] = mapped_column(sa.ForeignKey("email_mailboxes.id", ondelete="CASCADE"))
    ticket_id: Mapped[int | None] = mapped_column(sa.ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    #: The agent's message; NULL for mail written by us (an acknowledgement, a transcript).
    message_id: Mapped[int | None] = mapped_column(sa.ForeignKey("messages.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(16))  # reply | auto_ack | transcript (of a chat)
    rfc_message_id: Mapped[str] = mapped_column(sa.String(255))
    first_recipient: Mapped[str] = mapped_column(sa.String(320))
    recipients: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    #: For an auto-acknowledgement, the rendered subject/body and threading headers.
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    state: Mapped[str] = mapped_column(sa.String(16), default=OutboundState.queued)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    next_attempt_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AddressStatus(Base):
    """An address that bounced: replies to it are held back and the agent sees why."""

    __tablename__ = "email_address_status"
    workspace_id: Mapped[int] = mapped_column(
        sa.ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    address: Mapped[str] = mapped_column(sa.String(320), primary_key=True)
    bounces: Mapped[int] = mapped_column(default=0)
    last_reason: Mapped[str] = mapped_column(sa.Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
