"""Replies to a chat's ticket from outside the chat box (the ticket page, the REST API): while the
chat is on they go through the chat, like one typed in the console's chat box."""

from __future__ import annotations

from typing import Any

from helpline.domains.accounts.principal import Principal
from helpline.domains.channels.chat.service import send_to_chat


async def reply_through_chat(
    platform: Any, actor: Principal, ticket: dict[str, Any], body: str, *, public: bool, cid: Any = None
) -> int | None:
    """An agent's text reply or note on ``ticket`` (as the agent may read it) through its chat while
    the chat is on (queued or active), numbered and on the visitor's socket like one typed in the
    console's chat box: the message id, the same again for a ``cid`` sent before. None otherwise:
    the caller adds the message the usual way (ticket page, API), and once the chat has ended that
    is what goes on by email."""
    if ticket["channel"] != "chat" or actor.is_customer:
        return None
    ack = await send_to_chat(platform, actor, int(ticket["id"]), cid, body, public=public, while_on=True)
    return None if ack is None else int(ack["message_id"])
