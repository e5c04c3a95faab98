"""An in-memory channel: the twin the real channels are measured against.

It holds the tickets it is told to hold (:meth:`MemoryChannel.hold`), and delivers a public staff
message on one of them by keeping it in :attr:`MemoryChannel.delivered`, once the write commits
(never when it rolls back). It passes the same contract tests as chat and email
(``tests/contract/test_channels.py``), and lets a test see exactly what reaches a channel.
Nothing installs it but a test: ``channel_port.registry_of(db).register(MemoryChannel())``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.domains.channels.base import Channel
from helpline.domains.tickets.channel_port import PageParts, Part, StaffMessage, TicketPage
from helpline.platform.db import UnitOfWork


class MemoryChannel:
    """The twin's port: what it holds and what it delivered, in this process."""

    def __init__(self, name: str = "memory") -> None:
        self.name = name
        self.held: set[int] = set()
        #: Public staff messages delivered, in commit order.
        self.delivered: list[StaffMessage] = []
        #: Every staff message it took (public or not), in commit order.
        self.taken: list[StaffMessage] = []

    def hold(self, ticket_id: int) -> None:
        self.held.add(ticket_id)

    async def staff_message(self, uow: UnitOfWork, ticket: dict[str, Any], message: StaffMessage) -> bool:
        if message.ticket_id not in self.held:
            return False

        async def deliver() -> None:
            self.taken.append(message)
            if message.public:
                self.delivered.append(message)

        uow.on_commit(deliver)
        return True

    async def page_parts(self, conn: AsyncConnection, page: TicketPage) -> PageParts | None:
        if int(page.ticket["id"]) not in self.held:
            return None
        sent = {m.id for m in self.delivered if m.ticket_id == int(page.ticket["id"])}
        return PageParts(
            actions=[Part("channels/_memory_action.html", {"name": self.name})],
            below={mid: [Part("channels/_memory_delivered.html", {"name": self.name})] for mid in sent},
        )


def channel(twin: MemoryChannel | None = None) -> Channel:
    """The twin as a :class:`Channel` (no routes, jobs or runtime), sharing ``twin``'s state."""
    port = twin or MemoryChannel()
    return Channel(name=port.name, port=lambda _platform: port)
