"""The status rules (``tickets.lifecycle``), every status through every kind of write. Pure: no
database, no app; what the writers do with the answers is tested in the integration tests."""

from __future__ import annotations

import pytest

from helpline.domains.tickets import lifecycle
from helpline.domains.tickets.lifecycle import (
    CLOSED,
    NEW,
    ON_HOLD,
    OPEN,
    PENDING,
    SOLVED,
    Transition,
)
from helpline.domains.tickets.models import Status
from helpline.errors import Conflict, Invalid

ALL = [s.value for s in Status]


def test_the_module_knows_every_status() -> None:
    assert sorted(ALL) == sorted([NEW, OPEN, PENDING, ON_HOLD, SOLVED, CLOSED])
    assert {SOLVED, CLOSED} == lifecycle.DONE
    assert {PENDING, ON_HOLD, SOLVED} == lifecycle.REOPENED_BY_CUSTOMER


@pytest.mark.parametrize(
    ("status", "becomes"),
    [(NEW, None), (OPEN, None), (PENDING, OPEN), (ON_HOLD, OPEN), (SOLVED, OPEN), (CLOSED, None)],
)
def test_a_customer_message_reopens_pending_on_hold_and_solved(status: str, becomes: str | None) -> None:
    change = lifecycle.after_customer_message(status)
    if becomes is None:
        assert change is None
    else:
        assert change == Transition(status, becomes)
        assert not change.stamps_solved_at  # reopened: solved_at is cleared


@pytest.mark.parametrize("status", ALL)
def test_customers_write_on_anything_but_a_closed_ticket(status: str) -> None:
    assert lifecycle.customer_may_write(status) is (status != CLOSED)


@pytest.mark.parametrize("status", ALL)
@pytest.mark.parametrize("public", [True, False])
def test_a_staff_reply_opens_a_new_ticket_and_changes_nothing_else(status: str, public: bool) -> None:
    change = lifecycle.after_staff_message(status, public=public)
    if public and status == NEW:
        assert change == Transition(NEW, OPEN)
    else:
        assert change is None  # notes never; replies keep open/pending/on-hold/solved/closed


@pytest.mark.parametrize("old", ALL)
@pytest.mark.parametrize("new", ALL)
def test_setting_a_status(old: str, new: str) -> None:
    if old == new:
        assert lifecycle.set_status(old, new) is None
    elif new == NEW:
        with pytest.raises(Invalid) as err:
            lifecycle.set_status(old, new)
        assert err.value.errors == [{"field": "status", "message": "a ticket cannot go back to new"}]
    else:
        change = lifecycle.set_status(old, new)
        assert change == Transition(old, new)
        assert change.stamps_solved_at is (new in (SOLVED, CLOSED))


@pytest.mark.parametrize("status", ALL)
def test_closed_is_final_for_changes(status: str) -> None:
    assert lifecycle.may_change(status) is (status != CLOSED)
    if status == CLOSED:
        with pytest.raises(Conflict):
            lifecycle.check_change(status)
    else:
        lifecycle.check_change(status)


@pytest.mark.parametrize("status", ALL)
def test_taking_a_live_conversation_opens_a_new_ticket(status: str) -> None:
    change = lifecycle.after_live_assignment(status)
    assert change == (Transition(NEW, OPEN) if status == NEW else None)


@pytest.mark.parametrize("status", ALL)
def test_an_agent_ending_a_live_conversation_solves_it(status: str) -> None:
    change = lifecycle.after_agent_ends_conversation(status)
    if status in (SOLVED, CLOSED):
        assert change is None
    else:
        assert change == Transition(status, SOLVED) and change.stamps_solved_at


@pytest.mark.parametrize("source", [NEW, OPEN, PENDING, ON_HOLD, SOLVED])
@pytest.mark.parametrize("target", [NEW, OPEN, PENDING, ON_HOLD, SOLVED])
def test_a_merge_closes_the_source_and_keeps_the_target(source: str, target: str) -> None:
    outcome = lifecycle.merge(source, target)
    assert outcome.source == Transition(source, CLOSED) and outcome.source.stamps_solved_at
    assert outcome.target is None


@pytest.mark.parametrize("status", ALL)
def test_who_may_take_part_in_a_merge(status: str) -> None:
    assert lifecycle.may_merge(status, None) is (status != CLOSED)
    assert lifecycle.may_merge(status, 7) is False  # already merged away


def test_created_and_split_tickets() -> None:
    assert lifecycle.initial() == NEW
    assert lifecycle.split_off() == OPEN


@pytest.mark.parametrize("status", ALL)
@pytest.mark.parametrize("live", [False, True])
@pytest.mark.parametrize("assignee", [None, 5])
def test_who_hears_of_a_customer_message(status: str, live: bool, assignee: int | None) -> None:
    change = lifecycle.after_customer_message(status)
    told = lifecycle.notify_assignee_of_customer_message(assignee, change, live=live)
    if assignee is None:
        assert not told
    elif live:
        assert told is (status in (PENDING, ON_HOLD, SOLVED))  # only when the line reopened it
    else:
        assert told


@pytest.mark.parametrize(
    ("old", "new", "actor", "told"),
    [
        (None, 5, None, True),  # the system (routing) assigns: the assignee is told
        (None, 5, 9, True),  # someone else assigns
        (None, 5, 5, False),  # they took it themselves
        (3, 5, None, True),  # reassigned
        (5, 5, None, False),  # no change
        (5, None, 9, False),  # unassigned: nobody to tell
    ],
)
def test_who_hears_of_an_assignment(old: int | None, new: int | None, actor: int | None, told: bool) -> None:
    assert lifecycle.notify_new_assignee(old, new, actor) is told
