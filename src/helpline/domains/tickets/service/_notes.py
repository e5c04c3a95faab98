"""Helpline's own writes beside the customers': internal notes, copied contacts, attachment rows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from helpline.db.base import utcnow
from helpline.domains.tickets import content
from helpline.domains.tickets.events import CUSTOMER, SYSTEM, CCsChanged, MessageAdded, record
from helpline.domains.tickets.models import AuthorKind
from helpline.domains.tickets.service._common import after_change, tickets
from helpline.domains.tickets.service._inbound import _insert_messages, _message_row, attachments, ccs
from helpline.platform.db import UnitOfWork
from helpline.platform.pubsub import PubSub


async def add_system_note(
    uow: UnitOfWork, pubsub: PubSub, ticket: Mapping[str, Any], *, text: str, channel: str
) -> int:
    """An internal note written by Helpline itself (a bounce, a delivery failure, a chat's hand-over)."""
    now = utcnow()
    message_id = (
        await _insert_messages(
            uow,
            [
                _message_row(
                    ticket,
                    author_kind=AuthorKind.system.value,
                    contact_id=None,
                    body_text=text,
                    body_html=content.text_to_html(text),
                    public=False,
                    channel=channel,
                    at=now,
                )
            ],
        )
    )[0]
    await record(
        uow, ticket, SYSTEM, [MessageAdded(message_id, False, channel, AuthorKind.system.value)], at=now
    )
    await uow.execute(
        tickets.update()
        .where(tickets.c.id == ticket["id"])
        .values(updated_at=now, version=tickets.c.version + 1)
    )
    after_change(uow, pubsub, ticket["workspace_id"], ticket["id"], "message_added")
    return message_id


async def add_ccs(
    uow: UnitOfWork, ticket: Mapping[str, Any], contact_ids: list[int], *, requester_id: int
) -> list[int]:
    """Copy these contacts on the ticket (those not already on it), as its customer did by writing
    to them; the ids added."""
    wanted = {c for c in contact_ids if c != requester_id}
    if not wanted:
        return []
    have = {
        r[0] for r in await uow.execute(sa.select(ccs.c.contact_id).where(ccs.c.ticket_id == ticket["id"]))
    }
    new = sorted(wanted - have)
    if new:
        await uow.execute(ccs.insert(), [{"ticket_id": ticket["id"], "contact_id": c} for c in new])
        await record(uow, ticket, CUSTOMER, [CCsChanged(sorted(have), sorted(have | set(new)))])
    return new


async def attach_files(
    uow: UnitOfWork, *, workspace_id: int, message_id: int, files: list[dict[str, Any]]
) -> None:
    """Attachment rows for files already in storage (``filename``, ``content_type``, ``size``, ``sha256``)."""
    await attach_files_many(uow, workspace_id, [(message_id, files)])


async def attach_files_many(
    uow: UnitOfWork, workspace_id: int, per_message: list[tuple[int, list[dict[str, Any]]]]
) -> None:
    """:func:`attach_files` for several messages in one statement."""
    now = utcnow()
    rows = [
        {
            "workspace_id": workspace_id,
            "message_id": message_id,
            "filename": f["filename"][:255],
            "content_type": f["content_type"][:255],
            "size": f["size"],
            "sha256": f["sha256"],
            "created_at": now,
        }
        for message_id, files in per_message
        for f in files
    ]
    if rows:
        await uow.execute(attachments.insert(), rows)
