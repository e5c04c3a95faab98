"""The chat channel behind the tickets domain's port (``tickets.channel_port``).

A staff message on a chat's ticket, however it was written (the console's chat box, the ticket
page, the REST API), is taken here in the writer's transaction while the chat is queued or active:
numbered in the chat (``tickets_bridge.number``, under the session's row lock, so numbers follow
commit order) and published on the chat's hub after the commit, to the visitor when public and to
staff only when a note. Once the chat has ended it is left to the next channel (email, when the
chat went on by email), except for a line typed in the chat box itself, which stays in the chat.

The chat box names its client id for the message it writes (:func:`from_chat_box`), so a resent
line is found again (``tickets_bridge.existing``), and reads back the numbers it got.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.domains.channels.chat import tickets_bridge as bridge
from helpline.domains.channels.chat.common import publish_message
from helpline.domains.channels.chat.models import ChatState
from helpline.domains.tickets.channel_port import PageParts, Part, StaffMessage, TicketPage
from helpline.domains.tickets.models import Attachment
from helpline.errors import Invalid
from helpline.platform.db import UnitOfWork

if TYPE_CHECKING:
    from helpline.platform.runtime import Platform

attachments = Attachment.__table__


@dataclass
class ChatBox:
    """A message being written from the chat box of ``ticket_id``, whose session the writer has
    locked in its transaction: its client id, then its numbers."""

    ticket_id: int
    client_id: str | None
    numbered: dict[str, Any] | None = None


_BOX: ContextVar[ChatBox | None] = ContextVar("helpline_chat_box", default=None)


@contextmanager
def from_chat_box(ticket_id: int, client_id: str | None) -> Iterator[ChatBox]:
    """Mark the staff message written inside this block on ``ticket_id`` as the chat box's (call
    with the chat's session locked in the same transaction: ``tickets_bridge.lock_session``)."""
    box = ChatBox(ticket_id, client_id)
    token = _BOX.set(box)
    try:
        yield box
    finally:
        _BOX.reset(token)


class ChatAdapter:
    """The chat channel's port, bound to its platform (the hub publishes through it)."""

    name = "chat"

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    async def staff_message(self, uow: UnitOfWork, ticket: dict[str, Any], message: StaffMessage) -> bool:
        if ticket["channel"] != "chat":  # only a chat's ticket has a chat session
            return False
        box = _BOX.get()
        if box is not None and box.ticket_id != message.ticket_id:
            box = None
        if box is None:  # (the chat box locked its session already, in this transaction)
            locked = await bridge.lock_session(uow, message.ticket_id)
            if locked is None or locked["state"] == ChatState.ended:
                return False
        most = self.platform.settings.chat_max_message_chars
        if len(message.body_text) > most:
            raise Invalid("body", f"longer than {most} characters")
        numbered = await bridge.number(
            uow,
            message.ticket_id,
            message.id,
            public=message.public,
            client_id=box.client_id if box else None,
        )
        files: list[dict[str, Any]] = []
        if message.files:
            files = [
                {"name": r.filename, "size": int(r.size), "type": r.content_type}
                for r in await uow.execute(
                    sa.select(attachments.c.filename, attachments.c.size, attachments.c.content_type)
                    .where(attachments.c.message_id == message.id)
                    .order_by(attachments.c.id)
                )
            ]
        publish_message(
            uow,
            self.platform,
            message.workspace_id,
            numbered,
            from_="agent",
            name=message.author.name or message.author.email,
            body=message.body_text,
            files=files,
        )
        if box is not None:
            box.numbered = numbered
        return True

    async def page_parts(self, conn: AsyncConnection, page: TicketPage) -> PageParts | None:
        if page.ticket["channel"] != "chat":
            return None
        parts = PageParts(actions=[Part("chat/_ticket_actions.html")])
        staff = [m["id"] for m in page.messages if m["public"] and m["author_kind"] != "customer"]
        if staff:  # the staff replies this chat carried (its numbered lines), for their "via chat"
            rows = await conn.execute(
                sa.select(bridge.chat_messages.c.message_id).where(
                    bridge.chat_messages.c.message_id.in_(staff)
                )
            )
            parts.via.update({int(r[0]): "chat" for r in rows})
        return parts
