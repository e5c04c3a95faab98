"""The ticket history's sentences (``tickets/history_text.py``): every kind of event, with names."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from helpline.domains.tickets.events import (
    Assigned,
    CCsChanged,
    Created,
    Erased,
    FollowersChanged,
    Linked,
    MergedFrom,
    MergedInto,
    MessageAdded,
    RuleApplied,
    Snoozed,
    Split,
    StatusChanged,
    TagsChanged,
    TicketEvent,
    Unlinked,
    Unsnoozed,
    field_changed,
)
from helpline.domains.tickets.history_text import Names, describe, message_via

MAYA, JONAS = 1, 2
NAMES = Names(
    people={MAYA: "Maya", JONAS: "Jonas"},
    contacts={10: "Nora", 11: "Olaf"},
    groups={5: "Billing", 6: "Sales"},
    tickets={100: 7, 200: 9},
    authors={50: "Nora", 51: "Maya"},
    requester="Nora",
)
AT = datetime(2027, 1, 5, 9, 30, tzinfo=UTC)


def row(event: TicketEvent, *, by: int | None = MAYA, kind: str = "agent") -> dict[str, Any]:
    actor_kind = "system" if by is None and kind == "agent" else kind
    return event.to_row({"id": 1, "workspace_id": 1}, _Actor(by, actor_kind), AT)


class _Actor:
    def __init__(self, user_id: int | None, actor_kind: str) -> None:
        self.user_id, self.actor_kind = user_id, actor_kind


def says(event: TicketEvent, **kw: Any) -> str:
    return describe(row(event, **kw), NAMES)


def test_assignment_reads_with_names():
    assert says(Assigned(None, JONAS)) == "Maya assigned this to Jonas"
    assert says(Assigned(None, MAYA)) == "Maya took this"
    assert says(Assigned(JONAS, None)) == "Maya unassigned this (it was Jonas's)"
    assert says(Assigned(None, JONAS), by=None) == "Helpline assigned this to Jonas"


def test_messages_name_their_author_and_channel():
    assert (
        says(MessageAdded(50, True, "email", "customer"), by=None, kind="customer") == "Nora replied by email"
    )
    assert says(MessageAdded(51, True, "api", "agent")) == "Maya replied"
    assert says(MessageAdded(51, True, "email", "agent")) == "Maya replied by email"
    assert says(MessageAdded(51, False, "api", "agent")) == "Maya added an internal note"
    assert says(MessageAdded(99, True, "phone", "customer"), by=None, kind="customer") == "Nora called"


def test_a_customer_is_never_credited_to_the_system():
    text = says(MessageAdded(99, True, "chat", "customer"), by=None, kind="customer")
    assert text == "Nora replied by chat" and "Helpline" not in text and "System" not in text


def test_creation_by_an_agent_a_call_and_a_customer():
    assert says(Created(number=7, channel="api", requester_id=10)) == "Maya created this ticket"
    assert says(Created(number=7, channel="phone", requester_id=10)) == "Maya logged a phone call"
    assert says(Created(number=7, channel="email", requester_id=11), by=None) == "Olaf opened this by email"
    assert says(Created(number=7, split_from=200, message_id=3)) == "Maya split this off #9"


def test_properties_say_from_what_to_what():
    assert says(StatusChanged("open", "pending")) == "Maya changed the status from open to pending"
    assert (
        says(field_changed("priority", "normal", "high")) == "Maya changed the priority from normal to high"
    )
    assert says(field_changed("group_id", 5, 6)) == "Maya changed the group from Billing to Sales"
    assert says(field_changed("group_id", None, 5)) == "Maya set the group to Billing"
    assert says(field_changed("type", "question", None)) == "Maya cleared the type (it was question)"
    assert says(field_changed("subject", "Old", "New")) == 'Maya changed the subject from "Old" to "New"'
    assert says(field_changed("requester_id", 10, 11)) == "Maya changed the requester from Nora to Olaf"
    assert (
        says(field_changed("due_at", None, AT.isoformat())) == "Maya set the due time to 2027-01-05 09:30 UTC"
    )


def test_tags_followers_and_ccs():
    assert says(TagsChanged([], ["vip"])) == "Maya added tag vip"
    assert says(TagsChanged(["a"], ["b", "c"])) == "Maya added tags b and c and removed tag a"
    assert says(FollowersChanged([], [JONAS])) == "Maya added Jonas as follower"
    assert says(FollowersChanged([JONAS], [])) == "Maya removed Jonas as follower"
    assert says(CCsChanged([10], [11])) == "Maya copied Olaf and stopped copying Nora"


def test_links_merges_splits_and_erasure():
    assert says(Linked(100, "child")) == "Maya linked #7 as this ticket's child"
    assert says(Unlinked(100)) == "Maya removed the link to #7"
    assert says(MergedInto(200, (1, 2))) == "Maya merged this into #9"
    assert says(MergedFrom(200, (1,))) == "Maya merged #9 into this (1 message)"
    assert says(Split(100, 3)) == "Maya split a message off into #7"
    assert says(Erased(2), by=None) == "Helpline erased the customer's data (2 messages)"
    assert says(Linked(12345, "related")) == "Maya linked this to ticket 12345"


def test_snoozes():
    assert says(Snoozed(AT.isoformat())) == "Maya snoozed this until 2027-01-05 09:30 UTC"
    assert says(Unsnoozed("time"), by=None) == "The snooze ended"
    assert says(Unsnoozed("reply"), by=None) == "The customer replied, so the snooze ended"
    assert says(Unsnoozed("agent")) == "Maya woke this up"


def test_rules_name_themselves_and_what_they_did():
    rule = RuleApplied("time_rule", 3, "Close after 7 days", ("set the status to closed",))
    assert says(rule, by=None) == "Time rule “Close after 7 days”: set the status to closed"
    assert says(RuleApplied("macro", 4, "Refund", ()), by=None) == "Macro “Refund” found nothing to change"
    assert says(RuleApplied("other", 5, "X", ("tagged it x",)), by=None) == "Rule “X”: tagged it x"


def test_the_time_is_written_as_the_page_asks():
    local = Names(people={MAYA: "Maya"}, when=lambda d: d.strftime("%d.%m. %H:%M"))
    assert describe(row(Snoozed(AT.isoformat())), local) == "Maya snoozed this until 05.01. 09:30"


def test_unknown_people_and_kinds_still_read():
    assert says(Assigned(None, 404)) == "Maya assigned this to User #404"
    assert says(Assigned(None, JONAS), by=404) == "User #404 assigned this to Jonas"
    odd = {
        "kind": "teleported",
        "field": None,
        "old": None,
        "new": None,
        "actor_user_id": MAYA,
        "actor_kind": "agent",
    }
    assert describe(odd, NAMES) == "Maya changed this (teleported)"


def test_via_labels_say_how_a_message_went():
    assert message_via({"id": 1, "public": False, "channel": "api", "author_kind": "agent"}, {}) == "note"
    assert (
        message_via({"id": 1, "public": True, "channel": "api", "author_kind": "agent"}, {1: "email"})
        == "email"
    )
    assert message_via({"id": 1, "public": True, "channel": "api", "author_kind": "agent"}, {}) == "portal"
    assert message_via({"id": 1, "public": True, "channel": "chat", "author_kind": "agent"}, {}) == "chat"
    assert message_via({"id": 1, "public": True, "channel": "phone", "author_kind": "agent"}, {}) == "phone"
    assert (
        message_via({"id": 1, "public": True, "channel": "email", "author_kind": "customer"}, {}) == "email"
    )
    assert message_via({"id": 1, "public": True, "channel": "api", "author_kind": "customer"}, {}) == "API"
