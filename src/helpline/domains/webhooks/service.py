"""Writes of webhook targets (admins only) and the outbox every delivery starts in.

Rules:

- ``url``: ``https://`` or ``http://``, a host, no user name or password, no spaces, at most 2,000
  characters (422 naming ``url``). Whether the host may be reached is the egress guard's decision
  at delivery time (ADR 0012), so a name that changes what it resolves to is checked when it counts.
- ``event_types``: one or more of :data:`EVENT_TYPES`.
- The secret (``whsec_`` + base64 of 32 random bytes) is made on create and by a rotation, and
  returned only then.
- Enabling a target clears its failure count and the reason it was disabled; an admin disabling it
  records "disabled by an admin".
- :func:`outbox` writes deliveries in the caller's transaction (unique per target and event, so a
  batch seen twice sends nothing twice) and queues their ``webhooks.deliver`` jobs with it.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from helpline.db.base import utcnow
from helpline.domains.accounts import audit
from helpline.domains.accounts.principal import Principal
from helpline.domains.accounts.queries import require_admin
from helpline.domains.webhooks.models import WebhookDelivery, WebhookTarget
from helpline.domains.webhooks.queries import target_row
from helpline.errors import Invalid
from helpline.platform import jobs
from helpline.platform.db import UnitOfWork

targets_t: sa.Table = WebhookTarget.__table__
deliveries_t: sa.Table = WebhookDelivery.__table__

#: The events a target may subscribe to, in the order pages list them (bodies: docs/webhooks.md).
EVENT_TYPES: tuple[str, ...] = ("ticket.created", "ticket.updated", "message.created", "ticket.solved")
#: The event of ``POST /webhooks/{id}/test``, sent whatever the target subscribes to.
TEST_EVENT = "webhook.test"
URL_MAX = 2000
DELIVER = "webhooks.deliver"
PRUNE = "webhooks.prune"


@dataclass(frozen=True)
class TargetChanges:
    """A target as an admin sent it; ``None`` leaves a field as it is (create needs name, url, events)."""

    name: str | None = None
    url: str | None = None
    event_types: list[str] | None = None
    enabled: bool | None = None
    disable_after: int | None = None


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def check_url(url: str) -> str:
    """The URL as stored, or :class:`Invalid` naming ``url`` with the reason."""
    url = url.strip()
    if not url:
        raise Invalid("url", "enter the address to send events to")
    if len(url) > URL_MAX:
        raise Invalid("url", f"at most {URL_MAX:,} characters")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise Invalid("url", "must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise Invalid("url", "is not a valid URL") from None
    if parts.scheme.lower() not in ("https", "http"):
        raise Invalid("url", "must start with https:// (or http://)")
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        raise Invalid("url", "must not contain a user name or password")
    if not parts.hostname:
        raise Invalid("url", "has no host")
    if port == 0:
        raise Invalid("url", "has no valid port")
    return url


def check_events(event_types: list[str]) -> list[str]:
    chosen = set(event_types)
    unknown = chosen - set(EVENT_TYPES)
    if unknown:
        first = sorted(unknown)[0]
        raise Invalid("event_types", f"unknown event {first!r}; choose from {', '.join(EVENT_TYPES)}")
    if not chosen:
        raise Invalid("event_types", "choose at least one event")
    return [e for e in EVENT_TYPES if e in chosen]


def check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 200:
        raise Invalid("name", "enter a name of at most 200 characters")
    return name


def check_disable_after(n: int) -> int:
    if not 1 <= n <= 1000:
        raise Invalid("disable_after", "between 1 and 1000")
    return n


def _values(changes: TargetChanges) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if changes.name is not None:
        values["name"] = check_name(changes.name)
    if changes.url is not None:
        values["url"] = check_url(changes.url)
    if changes.event_types is not None:
        values["event_types"] = check_events(changes.event_types)
    if changes.disable_after is not None:
        values["disable_after"] = check_disable_after(changes.disable_after)
    return values


async def _audit(uow: UnitOfWork, actor: Principal, target_id: int, what: str, keys: Any = ()) -> None:
    """Audit an admin's change (field names only: never the secret)."""
    await audit.record(
        uow,
        "webhook.changed",
        workspace_id=actor.workspace_id,
        actor=actor,
        target_type="webhook",
        target_id=target_id,
        detail={"change": what, "fields": sorted(keys)},
    )


def _enabling(enabled: bool, now: datetime) -> dict[str, Any]:
    if enabled:
        return {"enabled": True, "disabled_reason": None, "disabled_at": None, "consecutive_failures": 0}
    return {"enabled": False, "disabled_reason": "disabled by an admin", "disabled_at": now}


