"""Small helpers shared by the chat service modules."""

from __future__ import annotations

from typing import Any

from helpline.domains.channels.chat.hub import hub_of
from helpline.errors import TooManyRequests
from helpline.platform.db import UnitOfWork


def publish_after(
    uow: UnitOfWork,
    platform: Any,
    workspace_id: int,
    room: str,
    event: dict[str, Any],
    *,
    staff: bool = False,
) -> None:
    """Publish ``event`` to ``room`` once ``uow`` commits (never mid-transaction)."""

    async def go() -> None:
        await hub_of(platform).publish(workspace_id, room, event, staff=staff)

    uow.on_commit(go)


async def limit(platform: Any, key: str, most: int, window: int, what: str) -> None:
    """Count one use of ``key`` in a window of ``window`` seconds; 429 past ``most``."""
    if await platform.cache.incr(key, window) > most:
        raise TooManyRequests(
            f"too many {what}; wait a little and try again",
            headers={"Retry-After": str(max(1, await platform.cache.ttl(key)))},
        )


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one (frames come from outside)."""
    return value if isinstance(value, dict) else {}


def as_int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def publish_message(
    uow: UnitOfWork,
    platform: Any,
    ws: int,
    numbered: dict[str, Any],
    *,
    from_: str,
    name: str,
    body: str,
    files: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Publish a numbered message (``tickets_bridge.number``'s values) to its chat once ``uow``
    commits: public ones to everyone in the chat, notes to staff only. Returns the event."""
    event = {
        "t": "msg",
        "ticket": numbered["ticket_id"],
        "seq": numbered["seq"],
        "pseq": numbered["pseq"],
        "public": numbered["public"],
        "cid": numbered["client_id"],
        "from": from_,
        "name": name,
        "body": body,
        "at": numbered["created_at"].isoformat(),
        "files": files or [],
        "mid": numbered["message_id"],
    }
    publish_after(uow, platform, ws, f"t:{numbered['ticket_id']}", event, staff=not numbered["public"])
    return event
