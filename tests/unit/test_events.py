"""Typed ticket events: each writes today's ``events`` row shape and reads back as itself; unknown
kinds are refused; rows written before keys were added still parse."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from helpline.domains.tickets import events
from helpline.domains.tickets.events import (
    CUSTOMER,
    SYSTEM,
    Assigned,
    Author,
    CCsChanged,
    Created,
    Erased,
    FieldChanged,
    FollowersChanged,
    Linked,
    MergedFrom,
    MergedInto,
    MessageAdded,
    Split,
    StatusChanged,
    TagsChanged,
    TicketEvent,
    UnknownEvent,
    Unlinked,
)

AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
TICKET = {"id": 7, "workspace_id": 3, "status": "open"}

EXAMPLES: list[TicketEvent] = [
    Created(number=12, subject="Printer", status="new", priority="normal", channel="email", requester_id=4),
    Created(number=13, subject="Split", status="open", split_from=7, message_id=99, tags=("a", "b")),
    MessageAdded(99, True, "chat", "customer"),
    MessageAdded(100, False, "api", "agent"),
    FieldChanged("priority", "normal", "urgent"),
    FieldChanged("due_at", None, "2024-05-02T00:00:00+00:00"),
    FieldChanged("custom_fields", {}, {"plan": "gold"}),
    StatusChanged("solved", "open"),
    Assigned(None, 5),
    TagsChanged([], ["vip"]),
    FollowersChanged([1], [1, 2]),
    CCsChanged([], [8]),
    Linked(8, "parent"),
    Unlinked(8),
    MergedInto(8, (1, 2)),
    MergedFrom(7, (1, 2)),
    Split(14, 99),
    Erased(3),
]


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: type(e).__name__)
def test_every_event_round_trips_through_its_row(event: TicketEvent) -> None:
    row = event.to_row(TICKET, SYSTEM, AT)
    assert set(row) == {
        "workspace_id",
        "ticket_id",
        "kind",
        "field",
        "old",
        "new",
        "actor_user_id",
        "actor_kind",
        "created_at",
    }
    assert (row["workspace_id"], row["ticket_id"], row["created_at"]) == (3, 7, AT)
    assert row["kind"] == type(event).kind
    assert events.parse(row) == event


def test_rows_keep_the_shape_readers_know() -> None:
    row = StatusChanged("solved", "open").to_row(TICKET, CUSTOMER, AT)
    assert (row["kind"], row["field"], row["old"], row["new"]) == (
        "field_changed",
        "status",
        "solved",
        "open",
    )
    assert (row["actor_user_id"], row["actor_kind"]) == (None, "customer")
    row = Assigned(None, 5).to_row(TICKET, None, AT)
    assert (row["kind"], row["field"], row["new"], row["actor_kind"]) == (
        "field_changed",
        "assignee_id",
        5,
        "system",
    )
    row = MessageAdded(9, True, "email", "customer").to_row(TICKET, Author("customer", 11), AT)
    assert row["new"] == {"message_id": 9, "public": True, "channel": "email", "author_kind": "customer"}
    assert row["actor_user_id"] == 11
    assert Linked(8, "child").to_row(TICKET, None, AT)["new"] == {"ticket_id": 8, "kind": "child"}
    assert Unlinked(8).to_row(TICKET, None, AT)["old"] == {"ticket_id": 8}


def test_a_property_with_its_own_class_is_built_as_that_class() -> None:
    assert events.field_changed("status", "new", "open") == StatusChanged("new", "open")
    assert events.field_changed("assignee_id", None, 3) == Assigned(None, 3)
    assert events.field_changed("tags", [], ["x"]) == TagsChanged([], ["x"])
    assert events.field_changed("subject", "a", "b") == FieldChanged("subject", "a", "b")
    with pytest.raises(ValueError, match="StatusChanged"):
        FieldChanged("status", "new", "open")


@pytest.mark.parametrize(
    "row",
    [
        {"kind": "reopened", "field": None, "old": None, "new": None},
        {"kind": "", "field": None, "old": None, "new": None},
        {"kind": "field_changed", "field": None, "old": 1, "new": 2},
    ],
)
def test_an_unknown_kind_is_refused(row: dict[str, Any]) -> None:
    with pytest.raises(UnknownEvent):
        events.parse(row)


def test_rows_written_before_keys_were_added_still_parse() -> None:
    # message_added rows once had only these two keys; a split's created row only these three.
    old = events.parse(
        {"kind": "message_added", "field": None, "old": None, "new": {"message_id": 4, "public": True}}
    )
    assert old == MessageAdded(4, True, None, None)
    split = events.parse(
        {
            "kind": "created",
            "field": None,
            "old": None,
            "new": {"number": 3, "split_from": 1, "message_id": 2},
        }
    )
    assert split == Created(number=3, split_from=1, message_id=2)
