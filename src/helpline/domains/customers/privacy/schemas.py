"""Bodies of the privacy endpoints: the erase request and result, and the export document's schema
(format_version 1). The export is built as plain dicts (``_export.py``); these models document it in
the OpenAPI document, and the API's contract test checks every answer against them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from helpline.types import Strict


class EraseContact(Strict):
    confirm: Literal["ERASE"] = Field(description="Must be ERASE: erasing cannot be undone")


class EraseResult(BaseModel):
    contact_id: int
    erased_at: datetime | None
    counts: dict[str, int] = Field(
        description="What this request changed, by kind (messages, attachments, files, inbound_emails, "
        "tickets, events, identities, contacts, memberships, accounts_disabled, chat_visitors, "
        "outbound_emails, bounce_records, search_log, feedback, stored_answers); empty when there was "
        "nothing left to erase"
    )


class ExportWorkspace(BaseModel):
    id: int
    slug: str
    name: str


class ExportMergedContact(BaseModel):
    id: int
    name: str
    created_at: datetime


class ExportContact(BaseModel):
    id: int
    name: str
    organization_id: int | None
    notes: str
    tags: list[str]
    attributes: dict[str, Any] = Field(description="The contact's custom fields")
    created_at: datetime
    updated_at: datetime
    erased_at: datetime | None
    merged_contacts: list[ExportMergedContact] = Field(description="Duplicates merged into this contact")


class ExportIdentity(BaseModel):
    id: int
    kind: str = Field(description="email, phone, whatsapp, twitter, facebook, instagram or telegram")
    value: str
    primary: bool


class ExportOrganization(BaseModel):
    id: int
    name: str
    domains: list[str]


class ExportSession(BaseModel):
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    method: str


class ExportAccount(BaseModel):
    """Their sign-in account as this workspace knows it: never their other workspaces."""

    user_id: int
    email: str
    name: str
    role: str = Field(description="Their role in this workspace (customer)")
    active: bool
    member_since: datetime
    sessions: list[ExportSession] = Field(description="Their sign-ins to this workspace")


class ExportAttachment(BaseModel):
    id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    download: str = Field(description="The API path that downloads it (admins)")
    file: str = Field(description="Its path inside the ZIP export")


class ExportMessage(BaseModel):
    id: int
    public: bool = Field(description="False for an internal note")
    author_kind: str = Field(description="customer, agent or system")
    author_user_id: int | None
    author_contact_id: int | None
    by_this_contact: bool = Field(description="Written by this contact (or a duplicate merged into it)")
    channel: str
    body_text: str
    body_html: str
    created_at: datetime
    redacted_at: datetime | None = Field(description="When its text was erased")
    attachments: list[ExportAttachment]


class ExportTicket(BaseModel):
    id: int
    number: int
    relation: Literal["requester", "cc", "author"] = Field(
        description="requester: every message, public and internal; cc: the public messages and theirs; "
        "author: a ticket that is neither, holding a message of theirs (that message only)"
    )
    subject: str
    status: str
    priority: str
    type: str | None
    channel: str
    organization_id: int | None
    custom_fields: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    solved_at: datetime | None
    messages: list[ExportMessage]


class ExportChatLine(BaseModel):
    message_id: int = Field(description="The message (in tickets[].messages) this line is")
    seq: int
    pseq: int | None
    public: bool
    created_at: datetime


class ExportChat(BaseModel):
    id: int
    ticket_id: int
    widget_id: int
    visitor_id: int
    state: str
    origin: str = Field(description="The page the chat began on")
    queued_at: datetime
    accepted_at: datetime | None
    ended_at: datetime | None
    lines: list[ExportChatLine]


class ExportChatVisitor(BaseModel):
    id: int
    widget_id: int
    name: str
    email: str
    external_id: str | None = Field(description="Their user id on the site that embeds the widget")
    created_at: datetime
    last_seen_at: datetime


class ExportInboundEmail(BaseModel):
    id: int
    mailbox_id: int
    mailbox_address: str
    message_key: str
    source: str
    envelope_from: str
    from_address: str
    subject: str
    state: str
    outcome: str
    reason: str
    ticket_id: int | None
    message_id: int | None
    auth: dict[str, Any] = Field(description="SPF, DKIM and DMARC verdicts")
    size: int
    raw_sha256: str
    received_at: datetime
    processed_at: datetime | None
    headers: list[list[str]] | None = Field(
        description="[name, decoded value] pairs in order; null when the stored email is gone"
    )
    download: str = Field(description="The API path of the original .eml (admins)")
    file: str = Field(description="Its path inside the ZIP export")


class ExportOutboundEmail(BaseModel):
    id: int
    ticket_id: int | None
    message_id: int | None
    kind: str
    recipients: dict[str, Any] = Field(description="Delivery state by address")
    state: str
    sent_at: datetime | None
    created_at: datetime


class ExportBounce(BaseModel):
    address: str
    bounces: int
    last_reason: str
    updated_at: datetime


class ExportEmail(BaseModel):
    inbound: list[ExportInboundEmail]
    outbound: list[ExportOutboundEmail]
    bounces: list[ExportBounce]


class ExportSearch(BaseModel):
    id: int
    query: str
    locale: str
    source: str
    results: int
    created_at: datetime


class ExportFeedback(BaseModel):
    id: int
    article_id: int
    locale: str
    helpful: bool
    comment: str
    created_at: datetime


class ExportKnowledge(BaseModel):
    searches: list[ExportSearch] = Field(
        description="Help-centre searches whose text is something they wrote or holds their address"
    )
    feedback: list[ExportFeedback] = Field(description="Article feedback whose comment holds their address")


class ContactExport(BaseModel):
    """Everything held about one contact in one workspace (docs/customers.md)."""

    format_version: Literal[1]
    exported_at: datetime
    workspace: ExportWorkspace
    contact: ExportContact
    identities: list[ExportIdentity]
    organization: ExportOrganization | None
    accounts: list[ExportAccount]
    tickets: list[ExportTicket]
    chats: list[ExportChat]
    chat_visitors: list[ExportChatVisitor]
    email: ExportEmail
    knowledge: ExportKnowledge
    portal_sign_in_links: list[dict[str, Any]] = Field(
        description="Always empty: sign-in links are signed, not stored"
    )
    satisfaction: list[dict[str, Any]] = Field(description="Always empty until satisfaction surveys exist")
