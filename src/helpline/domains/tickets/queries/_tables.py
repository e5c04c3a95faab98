"""The tables this package reads, and the ticket columns a reader gets."""

from __future__ import annotations

from helpline.domains.tickets.models import (
    Attachment,
    Event,
    Message,
    Ticket,
    TicketCC,
    TicketFollower,
    TicketLink,
    TicketTag,
)

tickets = Ticket.__table__
messages = Message.__table__
attachments = Attachment.__table__
events = Event.__table__
tags = TicketTag.__table__
ccs = TicketCC.__table__
followers = TicketFollower.__table__
links = TicketLink.__table__

TICKET_COLUMNS = [c for c in tickets.c if c.name not in ("workspace_id",)]
