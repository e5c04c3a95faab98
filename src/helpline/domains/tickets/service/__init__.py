"""Writes of the tickets domain: create, update, converse. Every change records an event row.

``check_*`` functions validate and authorize without writing; ``do_*`` and the public functions write
inside the caller's unit of work and register their side effects for after the commit.

- ``_common``: table handles, event rows, after-commit signals, ticket numbers, shared checks
- ``_create``: ``create_ticket``
- ``_messages``: ``insert_message``, ``add_message``
- ``_update``: ``update_ticket`` (If-Match), tags and people, ``for_each_ticket`` (bulk)
"""

from helpline.domains.tickets.service._common import (
    ASSIGNABLE,
    after_change,
    cc_contacts,
    check_assignee,
    check_group,
    contact_org,
    event_row,
    events,
    find_or_create_contact,
    messages,
    next_number,
    next_numbers,
    record,
    reindex,
    reindex_many,
    tickets,
)
from helpline.domains.tickets.service._create import check_create, create_ticket
from helpline.domains.tickets.service._messages import add_message, check_message, insert_message
from helpline.domains.tickets.service._update import (
    check_editor,
    check_if_match,
    check_update,
    etag,
    for_each_ticket,
    update_ticket,
)

__all__ = [
    "ASSIGNABLE",
    "add_message",
    "after_change",
    "cc_contacts",
    "check_assignee",
    "check_create",
    "check_editor",
    "check_group",
    "check_if_match",
    "check_message",
    "check_update",
    "contact_org",
    "create_ticket",
    "etag",
    "event_row",
    "events",
    "find_or_create_contact",
    "for_each_ticket",
    "insert_message",
    "messages",
    "next_number",
    "next_numbers",
    "record",
    "reindex",
    "reindex_many",
    "tickets",
    "update_ticket",
]
