"""What an agent composes before sending: the draft saved as they type (one per agent and ticket,
deleted when they send), their signature, and the @mentions of colleagues in an internal note (each
mentioned colleague who may see the ticket gets the ``notify.mentioned`` mail)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from helpline.db.base import utcnow
from helpline.domains.accounts.models import Membership
from helpline.domains.accounts.principal import Principal
from helpline.domains.tickets.models import TicketDraft
from helpline.errors import Forbidden, Invalid
from helpline.platform import jobs
from helpline.platform.db import UnitOfWork

drafts = TicketDraft.__table__
members = Membership.__table__
MAX_DRAFT = 200_000
MAX_SIGNATURE = 2_000
SIGNATURE_SEPARATOR = "\n\n-- \n"


def _staff(actor: Principal, doing: str) -> None:
    if not actor.is_staff:
        raise Forbidden(f"only staff {doing}")


async def save_draft(
    uow: UnitOfWork, actor: Principal, ticket: dict[str, Any], body: str, *, public: bool
) -> bool:
    """Keep ``actor``'s draft on ``ticket`` (already access-checked); an empty body deletes it.
    True when a draft is kept."""
    _staff(actor, "keep drafts")
    if len(body) > MAX_DRAFT:
        raise Invalid("body", f"at most {MAX_DRAFT} characters")
    await clear_draft(uow, actor, ticket["id"])
    if not body.strip():
        return False
    await uow.execute(
        drafts.insert().values(
            ticket_id=ticket["id"],
            user_id=actor.user_id,
            workspace_id=ticket["workspace_id"],
            body=body,
            public=public and actor.can_reply_publicly,
            updated_at=utcnow(),
        )
    )
    return True


async def clear_draft(uow: UnitOfWork, actor: Principal, ticket_id: int) -> None:
    """Delete ``actor``'s own draft on the ticket (sent, or emptied)."""
    await uow.execute(
        drafts.delete().where(
            drafts.c.ticket_id == ticket_id,
            drafts.c.user_id == actor.user_id,
            drafts.c.workspace_id == actor.workspace_id,
        )
    )


async def set_signature(uow: UnitOfWork, actor: Principal, text: str) -> None:
    """``actor``'s signature in this workspace ('' removes it)."""
    _staff(actor, "have signatures")
    text = text.strip().replace("\r\n", "\n")
    if len(text) > MAX_SIGNATURE:
        raise Invalid("signature", f"at most {MAX_SIGNATURE} characters")
    await uow.execute(
        members.update()
        .where(members.c.workspace_id == actor.workspace_id, members.c.user_id == actor.user_id)
        .values(signature=text or None)
    )


def with_signature(body: str, signature: str) -> str:
    """A public reply's text with the agent's signature below it (unchanged when it already ends
    with it, or when there is none)."""
    signature = signature.strip()
    if not signature or body.rstrip().endswith(signature):
        return body
    return body.rstrip() + SIGNATURE_SEPARATOR + signature


def mentioned(body: str, people: Sequence[dict[str, Any]]) -> list[int]:
    """Ids of ``people`` (``id``, ``name``) that ``body`` mentions as ``@Name`` (case-insensitive;
    the longest name wins, so "@Ann Lee" is not "@Ann")."""
    text = body.casefold()
    found: list[int] = []
    taken: list[tuple[int, int]] = []
    for p in sorted(people, key=lambda p: -len(p["name"])):
        needle = "@" + p["name"].casefold()
        start = text.find(needle)
        while start >= 0:
            end = start + len(needle)
            boundary = end == len(text) or not (text[end].isalnum() or text[end] == "_")
            overlaps = any(s <= start < e for s, e in taken)
            if boundary and not overlaps:
                taken.append((start, end))
                if p["id"] not in found:
                    found.append(p["id"])
                break
            start = text.find(needle, start + 1)
    return found


async def notify_mentions(
    uow: UnitOfWork,
    actor: Principal,
    ticket: dict[str, Any],
    message_id: int,
    body: str,
    people: Sequence[dict[str, Any]],
) -> list[int]:
    """Queue the mention mail of each colleague among ``people`` (those who may see the ticket:
    ``queries.mentionable``) that ``body`` mentions, the writer excepted."""
    ids = [i for i in mentioned(body, people) if i != actor.user_id]
    await jobs.enqueue_many(
        uow,
        "notify.mentioned",
        [
            (
                {"ticket_id": ticket["id"], "user_id": i, "message_id": message_id, "by": actor.name},
                f"mention:{message_id}:{i}",
            )
            for i in ids
        ],
    )
    return ids


async def sent(
    uow: UnitOfWork, actor: Principal, ticket: dict[str, Any], message_id: int, body: str, *, public: bool
) -> list[int]:
    """After the console sent a message: the agent's draft goes, and a note's @mentions are told
    (only colleagues who may see the ticket). The ids of those told."""
    from helpline.domains.tickets import queries

    await clear_draft(uow, actor, ticket["id"])
    if public or "@" not in body:
        return []
    people = await queries.mentionable(uow.conn, actor, ticket)
    return await notify_mentions(uow, actor, ticket, message_id, body, people)
