"""Request and response bodies of the email channel's API (``api.py``). The mailbox bodies are shared
with the console pages (``views/``): the same fields, limits and messages whichever way an admin
changes a mailbox."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from helpline.errors import Problem
from helpline.types import Email, Strict

Tls = Annotated[str, Field(pattern="^(ssl|starttls|none)$")]
#: A mail server: checked on save by ``mailboxes.check_servers`` (the egress guard, ADR 0012).
Host = Annotated[
    str,
    Field(
        max_length=255,
        description="A public host name or address; internal addresses (loopback, private, link-local, "
        "cloud metadata, …) and ports other than the protocol's only when the operator allows them "
        "(HELPLINE_EGRESS_ALLOW)",
    ),
]
Short = Annotated[str, Field(max_length=255)]
Port = Annotated[int, Field(ge=1, le=65535)]
Auth = Annotated[str, Field(pattern="^(password|xoauth2)$")]


class MailboxBase(Strict):
    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    active: bool | None = None
    group_id: Annotated[int, Field(ge=1, le=2**63 - 1)] | None = None
    imap_host: Host | None = None
    imap_port: Port | None = None
    imap_tls: Tls | None = None
    imap_username: Annotated[str, Field(max_length=320)] | None = None
    imap_auth: Auth | None = None
    imap_secret: (
        Annotated[
            str,
            Field(
                max_length=20000,
                description="Password, or with xoauth2 an access token (unused when the mailbox has an "
                "OAuth2 client, which renews its own); write-only",
            ),
        ]
        | None
    ) = None
    imap_folder: Short | None = None
    imap_move_to: Short | None = None
    smtp_host: Host | None = None
    smtp_port: Port | None = None
    smtp_tls: Tls | None = None
    smtp_username: Annotated[str, Field(max_length=320)] | None = None
    smtp_auth: Auth | None = None
    smtp_secret: (
        Annotated[
            str, Field(max_length=20000, description="Password, or with xoauth2 an access token; write-only")
        ]
        | None
    ) = None
    oauth_token_url: (
        Annotated[
            str,
            Field(
                max_length=2000,
                description="OAuth2 token endpoint (https:// on port 443 at a public address; http:// only "
                "to this machine, and internal addresses only when the operator allows them in "
                "HELPLINE_EGRESS_ALLOW); with a refresh token, access tokens for xoauth2 are renewed there "
                "before they expire",
            ),
        ]
        | None
    ) = None
    oauth_client_id: Annotated[str, Field(max_length=500)] | None = None
    oauth_client_secret: Annotated[str, Field(max_length=2000, description="write-only")] | None = None
    oauth_refresh_token: Annotated[str, Field(max_length=20000, description="write-only")] | None = None
    oauth_scope: (
        Annotated[str, Field(max_length=1000, description="Sent with each refresh when not empty")] | None
    ) = None
    dkim_domain: Annotated[str, Field(max_length=253)] | None = None
    dkim_selector: Annotated[str, Field(max_length=63)] | None = None
    dkim_private_key: Annotated[str, Field(max_length=20000, description="PEM; write-only")] | None = None
    webhook_secret: (
        Annotated[str, Field(max_length=500, description="HMAC key of the webhook; write-only")] | None
    ) = None
    auto_ack: bool | None = None
    auto_ack_subject: Annotated[str, Field(max_length=500)] | None = None
    auto_ack_body: (
        Annotated[str, Field(max_length=10000, description="{number} and {mailbox} are filled in")] | None
    ) = None


class MailboxCreate(MailboxBase):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    address: Email


class MailboxUpdate(MailboxBase):
    address: Email | None = None


def no_nul(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` unchanged, or a 422 naming the first field holding U+0000 (PostgreSQL cannot store it)."""
    for k, v in values.items():
        if isinstance(v, str) and "\x00" in v:
            raise Problem(
                f"{k}: contains U+0000",
                status=422,
                title="Invalid",
                errors=[{"field": k, "message": "contains U+0000"}],
            )
    return values


# --- responses ---------------------------------------------------------------------------------


class MailboxRead(BaseModel):
    """A mailbox without its secrets (``mailboxes.public``: each secret only as ``<name>_set``)."""

    model_config = ConfigDict(extra="allow")
    id: int
    name: str
    address: str
    active: bool


class InboundRead(BaseModel):
    """One received email as stored (its raw bytes at ``/email/inbound/{id}/raw``)."""

    id: int
    mailbox_id: int
    message_key: str = Field(description="The Message-ID, or `sha256:<hash>` of the bytes when it has none")
    raw_sha256: str
    size: int
    source: str = Field(description="smtp, imap, webhook or api")
    envelope_from: str
    from_address: str
    subject: str
    state: str = Field(description="received, processed or failed")
    outcome: str = Field(description="new_ticket, reply, bounce, loop, capped, or failed")
    reason: str
    ticket_id: int | None = None
    message_id: int | None = None
    auth: dict[str, Any] = Field(description="SPF, DKIM and DMARC verdicts")
    attempts: int
    received_at: datetime
    processed_at: datetime | None


class InboundPage(BaseModel):
    items: list[InboundRead]
    next_cursor: str | None


class DeliveryRead(BaseModel):
    """One email sent on a ticket, with its delivery state per recipient."""

    id: int
    message_id: int | None
    kind: str = Field(description="reply, auto_ack or transcript")
    rfc_message_id: str
    recipients: dict[str, str]
    state: str
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    sent_at: datetime | None
    created_at: datetime
    status: str = Field(description='queued, sent, "retrying n" or "failed: why"')


class DeliveryPage(BaseModel):
    items: list[DeliveryRead]


class Accepted(BaseModel):
    id: int
    state: str | None = None
    duplicate: bool | None = None


class ConnectionTest(BaseModel):
    ok: bool
    imap: dict[str, str]
    smtp: dict[str, str]