async def do_create(uow: UnitOfWork, actor: Principal, changes: TargetChanges) -> tuple[int, str]:
    """Create a target; its id and secret (shown once)."""
    require_admin(actor)
    if changes.name is None:
        raise Invalid("name", "enter a name")
    if changes.url is None:
        raise Invalid("url", "enter the address to send events to")
    if changes.event_types is None:
        raise Invalid("event_types", "choose at least one event")
    now = utcnow()
    secret = new_secret()
    values = _values(changes) | _enabling(changes.enabled is not False, now)
    target_id = (
        await uow.execute(
            targets_t.insert()
            .values(
                workspace_id=actor.workspace_id,
                secret=secret,
                created_at=now,
                updated_at=now,
                **{"disable_after": 20, **values},
            )
            .returning(targets_t.c.id)
        )
    ).scalar_one()
    await _audit(uow, actor, int(target_id), "created", values)
    return int(target_id), secret


async def do_update(uow: UnitOfWork, actor: Principal, target_id: int, changes: TargetChanges) -> None:
    row = await target_row(uow.conn, actor, target_id)
    now = utcnow()
    values = _values(changes)
    if changes.enabled is not None and bool(changes.enabled) != bool(row["enabled"]):
        values |= _enabling(changes.enabled, now)
    if values:
        await _audit(uow, actor, target_id, "updated", values.keys() - {"disabled_at", "disabled_reason"})
        await uow.execute(
            targets_t.update().where(targets_t.c.id == target_id).values(updated_at=now, **values)
        )


async def do_delete(uow: UnitOfWork, actor: Principal, target_id: int) -> None:
    """Delete a target with its delivery log (queued deliveries are dropped)."""
    await target_row(uow.conn, actor, target_id)
    await uow.execute(deliveries_t.delete().where(deliveries_t.c.target_id == target_id))
    await uow.execute(targets_t.delete().where(targets_t.c.id == target_id))
    await _audit(uow, actor, target_id, "deleted")


async def do_rotate(uow: UnitOfWork, actor: Principal, target_id: int) -> str:
    """A new secret for the target (the old one stops signing at once); returned this once."""
    await target_row(uow.conn, actor, target_id)
    secret = new_secret()
    await _audit(uow, actor, target_id, "secret rotated")
    await uow.execute(
        targets_t.update().where(targets_t.c.id == target_id).values(secret=secret, updated_at=utcnow())
    )
    return secret


async def do_test(uow: UnitOfWork, actor: Principal, target_id: int) -> int:
    """Queue a ``webhook.test`` event for the target; the delivery's id."""
    await target_row(uow.conn, actor, target_id)
    now = utcnow()
    body = {
        "type": TEST_EVENT,
        "timestamp": rfc3339(now),
        "data": {"workspace_id": actor.workspace_id, "ticket_id": None, "webhook_id": target_id},
    }
    event_id = f"test_{uuid.uuid4().hex}"
    ids = await outbox(uow, [(target_id, actor.workspace_id, event_id, TEST_EVENT, None, body)])
    return ids[0]


def rfc3339(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


#: One delivery to write: (target id, workspace id, event id, event type, ticket id, body).
Outgoing = tuple[int, int, str, str, int | None, dict[str, Any]]


async def outbox(uow: UnitOfWork, items: list[Outgoing]) -> list[int]:
    """Write deliveries (those of a target and event already written are skipped) and queue a
    delivery job for each new one, in the caller's transaction; the new deliveries' ids."""
    if not items:
        return []
    now = utcnow()
    rows: list[dict[str, Any]] = [
        {
            "target_id": t,
            "workspace_id": w,
            "event_id": e,
            "event_type": kind,
            "ticket_id": tid,
            "body": body,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "log": [],
            "created_at": now,
        }
        for t, w, e, kind, tid, body in items
    ]
    stmt = _INSERT[uow.dialect].values(rows).on_conflict_do_nothing(index_elements=["target_id", "event_id"])
    inserted = await uow.execute(stmt.returning(deliveries_t.c.id))
    ids: list[int] = sorted(map(int, inserted.scalars()))
    await jobs.enqueue_many(uow, DELIVER, [({"delivery_id": i}, f"{DELIVER}:{i}") for i in ids])
    # Finished deliveries past their retention go at most once an hour while events flow.
    await jobs.enqueue(uow, PRUNE, {}, dedupe_key=f"{PRUNE}@{now:%Y-%m-%dT%H}", delay=timedelta(minutes=10))
    return ids


_INSERT: dict[str, Any] = {
    "postgresql": postgresql.insert(deliveries_t),
    "sqlite": sqlite.insert(deliveries_t),
}
