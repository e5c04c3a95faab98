"""The status rules of a ticket, in one place, with no I/O: what each kind of write does to a
ticket's status and who hears of it.

Every writer of ticket state (``tickets.service``: people's replies and changes, the channels' batch
writer, merge and split, and the system's writes such as chat routing) asks these functions and
writes what they answer; none decides a status on its own. A rule changes here, and its unit tests
(``tests/unit/test_lifecycle.py``) say what every status does.

A transition is returned as :class:`Transition` (old and new status, and what becomes of
``solved_at``) or ``None`` when the status stays. The batch writer applies the customer rule in SQL
(``CASE``) so that a ticket changed since it was read still follows it: that SQL is built from
:data:`REOPENED_BY_CUSTOMER`, not written again.
"""

from __future__ import annotations

from dataclasses import dataclass

from helpline.domains.tickets.models import Status
from helpline.errors import Conflict, Invalid

NEW = Status.new.value
OPEN = Status.open.value
PENDING = Status.pending.value
ON_HOLD = Status.on_hold.value
SOLVED = Status.solved.value
CLOSED = Status.closed.value

#: A customer's message puts these back to open: the customer is waiting on the team again.
REOPENED_BY_CUSTOMER: frozenset[str] = frozenset({PENDING, ON_HOLD, SOLVED})
#: Statuses that stamp ``solved_at``; any other clears it.
DONE: frozenset[str] = frozenset({SOLVED, CLOSED})


@dataclass(frozen=True)
class Transition:
    """A change of status. ``solved_at`` is stamped when the new status is solved or closed, and
    cleared otherwise (a reopened ticket is no longer solved)."""

    old: str
    new: str

    @property
    def stamps_solved_at(self) -> bool:
        return self.new in DONE


def _to(old: str, new: str) -> Transition | None:
    return None if old == new else Transition(old, new)


# --- what may happen at all -------------------------------------------------------------------------


def may_change(status: str) -> bool:
    """A closed ticket is final: its properties do not change (follow-ups are new tickets)."""
    return status != CLOSED


def check_change(status: str) -> None:
    """:func:`may_change`, as the error a person gets (409)."""
    if not may_change(status):
        raise Conflict("closed tickets cannot be changed; create a follow-up ticket")


def customer_may_write(status: str) -> bool:
    """A customer writes on any ticket but a closed one. What a refusal means is the channel's:
    the portal and the API answer 409, email threads the message into a new ticket. (A live chat
    keeps its own conversation: its lines are stored whatever the status.)"""
    return status != CLOSED


def may_merge(status: str, merged_into_id: int | None) -> bool:
    """Neither side of a merge may be closed or already merged away."""
    return status != CLOSED and merged_into_id is None


# --- the transitions ----------------------------------------------------------------------------------


def initial() -> str:
    """Every created ticket starts new, whoever creates it and by whichever channel."""
    return NEW


def after_customer_message(status: str) -> Transition | None:
    """A customer's message reopens a pending, on-hold or solved ticket; new, open and closed stay."""
    return Transition(status, OPEN) if status in REOPENED_BY_CUSTOMER else None


def after_staff_message(status: str, *, public: bool) -> Transition | None:
    """A public staff reply opens a new ticket (someone is on it); an internal note changes nothing,
    and a reply on an open, pending, on-hold or solved ticket keeps its status (a reply that should
    also change the status is a reply plus :func:`set_status`)."""
    return Transition(status, OPEN) if public and status == NEW else None


def set_status(old: str, new: str) -> Transition | None:
    """A status set by a person or the system. Nothing goes back to new; setting the status it
    already has is no change. (Whether the ticket may change at all is :func:`may_change`.)"""
    if old == new:
        return None
    if new == NEW:
        raise Invalid("status", "a ticket cannot go back to new")
    return Transition(old, new)


def after_live_assignment(status: str) -> Transition | None:
    """An agent takes a live conversation (a chat accepted, transferred to them or auto-assigned):
    a new ticket opens, since someone is talking to the customer now."""
    return Transition(NEW, OPEN) if status == NEW else None


def after_agent_ends_conversation(status: str) -> Transition | None:
    """An agent closes a live conversation: the ticket is solved, unless it already is (or is closed)."""
    return None if status in DONE else Transition(status, SOLVED)


@dataclass(frozen=True)
class MergeOutcome:
    """What a merge does to each side: the source closes (pointing at the target), the target keeps
    its status."""

    source: Transition | None
    target: Transition | None


def merge(source_status: str, target_status: str) -> MergeOutcome:
    """(Both sides must pass :func:`may_merge` first.)"""
    return MergeOutcome(source=_to(source_status, CLOSED), target=None)


def split_off() -> str:
    """The ticket split off another starts open: its message was already being worked on."""
    return OPEN


# --- who hears of it -------------------------------------------------------------------------------


def notify_assignee_of_customer_message(
    assignee_id: int | None, transition: Transition | None, *, live: bool
) -> bool:
    """The assignee is told when their customer writes. On a live channel (chat) they watch the
    conversation already, so they are told only when the message reopened the ticket (it had left
    their queue)."""
    if not assignee_id:
        return False
    return not live or transition is not None


def notify_new_assignee(old: int | None, new: int | None, actor_user_id: int | None) -> bool:
    """Whoever is assigned a ticket is told, unless they assigned it to themselves. The system
    (``actor_user_id`` None: routing, rules) assigns like a person does, so its assignee is told."""
    return new is not None and new != old and new != actor_user_id
