"""Writes of the tickets domain: the one writer of ticket state. Every change records a typed event
(``tickets.events``) and follows the status rules of ``tickets.lifecycle``.

``check_*`` functions validate and authorize without writing; ``do_*`` and the public functions write
inside the caller's unit of work and register their side effects for after the commit.

- ``_common``: table handles, after-commit signals, ticket numbers, shared checks
- ``_create``: ``create_ticket`` (a signed-in person)
- ``_messages``: ``insert_message``, ``add_message`` (a signed-in person; a customer's goes on to
  ``_inbound``)
- ``_inbound``: the batch writer of what customers send, whichever the channel (email, chat, portal,
  API): ``create_tickets_from_contacts``, ``add_customer_messages``
- ``_notes``: Helpline's own notes (``add_system_note``), CCs (``add_ccs``), attachment rows
- ``_update``: ``update_ticket`` (If-Match), ``set_fields`` (the system, routing), tags and people,
  ``for_each_ticket`` (bulk)
- ``_compose``: an agent's draft, signature and the @mentions of a note
- ``_snooze``: ``snooze`` / ``unsnooze``, and the wakes (the job's, a customer's reply)
- ``_time``: ``log_time`` (minutes an agent spent on a ticket)
- ``_import``: ``import_tickets`` (tickets with their history from another help desk, docs/import.md)
- ``_escalate`` / ``_rules``: an SLA escalation's and a rule's changes, as Helpline's own, with the
  history's sentence (``escalate``, ``apply_rule``)
"""

from helpline.domains.tickets.events import record, record_many
from helpline.domains.tickets.service._common import (
    ASSIGNABLE,
    after_change,
    cc_contacts,
    check_assignee,
    check_group,
    contact_org,
    find_or_create_contact,
    messages,
    next_number,
    next_numbers,
    reindex,
    reindex_many,
    tickets,
)
from helpline.domains.tickets.service._compose import (
    clear_draft,
    mentioned,
    notify_mentions,
    save_draft,
    sent,
    set_signature,
    with_signature,
)
from helpline.domains.tickets.service._create import check_create, create_ticket
from helpline.domains.tickets.service._escalate import escalate
from helpline.domains.tickets.service._import import ImportReport, check_import, import_tickets, importer
from helpline.domains.tickets.service._inbound import (
    CustomerMessage,
    NewTicket,
    add_contact_message,
    add_customer_messages,
    create_ticket_from_contact,
    create_tickets_from_contacts,
)
from helpline.domains.tickets.service._messages import add_message, check_message, insert_message
from helpline.domains.tickets.service._notes import add_ccs, add_system_note, attach_files, attach_files_many
from helpline.domains.tickets.service._rules import apply_rule
from helpline.domains.tickets.service._snooze import snooze, unsnooze, wake_due, wake_on_reply
from helpline.domains.tickets.service._time import log_time
from helpline.domains.tickets.service._update import (
    check_editor,
    check_if_match,
    check_update,
    etag,
    for_each_ticket,
    set_fields,
    solve_by_customer,
    update_ticket,
)

__all__ = [
    "ASSIGNABLE",
    "CustomerMessage",
    "ImportReport",
    "NewTicket",
    "add_ccs",
    "add_contact_message",
    "add_customer_messages",
    "add_message",
    "add_system_note",
    "after_change",
    "apply_rule",
    "attach_files",
    "attach_files_many",
    "cc_contacts",
    "check_assignee",
    "check_create",
    "check_editor",
    "check_group",
    "check_if_match",
    "check_import",
    "check_message",
    "check_update",
    "clear_draft",
    "contact_org",
    "create_ticket",
    "create_ticket_from_contact",
    "create_tickets_from_contacts",
    "escalate",
    "etag",
    "find_or_create_contact",
    "for_each_ticket",
    "import_tickets",
    "importer",
    "insert_message",
    "log_time",
    "mentioned",
    "messages",
    "next_number",
    "next_numbers",
    "notify_mentions",
    "record",
    "record_many",
    "reindex",
    "reindex_many",
    "save_draft",
    "sent",
    "set_fields",
    "set_signature",
    "snooze",
    "solve_by_customer",
    "tickets",
    "unsnooze",
    "update_ticket",
    "wake_due",
    "wake_on_reply",
    "with_signature",
]
