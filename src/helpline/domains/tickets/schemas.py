"""Request and response bodies of the tickets API (TicketCreate / TicketUpdate / TicketRead …)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, Field, StringConstraints, model_validator

from helpline.domains.tickets.models import Channel, FieldType, LinkKind, Priority, Status, TicketType
from helpline.types import Email, Id, Strict, Tag

Subject = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Body = Annotated[str, StringConstraints(min_length=1, max_length=200_000)]


class RequesterIn(Strict):
    email: Email
    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""


class TicketCreate(Strict):
    subject: Subject
    body: Body
    requester: RequesterIn | None = None
    requester_id: Id | None = None
    priority: Priority = Priority.normal
    type: TicketType | None = None
    channel: Channel = Channel.api
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    assignee_id: Id | None = None
    group_id: Id | None = None
    due_at: datetime | None = None
    custom_fields: dict[str, Any] = Field(default_factory=dict)
    cc_emails: list[Email] = Field(default_factory=list, max_length=50)
    public: bool = True
    attachments: list[str] = Field(default_factory=list, max_length=20, description="Upload tokens")
    html: bool = Field(default=False, description="The body is HTML (it will be sanitized)")

    @model_validator(mode="after")
    def _one_requester(self) -> TicketCreate:
        if self.requester is not None and self.requester_id is not None:
            raise ValueError("give either requester or requester_id, not both")
        return self


class TicketUpdate(Strict):
    subject: Subject | None = None
    status: Status | None = None
    priority: Priority | None = None
    type: TicketType | None = None
    requester_id: Id | None = None
    assignee_id: Id | None = None
    group_id: Id | None = None
    due_at: datetime | None = None
    tags: list[Tag] | None = Field(default=None, max_length=50)
    add_tags: list[Tag] | None = Field(default=None, max_length=50)
    remove_tags: list[Tag] | None = Field(default=None, max_length=50)
    custom_fields: dict[str, Any] | None = None
    follower_ids: list[Id] | None = Field(default=None, max_length=100)
    cc_emails: list[Email] | None = Field(default=None, max_length=50)


class TicketRead(BaseModel):
    id: int
    number: int
    subject: str
    status: Status
    priority: Priority
    type: TicketType | None
    channel: Channel
    requester_id: int
    organization_id: int | None
    assignee_id: int | None
    group_id: int | None
    due_at: datetime | None
    tags: list[str]
    custom_fields: dict[str, Any]
    merged_into_id: int | None
    version: int
    created_at: datetime
    updated_at: datetime
    solved_at: datetime | None


class SlaTarget(BaseModel):
    """One SLA target of the ticket (docs/sla.md): ``status`` is ``active``, ``paused``, ``fulfilled``
    or ``breached``; ``due_at`` is set while the clock runs; minutes are used so far (or in all,
    once it stopped), in business hours and in calendar time."""

    metric: Literal[
        "first_reply", "next_reply", "periodic_update", "resolution", "requester_wait", "agent_work"
    ]
    cycle: int
    status: Literal["active", "paused", "fulfilled", "breached"]
    due_at: datetime | None
    warn_at: datetime | None
    target_minutes: int
    business: bool
    started_at: datetime | None
    stopped_at: datetime | None
    breached_at: datetime | None
    business_minutes: float
    calendar_minutes: float


class TicketDetail(TicketRead):
    follower_ids: list[int]
    cc_contact_ids: list[int]
    links: list[LinkRead]
    #: The ticket's SLA targets (staff only; empty for customers and for tickets without a policy).
    sla: list[SlaTarget] = []


class TicketPage(BaseModel):
    items: list[TicketRead]
    next_cursor: str | None


class BulkUpdate(Strict):
    ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] = Field(min_length=1, max_length=100)
    changes: TicketUpdate


class BulkResult(BaseModel):
    updated: list[int]
    failed: list[dict[str, Any]]


class MessageCreate(Strict):
    body: Body
    public: bool = True
    html: bool = Field(default=False, description="The body is HTML (it will be sanitized)")
    attachments: list[str] = Field(default_factory=list, max_length=20, description="Upload tokens")


class AttachmentRead(BaseModel):
    id: int
    filename: str
    content_type: str
    size: int
    url: str


class MessageRead(BaseModel):
    id: int
    ticket_id: int
    public: bool
    author_kind: str
    author_user_id: int | None
    author_contact_id: int | None
    channel: str
    body_text: str
    body_html: str
    created_at: datetime
    attachments: list[AttachmentRead]


class MessagePage(BaseModel):
    items: list[MessageRead]
    next_cursor: str | None


class EventRead(BaseModel):
    id: int
    kind: str
    field: str | None
    old: Any
    new: Any
    actor_user_id: int | None
    actor_kind: str
    created_at: datetime


class EventPage(BaseModel):
    items: list[EventRead]
    next_cursor: str | None


class LinkCreate(Strict):
    """Link this ticket to ``target_id``: this ticket is ``kind`` of the target (e.g. its child)."""

    target_id: Id
    kind: LinkKind


class LinkRead(BaseModel):
    """The linked ticket, and what it is to this one (its parent, its child, or related)."""

    ticket_id: int
    kind: LinkKind


class MergeRequest(Strict):
    target_id: Id = Field(description="The ticket that absorbs this one")


class SplitRequest(Strict):
    message_id: Id
    subject: Subject | None = None


class UploadRead(BaseModel):
    token: str
    filename: str
    content_type: str
    size: int


class CustomFieldCreate(Strict):
    key: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
    label: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    type: FieldType
    options: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=500
    )
    required: bool = False
    customer_visible: bool = False
    position: int = Field(default=0, ge=0, le=10_000)


class CustomFieldUpdate(Strict):
    label: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] | None = (
        None
    )
    options: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] | None = Field(
        default=None, max_length=500
    )
    required: bool | None = None
    customer_visible: bool | None = None
    position: int | None = Field(default=None, ge=0, le=10_000)


class CustomFieldRead(BaseModel):
    id: int
    key: str
    label: str
    type: FieldType
    options: list[str]
    required: bool
    customer_visible: bool
    position: int


class TagRead(BaseModel):
    name: str
    count: int


class TagRename(Strict):
    name: Tag


TicketDetail.model_rebuild()


# --- composing: drafts, snooze, time entries (compose_api.py) ---------------------------------------


class DraftWrite(Strict):
    """What the agent has typed and not sent; an empty body deletes the draft."""

    body: str = Field(default="", max_length=200_000)
    public: bool = True


class DraftRead(BaseModel):
    """The calling agent's own draft on the ticket (nobody reads another's)."""

    body: str
    public: bool
    updated_at: datetime | None


class SnoozeWrite(Strict):
    until: datetime = Field(description="When the ticket comes back (with its offset; within a year)")


class SnoozeRead(BaseModel):
    snoozed: bool
    until: datetime | None = None
    user_id: int | None = None


class TimeEntryCreate(Strict):
    minutes: int = Field(ge=1, le=24 * 60, description="Minutes spent (1 to 1440)")
    note: str = Field(default="", max_length=500)


class TimeEntryRead(BaseModel):
    id: int
    user_id: int | None
    minutes: int
    note: str
    created_at: datetime


class TimeEntryPage(BaseModel):
    items: list[TimeEntryRead]
    total_minutes: int


class TimeTotal(BaseModel):
    """Minutes summed for one agent (``user_id``) or one ticket (``ticket_id``)."""

    user_id: int | None = None
    ticket_id: int | None = None
    minutes: int
    entries: int


class TimeReport(BaseModel):
    by: str
    items: list[TimeTotal]


class SearchCount(BaseModel):
    kind: str = Field(description="tickets, contacts, organizations or articles")
    total: int = Field(description="How many match; a floor when capped")
    capped: bool = Field(description="More match than total (tickets, contacts: 1,000; articles: 40)")


class SearchHit(BaseModel):
    kind: str
    id: int
    title: str = Field(description="Ticket subject (with its number), name, or article title")
    url: str = Field(description="The console page of the hit")
    snippet: str = Field(
        description="Escaped HTML: the passage that matched, each matched word in <mark>; nothing else"
    )
    status: str | None = None
    score: float | None = Field(default=None, description="Tickets: the relevance score, higher first")


class SearchResults(BaseModel):
    q: str
    kind: str
    page: int
    per_page: int
    counts: list[SearchCount]
    hits: list[SearchHit]


# --- imports: tickets with their history from another help desk (imports_api.py, service/_import.py) ---

SourceName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")
]
ImportText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
AuthorKindIn = Literal["customer", "agent"]


class ImportPerson(Strict):
    """Who wrote a message, or who asked: matched by email (contacts, or the workspace's staff)."""

    email: Email | None = None
    name: ImportText = ""


class ImportMessage(Strict):
    author: ImportPerson | None = Field(
        default=None, description="Customers: the contact (default: the requester); agents: matched by email"
    )
    author_kind: AuthorKindIn = Field(description="customer or agent")
    public: bool = Field(default=True, description="false: an internal note (agents only)")
    channel: Channel | None = Field(default=None, description="Default: the ticket's channel")
    created_at: AwareDatetime = Field(description="When it was written (RFC 3339 with its offset)")
    body_text: Annotated[str, StringConstraints(max_length=200_000)] | None = None
    body_html: Annotated[str, StringConstraints(max_length=400_000)] | None = Field(
        default=None, description="Sanitized on the way in"
    )

    @model_validator(mode="after")
    def _one_body(self) -> ImportMessage:
        if not (self.body_text or "").strip() and not (self.body_html or "").strip():
            raise ValueError("give body_text or body_html")
        if self.author_kind == "customer" and not self.public:
            raise ValueError("a customer's message is public")
        return self


class ImportStatusChange(Strict):
    at: AwareDatetime
    status: Status


class ImportTicket(Strict):
    """One ticket of an export, with its history. Validated one by one: a bad item is refused and
    the others still import."""

    source_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    subject: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""
    created_at: AwareDatetime
    status: Status = Field(description="The status now; the history ends in it")
    priority: Priority = Priority.normal
    type: TicketType | None = None
    channel: Channel = Channel.api
    requester: ImportPerson
    organization: ImportText | None = Field(default=None, description="Matched by name, created if new")
    group: ImportText | None = Field(default=None, description="Matched by name; unknown is refused")
    assignee: Email | None = Field(default=None, description="A staff member's email; unknown is refused")
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    custom: dict[str, Any] = Field(default_factory=dict, description="Custom field values by key")
    messages: list[ImportMessage] = Field(min_length=1, max_length=1000)
    status_changes: list[ImportStatusChange] = Field(default_factory=list, max_length=1000)


#: The most tickets one request may carry.
IMPORT_BATCH = 100


class TicketImportRequest(Strict):
    source: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$"),
    ] = Field(description='Where the tickets come from, e.g. "zendesk"; source ids are unique within it')
    tickets: list[dict[str, Any]] = Field(
        max_length=IMPORT_BATCH, description=f"At most {IMPORT_BATCH} tickets (ImportTicket) per request"
    )


class ImportFieldError(BaseModel):
    field: str
    message: str


class ImportRefusal(BaseModel):
    index: int = Field(description="The item's position in the request (or the file's row)")
    source_id: str | None
    errors: list[ImportFieldError]


class ImportedTicket(BaseModel):
    source_id: str
    ticket_id: int
    number: int
    result: str = Field(description="created or unchanged")
    notes: list[str] = Field(default_factory=list, description="What was imported differently, and why")


class TicketImportResult(BaseModel):
    created: int
    unchanged: int
    refused: list[ImportRefusal]
    tickets: list[ImportedTicket]
