"""The tickets domain's port to channels: what it tells the channels, and what it asks of them.

The tickets domain imports no channel. Channels (``domains/channels/``: chat, email, later SMS and
others) implement :class:`ChannelPort` and are put in the :class:`Registry` of a database at
start-up (``channels.startup.install``); the tickets service and the ticket page only talk to
the registry:

- **A staff message was written** (:func:`staff_message_written`, called by
  ``service.add_message`` inside the writer's transaction, after the message row exists and before
  the ticket's row is updated). Each channel in turn says whether it holds the ticket and takes the
  message; the first that does delivers it, atomically with the write (chat numbers it and
  publishes it after the commit; email queues it in its outbox), and the later ones are not asked.
  A rolled-back write delivers nothing. Internal notes are passed too (chat numbers them on its
  staff stream); no channel may deliver one to a customer.
- **The ticket page is rendered** (:func:`page_parts`): each channel adds what it knows of this
  ticket and its messages (:class:`PageParts`: templates with their data, response headers).

Which channels hold a ticket is each channel's own business, kept in its own tables (chat: a chat
session; email: an email thread); ``tickets.channel`` only says where a ticket began, which a
channel may use to skip tickets it cannot hold without a query.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.domains.accounts.principal import Principal
from helpline.platform.db import UnitOfWork

if TYPE_CHECKING:
    from helpline.platform.db import Database

#: Where a database's registry is kept (``Database.extras``, which every unit of work carries).
KEY = "tickets.channels"


@dataclass(frozen=True)
class StaffMessage:
    """A message staff just wrote on a ticket, as channels see it (the row exists, uncommitted)."""

    id: int
    ticket_id: int
    workspace_id: int
    author: Principal
    public: bool
    body_text: str
    body_html: str
    #: Where it was written (the message's ``channel``: ``api``, ``chat`` for the chat box, …).
    written_via: str
    #: How many files it carries (``attachments`` rows of this message).
    files: int
    created_at: datetime


@dataclass(frozen=True)
class Part:
    """One piece of a page: a template (found in any domain's ``templates/``) and its ``data``,
    rendered with the page's context plus ``part``."""

    template: str
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class PageParts:
    """What channels add to a ticket page."""

    #: Links and buttons beside the ticket's status (chat: "Open the live chat").
    actions: list[Part] = field(default_factory=list)
    #: By message id: shown above the message's body (email: the sender checks).
    above: dict[int, list[Part]] = field(default_factory=dict)
    #: By message id: shown below the message's body (email: the .eml, remote images, delivery).
    below: dict[int, list[Part]] = field(default_factory=dict)
    #: Headers of this response (email: a policy that allows one message's remote images).
    headers: dict[str, str] = field(default_factory=dict)
    #: By message id: how the channel delivered a staff message ("email", "chat"), for its label.
    via: dict[int, str] = field(default_factory=dict)

    def add(self, other: PageParts) -> None:
        self.actions.extend(other.actions)
        for mine, theirs in ((self.above, other.above), (self.below, other.below)):
            for message_id, parts in theirs.items():
                mine.setdefault(message_id, []).extend(parts)
        self.headers.update(other.headers)
        for message_id, how in other.via.items():
            self.via.setdefault(message_id, how)


@dataclass
class TicketPage:
    """The ticket page being rendered, for a staff ``actor`` who may see ``ticket``.

    ``messages`` are the page's own dicts (``tickets.queries.list_messages``): a channel may change
    how one is *shown* (email loads a message's remote pictures when ``query`` asks for it)."""

    actor: Principal
    ticket: dict[str, Any]
    messages: list[dict[str, Any]]
    query: Mapping[str, str] = field(default_factory=dict)


class ChannelPort(Protocol):
    """One channel, bound to its platform at start-up."""

    @property
    def name(self) -> str: ...

    async def staff_message(self, uow: UnitOfWork, ticket: dict[str, Any], message: StaffMessage) -> bool:
        """In the writer's transaction: take ``message`` when this channel holds ``ticket`` (True),
        delivering it atomically with the write: rows in ``uow``, anything that leaves the process
        registered with ``uow.on_commit``. False, writing nothing, for a ticket it does not hold
        (or a message it does not carry: e.g. email and internal notes). May raise a domain error
        (e.g. a message too long for the channel) to refuse the whole write."""
        ...

    async def page_parts(self, conn: AsyncConnection, page: TicketPage) -> PageParts | None:
        """What this channel adds to ``page`` (None: nothing). Reads only; staff only."""
        ...


class Registry:
    """The channels of one database, in the order they are asked."""

    def __init__(self) -> None:
        self.ports: list[ChannelPort] = []

    def register(self, port: ChannelPort, *, first: bool = False) -> None:
        """Add ``port`` last, or ``first``; one of the same name is replaced where it stands."""
        for i, known in enumerate(self.ports):
            if known.name == port.name and not first:
                self.ports[i] = port
                return
        self.ports = [p for p in self.ports if p.name != port.name]
        self.ports.insert(0 if first else len(self.ports), port)

    def unregister(self, name: str) -> None:
        self.ports = [p for p in self.ports if p.name != name]

    def names(self) -> list[str]:
        return [p.name for p in self.ports]


def registry_of(db: Database) -> Registry:
    """The registry of ``db`` (made empty on first use)."""
    found = db.extras.get(KEY)
    if found is None:
        found = db.extras[KEY] = Registry()
    return found


def _ports(extras: Mapping[str, Any]) -> Sequence[ChannelPort]:
    found = extras.get(KEY)
    return found.ports if isinstance(found, Registry) else ()


async def staff_message_written(
    uow: UnitOfWork,
    ticket: dict[str, Any],
    author: Principal,
    *,
    message_id: int,
    public: bool,
    body_text: str,
    body_html: str,
    written_via: str,
    files: int,
    at: datetime,
) -> str | None:
    """Tell the channels that ``author`` (staff) wrote a message on ``ticket``, in ``uow``; the name
    of the channel that took it, or None when no channel holds the ticket."""
    ports = _ports(uow.extras)
    if not ports:
        return None
    message = StaffMessage(
        id=message_id,
        ticket_id=int(ticket["id"]),
        workspace_id=int(ticket["workspace_id"]),
        author=author,
        public=public,
        body_text=body_text,
        body_html=body_html,
        written_via=written_via,
        files=files,
        created_at=at,
    )
    for port in ports:
        if await port.staff_message(uow, ticket, message):
            return port.name
    return None


async def page_parts(db: Database, conn: AsyncConnection, page: TicketPage) -> PageParts:
    """Every channel's parts of ``page``, in the registry's order."""
    parts = PageParts()
    if not page.actor.is_staff:
        return parts
    for port in _ports(db.extras):
        found = await port.page_parts(conn, page)
        if found is not None:
            parts.add(found)
    return parts
