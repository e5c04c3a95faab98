"""Who an identity provider's assertion signs in, and whether a password may sign someone in.

The rules (docs/sso.md, "Who gets in"), and why: a provider is configured by one workspace's admins,
and its assertion ("this is ann@example.com") is only as trustworthy as they are. An admin of
workspace B can make their provider assert *any* address, so:

1. An assertion only ever opens a session **in the provider's own workspace**.
2. A person is found first by the provider's subject (``sso_identities (provider_id, subject)``),
   which the provider keeps stable for them; the address is only used to link a subject seen for the
   first time.
3. A new subject whose address belongs to nobody here: the person is created without a password,
   with a membership of the provider's default role (agent or light agent, never admin) and the
   groups its map gives them (just-in-time membership).
4. A new subject whose address belongs to an active member of this workspace: linked, signed in.
5. A new subject whose address belongs to someone who is **not** a member of this workspace: refused
   ("ask an admin for an invitation"). Nothing of theirs is attached or changed: not their name,
   password, two-factor settings or memberships. Otherwise B's admin could walk into A's accounts.
6. A person whose membership here is deactivated, whose account is disabled on the instance, or who
   is a customer here, is refused; so is an account already linked to another subject of the same
   provider (an address handed to a new person at the provider does not inherit the old account).
7. At every sign-in the groups named in the provider's map are set from the assertion (added or
   removed); groups the map does not name are left alone.

A refusal raises :class:`SignInRefused`; the caller records it (:func:`record_refusal`) in its own
transaction, since the sign-in's is rolled back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.db.base import utcnow
from helpline.domains.accounts import audit
from helpline.domains.accounts import service as accounts
from helpline.domains.accounts.models import (
    Group,
    GroupMember,
    Membership,
    Role,
    SsoIdentity,
    User,
    Workspace,
)
from helpline.errors import Forbidden
from helpline.platform.db import UnitOfWork

users: sa.Table = User.__table__
members: sa.Table = Membership.__table__
groups: sa.Table = Group.__table__
group_members: sa.Table = GroupMember.__table__
identities: sa.Table = SsoIdentity.__table__
workspaces: sa.Table = Workspace.__table__

#: The workspace setting (in ``workspaces.settings``) that makes agents sign in with SSO only.
SSO_REQUIRED = "sso_required"
MAX_GROUPS = 500


@dataclass(frozen=True)
class Assertion:
    """What a provider vouched for, after its signature and conditions were checked."""

    subject: str
    email: str
    name: str = ""
    groups: tuple[str, ...] = ()


class SignInRefused(Exception):
    """A single sign-on that must not open a session. ``reason`` is a stable code for the audit log;
    the message is a sentence for the person (it names no other workspace and no other account).
    ``status``: 400 for a broken or forged answer, 403 for a person the rules keep out, 502 for a
    provider that cannot be used."""

    def __init__(self, reason: str, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.reason, self.message, self.status = reason, message, status


def groups_of(value: object) -> tuple[str, ...]:
    """The group names of a claim or attribute: a list of strings or one string."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        return ()
    return tuple(dict.fromkeys(v for v in value[:MAX_GROUPS] if isinstance(v, str) and v and len(v) <= 255))


# --- passwords and require-SSO -----------------------------------------------------------------------


async def password_allowed(conn: AsyncConnection | UnitOfWork, workspace_id: int, role: str) -> bool:
    """Whether someone of ``role`` may sign in to the workspace with a password or an emailed sign-in
    link. No for agents and light agents when the workspace requires single sign-on; admins keep
    their password as the way in when the identity provider is down or misconfigured (break-glass),
    and customers never sign in through the staff's provider."""
    if role not in (Role.agent.value, Role.light_agent.value):
        return True
    row = (
        await conn.execute(sa.select(workspaces.c.settings).where(workspaces.c.id == workspace_id))
    ).first()
    return not (row is not None and (row[0] or {}).get(SSO_REQUIRED) is True)


async def check_password_sign_in(conn: AsyncConnection | UnitOfWork, user_id: int, workspace_id: int) -> None:
    """Refuse (403) a password or sign-in-link sign-in of ``user_id`` into ``workspace_id`` that
    :func:`password_allowed` forbids. Call it after the password was checked, before any session."""
    role = (
        await conn.execute(
            sa.select(members.c.role).where(
                members.c.user_id == user_id, members.c.workspace_id == workspace_id
            )
        )
    ).scalar()
    if role is not None and not await password_allowed(conn, workspace_id, str(role)):
        slug = (
            await conn.execute(sa.select(workspaces.c.slug).where(workspaces.c.id == workspace_id))
        ).scalar()
        raise Forbidden(
            "This workspace signs agents in with single sign-on: use its sign-in button, "
            f"on /login?workspace={slug}"
        )


