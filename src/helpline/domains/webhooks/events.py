"""The outbox's feed consumer (``webhooks.outbox``): ticket events become webhook events.

Each batch holds one bucket's ticket events in order. For every event that an *enabled* target of
the event's workspace subscribes to, one delivery row is written in the transaction that moves the
consumer's cursor (``Batch.uow``), with its delivery job, so each event is queued exactly once per
target (and ``(target_id, event_id)`` is unique besides). What each webhook event's ``data`` holds
is documented in docs/webhooks.md; nothing of another workspace is ever read.

- ``created`` → ``ticket.created``
- ``field_changed`` → ``ticket.updated`` (and ``ticket.solved`` when the status becomes solved)
- ``message_added`` → ``message.created`` (the text only for public messages)
- ``erased`` (a contact's data was erased from the ticket, ``customers.privacy``): the copies that
  the ticket's deliveries hold of its free text (subjects, message text, text fields) are replaced
  by :data:`MARKER`, so the log keeps nothing the erasure removed and a pending retry sends none.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import sqlalchemy as sa

from helpline.domains.tickets.feed import SOURCE
from helpline.domains.tickets.models import Message
from helpline.domains.webhooks.models import WebhookDelivery, WebhookTarget
from helpline.domains.webhooks.service import Outgoing, outbox, rfc3339
from helpline.platform import feed
from helpline.platform.db import UnitOfWork

CONSUMER = "webhooks.outbox"
#: What erased text reads as (the same words as ``customers.privacy.MARKER``).
MARKER = "[erased at the customer's request]"
#: ``ticket.updated`` fields whose values are free text.
TEXT_FIELDS = frozenset({"subject", "custom_fields", "custom"})
targets_t: sa.Table = WebhookTarget.__table__
messages_t: sa.Table = Message.__table__
deliveries_t: sa.Table = WebhookDelivery.__table__

#: The ticket fields ``ticket.created`` carries (from the ``created`` event).
CREATED_FIELDS = (
    "number",
    "subject",
    "status",
    "priority",
    "channel",
    "requester_id",
    "assignee_id",
    "group_id",
    "tags",
)


async def on_events(batch: feed.Batch) -> None:
    assert batch.uow is not None
    await apply_events(batch.uow, batch.rows)


async def apply_events(uow: UnitOfWork, rows: list[dict[str, Any]]) -> list[int]:
    """Write the deliveries of ticket event ``rows``; the new deliveries' ids."""
    if not rows:
        return []
    ids = await _queue(uow, rows)
    erased = {int(r["ticket_id"]) for r in rows if r["kind"] == "erased"}
    if erased:
        await _scrub(uow, erased)
    return ids


async def _queue(uow: UnitOfWork, rows: list[dict[str, Any]]) -> list[int]:
    conn = uow.conn
    subscribed: dict[int, list[tuple[int, set[str]]]] = defaultdict(list)
    for t in await conn.execute(
        sa.select(targets_t.c.id, targets_t.c.workspace_id, targets_t.c.event_types).where(
            targets_t.c.workspace_id.in_({r["workspace_id"] for r in rows}), targets_t.c.enabled.is_(True)
        )
    ):
        subscribed[int(t.workspace_id)].append((int(t.id), set(t.event_types or ())))
    if not subscribed:
        return []
    wanted = [r for r in rows if r["workspace_id"] in subscribed]
    texts = await _public_texts(uow, wanted)
    items: list[Outgoing] = []
    for r in wanted:
        for kind, suffix, data in _webhook_events(r, texts):
            body = {
                "type": kind,
                "timestamp": rfc3339(r["created_at"]),
                "data": {"workspace_id": r["workspace_id"], "ticket_id": r["ticket_id"], **data},
            }
            for target_id, types in subscribed[r["workspace_id"]]:
                if kind in types:
                    event_id = f"evt_{r['id']}{suffix}"
                    items.append((target_id, r["workspace_id"], event_id, kind, r["ticket_id"], body))
    return await outbox(uow, items)


async def _public_texts(uow: UnitOfWork, rows: list[dict[str, Any]]) -> dict[int, str]:
    """The text of the public messages the rows add (internal notes are never sent)."""
    ids = {
        int(r["new"]["message_id"])
        for r in rows
        if r["kind"] == "message_added" and isinstance(r["new"], dict) and r["new"].get("public")
    }
    if not ids:
        return {}
    # The message must be the event's ticket's: a body is never read across tickets or workspaces.
    tickets = {int(r["ticket_id"]) for r in rows}
    found = await uow.conn.execute(
        sa.select(messages_t.c.id, messages_t.c.body_text).where(
            messages_t.c.id.in_(ids), messages_t.c.ticket_id.in_(tickets)
        )
    )
    return {int(m.id): m.body_text for m in found}


def _actor(r: dict[str, Any]) -> dict[str, Any]:
    return {"kind": r["actor_kind"], "user_id": r["actor_user_id"]}


def _webhook_events(r: dict[str, Any], texts: dict[int, str]) -> list[tuple[str, str, dict[str, Any]]]:
    """``(type, event id suffix, data)`` for each webhook event the ticket event ``r`` makes."""
    kind, new = r["kind"], r["new"]
    if kind == "created":
        new = new if isinstance(new, dict) else {}
        return [("ticket.created", "", {**{f: new.get(f) for f in CREATED_FIELDS}, "actor": _actor(r)})]
    if kind == "field_changed":
        out = [("ticket.updated", "", {"field": r["field"], "old": r["old"], "new": new, "actor": _actor(r)})]
        if r["field"] == "status" and new == "solved" and r["old"] != "solved":
            out.append(("ticket.solved", ".solved", {"old_status": r["old"], "actor": _actor(r)}))
        return out
    if kind == "message_added" and isinstance(new, dict):
        public = bool(new.get("public"))
        mid = int(new.get("message_id") or 0)
        data: dict[str, Any] = {
            "message_id": mid,
            "public": public,
            "author_kind": new.get("author_kind"),
            "channel": new.get("channel"),
            "actor": _actor(r),
        }
        if public:
            data["body_text"] = texts.get(mid)
        return [("message.created", "", data)]
    return []


async def _scrub(uow: UnitOfWork, ticket_ids: set[int]) -> None:
    """Replace the free text that the tickets' deliveries hold by :data:`MARKER`."""
    found = await uow.conn.execute(
        sa.select(deliveries_t.c.id, deliveries_t.c.body).where(deliveries_t.c.ticket_id.in_(ticket_ids))
    )
    for d in found.all():
        data = dict(d.body.get("data") or {})
        for key in ("subject", "body_text"):
            if data.get(key) is not None:
                data[key] = MARKER
        if d.body.get("type") == "ticket.updated" and data.get("field") in TEXT_FIELDS:
            data |= {k: None if data.get(k) is None else MARKER for k in ("old", "new")}
        if data != d.body.get("data"):
            await uow.execute(
                deliveries_t.update().where(deliveries_t.c.id == d.id).values(body={**d.body, "data": data})
            )


def install() -> None:
    """Register the outbox on the ticket events feed (once per process)."""
    if CONSUMER not in feed.REGISTRY.consumers:
        feed.REGISTRY.consumer(SOURCE, CONSUMER, on_events)
