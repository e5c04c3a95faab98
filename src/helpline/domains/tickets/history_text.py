"""A ticket's history in plain sentences: each typed event (``tickets.events``) as a line a support
lead reads ("Maya assigned this to Jonas", "Nora replied by email", "Maya changed the priority from
normal to high"). Pure: no I/O; the page gathers the names (:class:`Names`) and calls
:func:`describe` per ``events`` row. Unit tests: ``tests/unit/test_history_text.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from helpline.domains.tickets.events import (
    Assigned,
    CCsChanged,
    Created,
    Erased,
    FieldChanged,
    FollowersChanged,
    Linked,
    MergedFrom,
    MergedInto,
    MessageAdded,
    RuleApplied,
    SlaAlert,
    Snoozed,
    Split,
    StatusChanged,
    TagsChanged,
    TicketEvent,
    UnknownEvent,
    Unlinked,
    Unsnoozed,
    parse,
)

SYSTEM_NAME = "Helpline"
#: The ``actor_kind`` of an imported ticket's history (``tickets/service/_import.py``).
IMPORTED = "import"
#: How a channel reads after "by" / "via": "replied by email", "logged a phone call".
CHANNEL_WORDS = {
    "api": "API",
    "web": "the web form",
    "email": "email",
    "chat": "chat",
    "sms": "SMS",
    "whatsapp": "WhatsApp",
    "social": "social media",
    "phone": "phone",
    "portal": "the portal",
}
FIELD_WORDS = {
    "subject": "the subject",
    "priority": "the priority",
    "type": "the type",
    "group_id": "the group",
    "due_at": "the due time",
    "requester_id": "the requester",
    "custom_fields": "custom fields",
}


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True)
class Names:
    """What the sentences name: people (user id → name), contacts (contact id → name), groups,
    ticket numbers (ticket id → number), each message's author (message id → name), the requester's
    name, and how a time is written (the page passes the agent's local time)."""

    people: Mapping[int, str] = field(default_factory=dict)
    contacts: Mapping[int, str] = field(default_factory=dict)
    groups: Mapping[int, str] = field(default_factory=dict)
    tickets: Mapping[int, int] = field(default_factory=dict)
    authors: Mapping[int, str] = field(default_factory=dict)
    requester: str = ""
    when: Callable[[datetime], str] = _iso


def channel_words(channel: str | None) -> str:
    return CHANNEL_WORDS.get(channel or "", channel or "an unknown channel")


def _list(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def actor_name(row: Mapping[str, Any], names: Names) -> str:
    """Who acted: the person by name, the customer (the requester's name when known), or Helpline."""
    uid = row.get("actor_user_id")
    if row.get("actor_kind") == IMPORTED:
        return "The import"
    if uid is not None and row.get("actor_kind") != "customer":
        return names.people.get(uid) or f"User #{uid}"
    if row.get("actor_kind") == "customer":
        if uid is not None and uid in names.people:
            return names.people[uid]
        return names.requester or "The customer"
    return SYSTEM_NAME


def _person(uid: int | None, names: Names) -> str:
    if uid is None:
        return "nobody"
    return names.people.get(uid) or f"User #{uid}"


def _ticket(ticket_id: int, names: Names) -> str:
    number = names.tickets.get(ticket_id)
    return f"#{number}" if number is not None else f"ticket {ticket_id}"


def _value(name: str, value: Any, names: Names) -> str:
    if value is None or value == "":
        return "none"
    if name == "group_id":
        return names.groups.get(value) or f"group #{value}"
    if name == "requester_id":
        return names.contacts.get(value) or f"contact #{value}"
    if name == "due_at":
        try:
            return names.when(datetime.fromisoformat(str(value)))
        except ValueError:
            return str(value)
    if name == "subject":
        return f'"{value}"'
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {_value('', v, names)}" for k, v in value.items()) or "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value).replace("_", " ")


def _assigned(e: Assigned, who: str, row: Mapping[str, Any], names: Names) -> str:
    if e.new is None:
        return f"{who} unassigned this (it was {_person(e.old, names)}'s)"
    if e.new == row.get("actor_user_id") and row.get("actor_kind") != "system":
        return f"{who} took this"
    return f"{who} assigned this to {_person(e.new, names)}"


def _tags(e: TagsChanged, who: str) -> str:
    added = sorted(set(e.new or []) - set(e.old or []))
    removed = sorted(set(e.old or []) - set(e.new or []))
    parts = []
    if added:
        parts.append(f"added tag{'s' if len(added) > 1 else ''} {_list(added)}")
    if removed:
        parts.append(f"removed tag{'s' if len(removed) > 1 else ''} {_list(removed)}")
    return f"{who} {' and '.join(parts) or 'changed no tags'}"


def _people_change(
    who: str, old: Sequence[int], new: Sequence[int], lookup: Callable[[int], str], verbs: tuple[str, str]
) -> str:
    added = [lookup(i) for i in new if i not in old]
    removed = [lookup(i) for i in old if i not in new]
    parts = []
    if added:
        parts.append(verbs[0].format(_list(added)))
    if removed:
        parts.append(verbs[1].format(_list(removed)))
    return f"{who} {' and '.join(parts) or 'changed nothing'}"


def _message(e: MessageAdded, who: str, names: Names) -> str:
    author = names.authors.get(e.message_id) or who
    if not e.public:
        return f"{author} added an internal note"
    if e.author_kind == "customer":
        if e.channel == "phone":
            return f"{author} called"
        return f"{author} replied by {channel_words(e.channel)}"
    return f"{author} replied" + (
        f" by {channel_words(e.channel)}" if e.channel in ("email", "chat", "phone") else ""
    )


def _created(e: Created, who: str, row: Mapping[str, Any], names: Names) -> str:
    if e.split_from is not None:
        return f"{who} split this off {_ticket(e.split_from, names)}"
    if row.get("actor_kind") == IMPORTED:
        requester = names.contacts.get(e.requester_id) if e.requester_id is not None else None
        by = row.get("actor_user_id")
        return (
            f"{requester or names.requester or 'The customer'} opened this by {channel_words(e.channel)}"
            f" (imported{f' by {_person(by, names)}' if by is not None else ''})"
        )
    if row.get("actor_kind") in ("customer", "system") and row.get("actor_user_id") is None:
        requester = names.contacts.get(e.requester_id) if e.requester_id is not None else None
        name = requester or names.requester or "The customer"
        return f"{name} opened this by {channel_words(e.channel)}"
    if e.channel == "phone":
        return f"{who} logged a phone call"
    return f"{who} created this ticket" + (
        f" by {channel_words(e.channel)}" if e.channel not in (None, "api", "web") else ""
    )


def sentence(event: TicketEvent, row: Mapping[str, Any], names: Names) -> str:
    """One event as a sentence; ``row`` is its ``events`` row (who acted)."""
    who = actor_name(row, names)
    if isinstance(event, Created):
        return _created(event, who, row, names)
    if isinstance(event, MessageAdded):
        return _message(event, who, names)
    if isinstance(event, StatusChanged):
        old, new = _value("status", event.old, names), _value("status", event.new, names)
        if row.get("actor_kind") == IMPORTED:
            return f"The status changed from {old} to {new} (imported)"
        return f"{who} changed the status from {old} to {new}"
    if isinstance(event, Assigned):
        return _assigned(event, who, row, names)
    if isinstance(event, TagsChanged):
        return _tags(event, who)
    if isinstance(event, FollowersChanged):
        return _people_change(
            who,
            event.old or [],
            event.new or [],
            lambda i: _person(i, names),
            ("added {} as follower", "removed {} as follower"),
        )
    if isinstance(event, CCsChanged):
        return _people_change(
            who,
            event.old or [],
            event.new or [],
            lambda i: names.contacts.get(i) or f"contact #{i}",
            ("copied {}", "stopped copying {}"),
        )
    if isinstance(event, FieldChanged):
        what = FIELD_WORDS.get(event.name, event.name.replace("_", " "))
        if event.old in (None, "", {}):
            return f"{who} set {what} to {_value(event.name, event.new, names)}"
        if event.new in (None, "", {}):
            return f"{who} cleared {what} (it was {_value(event.name, event.old, names)})"
        old, new = _value(event.name, event.old, names), _value(event.name, event.new, names)
        return f"{who} changed {what} from {old} to {new}"
    if isinstance(event, Linked):
        if event.link in ("parent", "child"):
            return f"{who} linked {_ticket(event.ticket_id, names)} as this ticket's {event.link}"
        return f"{who} linked this to {_ticket(event.ticket_id, names)}"
    if isinstance(event, Unlinked):
        return f"{who} removed the link to {_ticket(event.ticket_id, names)}"
    if isinstance(event, MergedInto):
        return f"{who} merged this into {_ticket(event.ticket_id, names)}"
    if isinstance(event, MergedFrom):
        n = len(event.message_ids)
        return (
            f"{who} merged {_ticket(event.ticket_id, names)} into this ({n} message{'s' if n != 1 else ''})"
        )
    if isinstance(event, Split):
        return f"{who} split a message off into {_ticket(event.ticket_id, names)}"
    if isinstance(event, Erased):
        n = event.messages
        return f"{who} erased the customer's data ({n} message{'s' if n != 1 else ''})"
    if isinstance(event, Snoozed):
        try:
            until = names.when(datetime.fromisoformat(event.until))
        except ValueError:
            until = event.until
        return f"{who} snoozed this until {until}"
    if isinstance(event, Unsnoozed):
        if event.reason == "reply":
            return "The customer replied, so the snooze ended"
        if event.reason == "time":
            return "The snooze ended"
        return f"{who} woke this up"
    if isinstance(event, SlaAlert):
        return sla_sentence(event, names)
    if isinstance(event, RuleApplied):
        return rule_sentence(event)
    return f"{who} changed this ({event.kind})"


#: How the history names each kind of rule.
RULE_NAMES = {"time_rule": "Time rule", "trigger": "Trigger", "macro": "Macro"}


def rule_sentence(event: RuleApplied) -> str:
    """ "Time rule “Close after 7 days”: set the status to closed, tagged it auto-closed"."""
    head = f"{RULE_NAMES.get(event.rule, 'Rule')} “{event.name}”"
    return f"{head}: {', '.join(event.actions)}" if event.actions else f"{head} found nothing to change"


#: How the history names each SLA metric.
METRIC_NAMES = {
    "first_reply": "First reply",
    "next_reply": "Next reply",
    "periodic_update": "Periodic update",
    "resolution": "Resolution",
    "requester_wait": "Requester wait",
    "agent_work": "Agent work",
}


def sla_sentence(event: SlaAlert, names: Names) -> str:
    """ "Resolution target missed (due Fri 17:00); escalated: raised the priority to urgent"."""
    what = METRIC_NAMES.get(event.metric, event.metric)
    try:
        due = f" (due {names.when(datetime.fromisoformat(event.due_at))})" if event.due_at else ""
    except ValueError:
        due = ""
    head = f"{what} target missed{due}" if event.stage == "breach" else f"{what} target due soon{due}"
    return f"{head}; escalated: {', '.join(event.actions)}" if event.actions else head


def describe(row: Mapping[str, Any], names: Names) -> str:
    """The sentence of an ``events`` row (``kind``, ``field``, ``old``, ``new``, ``actor_user_id``,
    ``actor_kind``); a kind this version does not know reads "… changed this (kind)"."""
    try:
        event = parse(row)
    except (UnknownEvent, TypeError, ValueError):
        return f"{actor_name(row, names)} changed this ({row.get('kind')})"
    return sentence(event, row, names)


def message_via(message: Mapping[str, Any], delivered: Mapping[int, str]) -> str:
    """How a message reached its reader, for its "via …" label: an internal note is a ``note``; a
    customer's message, the channel it came by; a staff reply, how a channel delivered it
    (``delivered``: the page parts' ``via``, e.g. ``email``), else where it was written when that
    is a channel (chat box, a logged phone call), else ``portal`` (where the customer reads it)."""
    if not message.get("public"):
        return "note"
    channel = str(message.get("channel") or "")
    if message.get("author_kind") == "customer":
        return {"api": "API", "web": "web form", "": "unknown"}.get(channel, channel)
    how = delivered.get(int(message["id"]))
    if how:
        return how
    return channel if channel in ("email", "chat", "phone", "sms", "whatsapp", "social") else "portal"
