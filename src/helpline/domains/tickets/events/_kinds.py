"""One frozen dataclass per kind of ticket event, with the row's stable ``kind`` (and ``field``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from helpline.domains.tickets.events._base import TicketEvent, UnknownEvent, _get


@dataclass(frozen=True)
class Created(TicketEvent):
    """A ticket was created, by a person, a channel, or a split (``split_from``, ``message_id``)."""

    kind: ClassVar[str] = "created"
    number: int
    subject: str | None = None
    status: str | None = None
    priority: str | None = None
    channel: str | None = None
    requester_id: int | None = None
    assignee_id: int | None = None
    group_id: int | None = None
    tags: tuple[str, ...] = ()
    split_from: int | None = None
    message_id: int | None = None

    def values(self) -> tuple[str | None, Any, Any]:
        new: dict[str, Any] = {
            "number": self.number,
            "subject": self.subject,
            "status": self.status,
            "priority": self.priority,
            "channel": self.channel,
            "requester_id": self.requester_id,
            "assignee_id": self.assignee_id,
            "group_id": self.group_id,
            "tags": list(self.tags),
        }
        if self.split_from is not None:
            new.update(split_from=self.split_from, message_id=self.message_id)
        return None, None, new

    @classmethod
    def from_values(cls, field: str | None, old: Any, new: Any) -> Created:
        return cls(
            number=int(_get(new, "number", 0)),
            subject=_get(new, "subject"),
            status=_get(new, "status"),
            priority=_get(new, "priority"),
            channel=_get(new, "channel"),
            requester_id=_get(new, "requester_id"),
            assignee_id=_get(new, "assignee_id"),
            group_id=_get(new, "group_id"),
            tags=tuple(_get(new, "tags") or ()),
            split_from=_get(new, "split_from"),
            message_id=_get(new, "message_id"),
        )


@dataclass(frozen=True)
class MessageAdded(TicketEvent):
    """A message (reply or internal note) was written on the ticket: by whom (``author_kind``:
    customer, agent, system), through which channel, and whether the customer sees it."""

    kind: ClassVar[str] = "message_added"
    message_id: int
    public: bool
    channel: str | None = None
    author_kind: str | None = None

    def values(self) -> tuple[str | None, Any, Any]:
        return (
            None,
            None,
            {
                "message_id": self.message_id,
                "public": self.public,
                "channel": self.channel,
                "author_kind": self.author_kind,
            },
        )

    @classmethod
    def from_values(cls, field: str | None, old: Any, new: Any) -> MessageAdded:
        return cls(
            message_id=int(_get(new, "message_id", 0)),
            public=bool(_get(new, "public", False)),
            channel=_get(new, "channel"),
            author_kind=_get(new, "author_kind"),
        )


@dataclass(frozen=True)
class FieldChanged(TicketEvent):
    """A property without an event class of its own changed (subject, priority, type, group, due
    time, requester, custom fields). Build it with :func:`field_changed`."""

    kind: ClassVar[str] = "field_changed"
    name: str
    old: Any
    new: Any

    def __post_init__(self) -> None:
        if self.name in _FIELD_CLASSES:
            raise ValueError(f"{self.name} changes are {_FIELD_CLASSES[self.name].__name__} events")

    def values(self) -> tuple[str | None, Any, Any]:
        return self.name, self.old, self.new

    @classmethod
    def from_values(cls, field: str | None, old: Any, new: Any) -> TicketEvent:
        if not field:
            raise UnknownEvent("a field_changed event names its field")
        own = _FIELD_CLASSES.get(field)
        return own.from_values(field, old, new) if own else cls(field, old, new)


@dataclass(frozen=True)
class _OneField(TicketEvent):
    kind: ClassVar[str] = "field_changed"
    old: Any
    new: Any

    def values(self) -> tuple[str | None, Any, Any]:
        return self.field, self.old, self.new

    @classmethod
    def from_values(cls, field: str | None, old: Any, new: Any) -> TicketEvent:
        return cls(old, new)


@dataclass(frozen=True)
class StatusChanged(_OneField):
    """The status changed (old and new status names)."""

    field: ClassVar[str | None] = "status"
    old: str
    new: str


@dataclass(frozen=True)
class Assigned(_OneField):
    """The assignee changed (user ids; None is unassigned). The row's actor says who assigned: a
    person, or the system (routing)."""

    field: ClassVar[str | None] = "assignee_id"
    old: int | None
    new: int | None


@dataclass(frozen=True)
class TagsChanged(_OneField):
    """The tags changed (the sorted lists before and after)."""

    field: ClassVar[str | None] = "tags"
    old: list[str]
    new: list[str]


@dataclass(frozen=True)
class FollowersChanged(_OneField):
    """The followers changed (sorted user ids before and after)."""

    field: ClassVar[str | None] = "follower_ids"
    old: list[int]
    new: list[int]


@dataclass(frozen=True)
class CCsChanged(_OneField):
    """The copied contacts changed (sorted contact ids before and after)."""

    field: ClassVar[str | None] = "cc_contact_ids"
    old: list[int]
    new: list[int]


_FIELD_CLASSES: dict[str, type[_OneField]] = {
    c.field: c  # type: ignore[misc]
    for c in (StatusChanged, Assigned, TagsChanged, FollowersChanged, CCsChanged)
}


def field_changed(name: str, old: Any, new: Any) -> TicketEvent:
    """The event of property ``name`` changing from ``old`` to ``new``, of its own class if it has one."""
    own = _FIELD_CLASSES.get(name)
    return own(old, new) if own else FieldChanged(name, old, new)


@dataclass(frozen=True)
class Linked(TicketEvent):
    """This ticket was linked to ``ticket_id``, which is its ``link`` (parent, child, related)."""

    kind: ClassVar[str] = "linked"
    ticket_id: int
    link: str

    def values(self) -> tuple[str | None, Any, Any]:
        return None, None, {"ticket_id": self.ticket_id, "kind": self.link}

    @classmethod
    def from_values(cls, field: str | None, old: Any, new: Any) -> Linked:
        return cls(int(_get(new, "ticket_id", 0)), str(_get(new, "kind", "")))


@dataclass(frozen=True)
class Unlinked(TicketEvent):
    """The link between this ticket and ``ticket_id`` was removed."""

    kind: ClassVar[str] = "unlinked"
    ticket_id: int

    def values(self) -> tuple[str | None, Any, Any]:
        return None, {"ticket_id": self.ticket_id}, None

    @classmethod
    def from_values(cls, field: str | None, old: Any, new: Any) -> Unlinked:
        return cls(int(_get(old, "ticket_id", 0)))


@dataclass(frozen=True)
class MergedInto(TicketEvent):
    """This ticket was merged into ``ticket_id``: its messages (``message_ids``) moved there."""

    kind: ClassVar[str] = "merged_into"
    ticket_id: int
    message_ids: tuple[int, ...] = ()

    def values(self) -> tuple[str | None, Any, Any]:
        return None, None, {"ticket_id": self.ticket_id, "message_ids": list(self.message_ids)}

    @classmethod
    def from_values(cls, field: str | None, old: Any, new: Any) -> MergedInto:
        return cls(int(_get(new, "ticket_id", 0)), tuple(_get(new, "message_ids") or ()))


@dataclass(frozen=True)
class MergedFrom(TicketEvent):
    """Ticket ``ticket_id`` was merged into this one, bringing ``message_ids``."""

    kind: ClassVar[str] = "merged_from"
    ticket_id: int
    message_ids: tuple[int, ...] = ()

    def values(self) -> tuple[str | None, Any, Any]:
        return None, None, {"ticket_id": self.ticket_id, "message_ids": list(self.message_ids)}

    @classmethod
    def from_values(cls, field: str | None, old: Any, new: Any) -> MergedFrom:
        return cls(int(_get(new, "ticket_id", 0)), tuple(_get(new, "message_ids") or ()))


@dataclass(frozen=True)
class Split(TicketEvent):
    """Message ``message_id`` was split off this ticket into the new ticket ``ticket_id``."""

    kind: ClassVar[str] = "split"
    ticket_id: int
    message_id: int

    def values(self) -> tuple[str | None, Any, Any]:
        return None, None, {"ticket_id": self.ticket_id, "message_id": self.message_id}

    @classmethod
    def from_values(cls, field: str | None, old: Any, new: Any) -> Split:
        return cls(int(_get(new, "ticket_id", 0)), int(_get(new, "message_id", 0)))


@dataclass(frozen=True)
class Erased(TicketEvent):
    """A contact's data was erased from this ticket (``messages``: how many were redacted)."""

    kind: ClassVar[str] = "erased"
    messages: int

    def values(self) -> tuple[str | None, Any, Any]:
        return None, None, {"messages": self.messages}

    @classmethod
    def from_values(cls, field: str | None, old: Any, new: Any) -> Erased:
        return cls(int(_get(new, "messages", 0)))