# --- signing in --------------------------------------------------------------------------------------


async def _link(uow: UnitOfWork, provider_id: int, subject: str, user_id: int) -> None:
    await uow.execute(
        identities.insert().values(
            provider_id=provider_id, subject=subject, user_id=user_id, created_at=utcnow()
        )
    )


async def apply_groups(
    uow: UnitOfWork, workspace_id: int, user_id: int, group_map: dict[str, Any], names: tuple[str, ...]
) -> None:
    """Make the person a member of exactly the mapped groups their assertion names, among the groups
    the map mentions; other groups are not touched."""
    mapped = {int(v) for v in group_map.values()}
    if not mapped:
        return
    alive = {
        int(r[0])
        for r in await uow.execute(
            sa.select(groups.c.id).where(
                groups.c.workspace_id == workspace_id, groups.c.id.in_(sorted(mapped))
            )
        )
    }
    wanted = {int(group_map[n]) for n in names if n in group_map} & alive
    have = {
        int(r[0])
        for r in await uow.execute(
            sa.select(group_members.c.group_id).where(
                group_members.c.user_id == user_id, group_members.c.group_id.in_(sorted(alive))
            )
        )
    }
    if wanted - have:
        await uow.execute(
            group_members.insert(), [{"group_id": g, "user_id": user_id} for g in sorted(wanted - have)]
        )
    if have - wanted:
        await uow.execute(
            group_members.delete().where(
                group_members.c.user_id == user_id, group_members.c.group_id.in_(sorted(have - wanted))
            )
        )


async def sign_in(
    uow: UnitOfWork, provider: dict[str, Any], assertion: Assertion
) -> tuple[int, dict[str, Any]]:
    """The user the assertion signs in to the provider's workspace, after the rules of this module
    (linking, just-in-time membership, groups), with the detail its ``signin.succeeded`` records. Raises
    :class:`SignInRefused`, after which the caller must roll back."""
    workspace_id, provider_id = int(provider["workspace_id"]), int(provider["id"])
    email = accounts.normalise_email(assertion.email)
    created = False
    linked = (
        await uow.execute(
            sa.select(identities.c.user_id).where(
                identities.c.provider_id == provider_id, identities.c.subject == assertion.subject
            )
        )
    ).scalar()
    if linked is not None:
        user_id = int(linked)
    else:
        existing = (await uow.execute(sa.select(users.c.id).where(users.c.email == email))).scalar()
        if existing is None:
            user_id = await accounts.create_user(
                uow,
                workspace_id,
                email=email,
                role=Role(provider["default_role"]),
                name=(assertion.name or email.split("@")[0])[:200],
            )
            created = True
        else:
            user_id = int(existing)
            other = (
                await uow.execute(
                    sa.select(identities.c.id).where(
                        identities.c.provider_id == provider_id, identities.c.user_id == user_id
                    )
                )
            ).first()
            if other is not None:
                raise SignInRefused(
                    "other_identity",
                    "This account is linked to another identity at this provider. Ask an admin of the "
                    "workspace to check it.",
                    status=403,
                )
        await _link(uow, provider_id, assertion.subject, user_id)
    person = (
        await uow.execute(sa.select(users.c.is_active, users.c.email).where(users.c.id == user_id))
    ).first()
    if person is None or not person.is_active:
        raise SignInRefused("disabled", "This account is disabled.", status=403)
    member = (
        await uow.execute(
            sa.select(members.c.role, members.c.is_active).where(
                members.c.user_id == user_id, members.c.workspace_id == workspace_id
            )
        )
    ).first()
    if member is None:
        raise SignInRefused(
            "not_member",
            f"You have an account, but not in {provider.get('workspace_name') or 'this workspace'}. "
            "Ask an admin of it for an invitation, accept it, then sign in again.",
            status=403,
        )
    if not member.is_active:
        raise SignInRefused(
            "deactivated", "Your membership in this workspace is deactivated. Ask an admin of it.", status=403
        )
    if member.role == Role.customer.value:
        raise SignInRefused(
            "customer", "Single sign-on is for the workspace's staff. Sign in on its portal.", status=403
        )
    await apply_groups(uow, workspace_id, user_id, provider.get("group_map") or {}, assertion.groups)
    # signin.open_session records the sign-in (with this detail) together with the session it opens.
    return user_id, {"provider": provider["slug"], **({"created": True} if created else {})}


async def record_refusal(platform: Any, provider: dict[str, Any], reason: str, email: str = "") -> None:
    """Record ``signin.failed`` for a refused single sign-on, in a transaction of its own."""
    async with platform.db.transaction() as uow:
        await audit.record(
            uow,
            "signin.failed",
            workspace_id=int(provider["workspace_id"]),
            actor_email=email,
            detail={"method": "sso", "provider": provider["slug"], "reason": reason},
        )
