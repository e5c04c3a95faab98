"""Request and response bodies of the webhooks API (``/api/v1/webhooks``). The URL, event and name
rules are :mod:`helpline.domains.webhooks.service`'s, shared with the admin pages."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from helpline.types import Strict

EventType = Literal["ticket.created", "ticket.updated", "message.created", "ticket.solved"]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
# Longer than the rule (2,000) so that the service's check answers, naming ``url``, with its reason.
Url = Annotated[str, StringConstraints(max_length=10_000)]


class WebhookCreate(Strict):
    """A target: where to POST (``https://`` or ``http://``, no user name or password, at most
    2,000 characters) and which events. ``disable_after``: failed deliveries in a row before the
    target is disabled (default 20)."""

    name: Name
    url: Url
    event_types: Annotated[list[EventType], Field(min_length=1, max_length=10)]
    enabled: bool = True
    disable_after: Annotated[int, Field(ge=1, le=1000)] = 20


class WebhookUpdate(Strict):
    """The fields to change; enabling a disabled target clears its failures."""

    name: Name | None = None
    url: Url | None = None
    event_types: Annotated[list[EventType], Field(min_length=1, max_length=10)] | None = None
    enabled: bool | None = None
    disable_after: Annotated[int, Field(ge=1, le=1000)] | None = None


class LastDelivery(BaseModel):
    id: int
    status: str
    event_type: str
    created_at: datetime
    last_status_code: int | None


class WebhookRead(BaseModel):
    """A target as read: the secret is never shown again, only its last four characters."""

    id: int
    name: str
    url: str
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None
    disabled_at: datetime | None
    consecutive_failures: int
    disable_after: int
    secret_hint: str
    created_at: datetime
    updated_at: datetime
    last_delivery: LastDelivery | None = None


class WebhookCreated(WebhookRead):
    """The created target with its secret (``whsec_…``), shown this once: keep it to verify signatures."""

    secret: str


class WebhookSecret(BaseModel):
    """A new secret (the old one stops working at once), shown this once."""

    id: int
    secret: str
    secret_hint: str


class DeliveryRead(BaseModel):
    """One event for the target: ``pending`` (queued or waiting for a retry at ``next_attempt_at``),
    ``delivered`` or ``failed``; ``log`` lists each attempt."""

    id: int
    event_id: str
    event_type: str
    ticket_id: int | None
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    latency_ms: int | None
    response_excerpt: str | None
    log: list[dict[str, Any]]
    body: dict[str, Any]
    created_at: datetime
    delivered_at: datetime | None


class DeliveryPage(BaseModel):
    """Newest first; pass ``next_before`` as ``before`` for the next page (``null``: no more)."""

    items: list[DeliveryRead]
    next_before: int | None