@dataclass(frozen=True)
class Snoozed(TicketEvent):
    """The ticket was put aside until ``until`` (an ISO 8601 time in UTC)."""

    kind: ClassVar[str] = "snoozed"
    until: str

    def values(self) -> tuple[str | None, Any, Any]:
        return None, None, {"until": self.until}

    @classmethod
    def from_values(cls, field: str | None, old: Any, new: Any) -> Snoozed:
        return cls(str(_get(new, "until", "")))


@dataclass(frozen=True)
class Unsnoozed(TicketEvent):
    """The ticket came back from a snooze: ``reason`` is ``time`` (its time came), ``reply`` (the
    customer wrote) or ``agent`` (someone woke it)."""

    kind: ClassVar[str] = "unsnoozed"
    reason: str

    def values(self) -> tuple[str | None, Any, Any]:
        return None, None, {"reason": self.reason}

    @classmethod
    def from_values(cls, field: str | None, old: Any, new: Any) -> Unsnoozed:
        return cls(str(_get(new, "reason", "")))


@dataclass(frozen=True)
class SlaAlert(TicketEvent):
    """An SLA target of the ticket was about to be missed (``stage`` ``warn``) or was missed
    (``breach``): which ``metric``, when it was due (ISO 8601, UTC), and what the escalation did
    (``actions``: short sentences, e.g. "raised the priority to urgent")."""

    kind: ClassVar[str] = "sla_alert"
    metric: str
    stage: str
    due_at: str = ""
    actions: tuple[str, ...] = ()

    def values(self) -> tuple[str | None, Any, Any]:
        return (
            None,
            None,
            {
                "metric": self.metric,
                "stage": self.stage,
                "due_at": self.due_at,
                "actions": list(self.actions),
            },
        )

    @classmethod
    def from_values(cls, field: str | None, old: Any, new: Any) -> SlaAlert:
        return cls(
            str(_get(new, "metric", "")),
            str(_get(new, "stage", "")),
            str(_get(new, "due_at", "") or ""),
            tuple(_get(new, "actions") or ()),
        )


@dataclass(frozen=True)
class RuleApplied(TicketEvent):
    """A rule acted on the ticket: which (``rule`` ``time_rule``, ``trigger`` or ``macro``, its id
    and name as it was then) and what it did (``actions``: short sentences, e.g. "set the status to
    closed"). The changes themselves are recorded as their own events beside it."""

    kind: ClassVar[str] = "rule_applied"
    rule: str
    rule_id: int
    name: str
    actions: tuple[str, ...] = ()

    def values(self) -> tuple[str | None, Any, Any]:
        return (
            None,
            None,
            {"rule": self.rule, "rule_id": self.rule_id, "name": self.name, "actions": list(self.actions)},
        )

    @classmethod
    def from_values(cls, field: str | None, old: Any, new: Any) -> RuleApplied:
        actions = _get(new, "actions", [])
        return cls(
            str(_get(new, "rule", "")),
            int(_get(new, "rule_id", 0) or 0),
            str(_get(new, "name", "")),
            tuple(str(a) for a in actions) if isinstance(actions, list) else (),
        )
