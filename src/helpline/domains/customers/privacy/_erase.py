"""Erasing a contact at their request: one transaction that removes or redacts everything identifying
(see :mod:`._scope` for what is theirs) and keeps the tickets, their numbers and their metrics.

Every step only touches what is not erased yet, so running it again changes nothing and counts zero.
Stored files are not deleted here: their hashes go to the ``privacy.purge_files`` job, which deletes
each once this transaction has committed and no row references it any more (:mod:`._files`).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import orjson
import sqlalchemy as sa

from helpline.db.base import utcnow
from helpline.domains.customers.privacy._erase_people import (
    erase_accounts,
    erase_chat,
    erase_contacts,
    erase_knowledge,
    erase_mail_out,
)
from helpline.domains.customers.privacy._scope import (
    Subject,
    attachments,
    inbound,
    messages,
    their_texts,
    tickets,
)
from helpline.domains.tickets import fields
from helpline.domains.tickets.events import Author, Erased, record_many
from helpline.domains.tickets.models import Event, FieldType
from helpline.platform import jobs
from helpline.platform.db import UnitOfWork
from helpline.platform.models import IdempotencyKey

#: What an erased message's text becomes. The database's guard (migration 0037) accepts exactly these
#: two values in a redaction, so they cannot change without a migration.
MARKER = "[erased at the customer's request]"
MARKER_HTML = f"<p>{MARKER}</p>"
#: Hashes per ``privacy.purge_files`` job.
PURGE_BATCH = 500

events_t = Event.__table__
idem_keys = IdempotencyKey.__table__


def _chunks(ids: list[Any], size: int = 500) -> list[list[Any]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


async def _redact_messages(uow: UnitOfWork, s: Subject, n: Counter[str]) -> Counter[int]:
    """Redact the messages of their tickets and theirs elsewhere; messages redacted per ticket."""
    rows = await uow.execute(
        messages.update()
        .where(s.erased_messages(), messages.c.redacted_at.is_(None))
        .values(body_text=MARKER, body_html=MARKER_HTML, redacted_at=utcnow())
        .returning(messages.c.ticket_id)
    )
    per_ticket = Counter(int(r[0]) for r in rows)
    n["messages"] += sum(per_ticket.values())
    return per_ticket


async def _drop_files(uow: UnitOfWork, s: Subject, n: Counter[str]) -> set[str]:
    """Attachment rows of the redacted messages and their inbound mail rows go; the hashes they held."""
    hashes: set[str] = set()
    found = (
        await uow.execute(
            sa.select(attachments.c.id, attachments.c.sha256).where(
                attachments.c.workspace_id == s.workspace_id,
                attachments.c.message_id.in_(sa.select(messages.c.id).where(s.erased_messages())),
            )
        )
    ).all()
    for chunk in _chunks([r.id for r in found]):
        await uow.execute(attachments.delete().where(attachments.c.id.in_(chunk)))
    hashes |= {r.sha256 for r in found}
    n["attachments"] += len(found)
    mail = (await uow.execute(sa.select(inbound.c.id, inbound.c.raw_sha256).where(s.inbound_mail()))).all()
    for chunk in _chunks([r.id for r in mail]):
        await uow.execute(inbound.delete().where(inbound.c.id.in_(chunk)))
    hashes |= {r.raw_sha256 for r in mail}
    n["inbound_emails"] += len(mail)
    return hashes


def _masked(custom: Any, text_keys: set[str]) -> Any:
    """A custom-field dict with its free-text values erased (choices, numbers and dates stay)."""
    if not isinstance(custom, dict):
        return custom
    return {k: (MARKER if k in text_keys and v not in (None, "", MARKER) else v) for k, v in custom.items()}


async def _tickets_and_history(uow: UnitOfWork, s: Subject, n: Counter[str]) -> set[int]:
    """Their tickets' subjects and free-text custom fields, and the copies events hold of them."""
    if not s.requested:
        return set()
    defs = await fields.definitions(uow.conn, s.workspace_id)
    text_keys = {k for k, d in defs.items() if d.get("type") == FieldType.text}
    changed: set[int] = set()
    rows = (
        await uow.execute(
            sa.select(tickets.c.id, tickets.c.subject, tickets.c.custom).where(
                tickets.c.id.in_(s.requested_q())
            )
        )
    ).all()
    now = utcnow()
    for r in rows:
        custom = _masked(r.custom or {}, text_keys)
        if r.subject != MARKER or custom != (r.custom or {}):
            await uow.execute(
                tickets.update()
                .where(tickets.c.id == r.id)
                .values(subject=MARKER, custom=custom, updated_at=now, version=tickets.c.version + 1)
            )
            changed.add(r.id)
    n["tickets"] += len(changed)
    history = (
        await uow.execute(
            sa.select(events_t.c.id, events_t.c.kind, events_t.c.field, events_t.c.old, events_t.c.new).where(
                events_t.c.ticket_id.in_(s.requested_q()),
                sa.or_(events_t.c.kind == "created", events_t.c.field.in_(("subject", "custom_fields"))),
            )
        )
    ).all()
    for e in history:
        old, new = e.old, e.new
        if e.kind == "created" and isinstance(new, dict):
            if "subject" in new and new["subject"] != MARKER:
                new = {**new, "subject": MARKER}
            if "custom_fields" in new:
                new = {**new, "custom_fields": _masked(new["custom_fields"], text_keys)}
        elif e.field == "subject":
            old = None if old is None else MARKER
            new = None if new is None else MARKER
        elif e.field == "custom_fields":
            old, new = _masked(old, text_keys), _masked(new, text_keys)
        if (old, new) != (e.old, e.new):
            await uow.execute(events_t.update().where(events_t.c.id == e.id).values(old=old, new=new))
            n["events"] += 1
    return changed


