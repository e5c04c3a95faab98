"""Who is asking: the principal every read and write is scoped by."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from helpline.domains.accounts.models import Role


@dataclass(frozen=True, slots=True)
class Principal:
    """A user acting in one workspace with one role.

    For a customer, ``contact_id`` is the contact they sign in for, and ``shared_organization_id`` is set only
    when that organization shares its tickets among its members.
    """

    user_id: int
    workspace_id: int
    role: Role
    email: str
    name: str
    group_ids: frozenset[int] = frozenset()
    contact_id: int | None = None
    shared_organization_id: int | None = None
    session_id: int | None = None
    token_id: int | None = None
    #: The instance operator (manages workspaces); their role inside this workspace is ``role``.
    is_operator: bool = False
    #: The person's own time zone (IANA name) for the times pages show; None: the workspace's.
    timezone: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.admin

    @property
    def is_staff(self) -> bool:
        return self.role is not Role.customer

    @property
    def is_customer(self) -> bool:
        return self.role is Role.customer

    @property
    def can_edit_tickets(self) -> bool:
        """Admins and agents change ticket properties; light agents and customers do not."""
        return self.role in (Role.admin, Role.agent)

    @property
    def can_reply_publicly(self) -> bool:
        return self.role is not Role.light_agent

    @property
    def actor_kind(self) -> str:
        return "customer" if self.is_customer else "agent"


def dump(p: Principal) -> list[object]:
    """``p`` as a JSON-able list (for the principal cache); :func:`load` turns it back."""
    return [
        p.user_id,
        p.workspace_id,
        p.role.value,
        p.email,
        p.name,
        sorted(p.group_ids),
        p.contact_id,
        p.shared_organization_id,
        p.session_id,
        p.token_id,
        p.is_operator,
        p.timezone,
    ]


def load(v: Sequence[Any]) -> Principal:
    """The principal :func:`dump` wrote (``v`` comes back from JSON, so its items are untyped)."""
    # Entries cached by an older release (30 s at most) have no operator flag: not an operator.
    user_id, ws, role, email, name, groups, contact_id, shared_org, session_id, token_id = v[:10]
    operator = bool(v[10]) if len(v) > 10 else False
    timezone = v[11] if len(v) > 11 and isinstance(v[11], str) else None
    return Principal(
        user_id=user_id,
        workspace_id=ws,
        role=Role(role),
        email=email,
        name=name,
        group_ids=frozenset(groups),
        contact_id=contact_id,
        shared_organization_id=shared_org,
        session_id=session_id,
        token_id=token_id,
        is_operator=operator,
        timezone=timezone,
    )
