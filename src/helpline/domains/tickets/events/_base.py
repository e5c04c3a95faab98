"""The shapes every ticket event shares: the base class, who acted, and the refusal of an unknown row."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Protocol


class UnknownEvent(ValueError):
    """A row whose kind (or, for ``field_changed``, whose missing field) no event class knows."""


class Actor(Protocol):
    """Who made a change: a signed-in principal (``accounts.principal.Principal``) or an
    :class:`Author` for those without a session (a contact writing by email or chat, the system)."""

    @property
    def user_id(self) -> int | None: ...

    @property
    def actor_kind(self) -> str: ...


@dataclass(frozen=True)
class Author:
    """An actor without a sign-in: ``actor_kind`` is ``customer`` (a contact writing from outside)
    or ``system`` (Helpline itself: routing, rules, bounces)."""

    actor_kind: str
    user_id: int | None = None


SYSTEM = Author("system")
CUSTOMER = Author("customer")


@dataclass(frozen=True)
class TicketEvent:
    """Base of every event. ``kind`` is the row's kind; ``field`` set on a subclass means the event
    is that property's ``field_changed``."""

    kind: ClassVar[str]
    field: ClassVar[str | None] = None

    def values(self) -> tuple[str | None, Any, Any]:
        """The row's (field, old, new)."""
        raise NotImplementedError

    @classmethod
    def from_values(cls, field: str | None, old: Any, new: Any) -> TicketEvent:
        raise NotImplementedError

    def to_row(self, ticket: Mapping[str, Any], actor: Actor | None, at: datetime) -> dict[str, Any]:
        """The ``events`` row of this event on ``ticket`` (a mapping with id and workspace_id)."""
        f, old, new = self.values()
        return {
            "workspace_id": ticket["workspace_id"],
            "ticket_id": ticket["id"],
            "kind": self.kind,
            "field": f,
            "old": old,
            "new": new,
            "actor_user_id": actor.user_id if actor else None,
            "actor_kind": actor.actor_kind if actor else SYSTEM.actor_kind,
            "created_at": at,
        }


def _get(value: Any, key: str, default: Any = None) -> Any:
    return value.get(key, default) if isinstance(value, Mapping) else default