def _json_forms(text: str) -> set[str]:
    """``text`` as it appears inside a stored JSON document (escaped, with and without ASCII escapes)."""
    return {orjson.dumps(text).decode()[1:-1], json.dumps(text)[1:-1]}


async def _stored_answers(
    uow: UnitOfWork, s: Subject, user_ids: list[int], subjects: list[str], n: Counter[str]
) -> None:
    """Stored answers of idempotent POSTs (``idempotency_keys``) that repeat their data: theirs, and
    any of this workspace that holds one of their addresses or one of their tickets' subjects."""
    needles = {f for v in [*s.needles(), *(t for t in subjects if len(t) >= 5)] for f in _json_forms(v)}
    if s.contact.get("name") and len(s.contact["name"]) >= 5:
        needles |= _json_forms(s.contact["name"])
    cond: list[sa.ColumnElement[bool]] = [idem_keys.c.user_id.in_(user_ids)] if user_ids else []
    body = sa.cast(idem_keys.c.body, sa.Text)
    cond += [body.contains(x, autoescape=True) for x in sorted(needles)]
    if not cond:
        return
    result = await uow.execute(
        idem_keys.delete().where(idem_keys.c.workspace_id == s.workspace_id, sa.or_(*cond))
    )
    n["stored_answers"] += int(result.rowcount)


async def erase(uow: UnitOfWork, s: Subject, *, actor_user_id: int) -> tuple[dict[str, int], set[int]]:
    """Erase ``s`` in ``uow``: the counts of what changed, and the tickets whose content changed
    (the caller re-indexes them and tells live views). Each such ticket gets an ``erased`` event."""
    n: Counter[str] = Counter()
    texts = await their_texts(uow.conn, s)
    subjects = [
        str(r[0])
        for r in await uow.execute(sa.select(tickets.c.subject).where(tickets.c.id.in_(s.requested_q())))
    ]
    per_ticket = await _redact_messages(uow, s, n)
    hashes = await _drop_files(uow, s, n)
    changed = await _tickets_and_history(uow, s, n)
    await erase_knowledge(uow, s, texts, n)
    await erase_mail_out(uow, s, n)
    await erase_chat(uow, s, n)
    user_ids = await erase_accounts(uow, s, n)
    await _stored_answers(uow, s, user_ids, [t for t in subjects if t != MARKER], n)
    await erase_contacts(uow, s, n)
    hashes.discard("")
    n["files"] += len(hashes)
    for chunk in _chunks(sorted(hashes), PURGE_BATCH):
        await jobs.enqueue(uow, "privacy.purge_files", {"sha256": chunk})
    affected = changed | set(per_ticket)
    if affected:
        by = Author("agent", actor_user_id)
        await record_many(
            uow,
            [
                ({"id": t, "workspace_id": s.workspace_id}, by, Erased(per_ticket.get(t, 0)))
                for t in sorted(affected)
            ],
        )
    return {k: v for k, v in sorted(n.items()) if v}, affected
