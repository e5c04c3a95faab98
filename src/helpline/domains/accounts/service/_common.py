"""What the accounts service's modules share: table handles, limits, and small helpers."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.domains.accounts.models import (
    ApiToken,
    Group,
    GroupMember,
    Invitation,
    Membership,
    RecoveryCode,
    User,
    WebSession,
    Workspace,
)
from helpline.errors import Invalid
from helpline.platform.db import UnitOfWork

workspaces = Workspace.__table__
users = User.__table__
members = Membership.__table__
groups = Group.__table__
group_members = GroupMember.__table__
tokens = ApiToken.__table__
sessions = WebSession.__table__
recovery = RecoveryCode.__table__
invitations = Invitation.__table__

DEFAULT_WORKSPACE = "default"
MIN_PASSWORD = 10


def normalise_email(email: str) -> str:
    return email.strip().lower()


def ticket_sequence(workspace_id: int) -> str:
    return f"ticket_number_ws_{int(workspace_id)}"


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise Invalid("password", f"must be at least {MIN_PASSWORD} characters")


async def belongs_only_to(db: UnitOfWork | AsyncConnection, user_id: int, workspace_id: int) -> bool:
    """Whether the person belongs to this workspace alone (no other membership, no open invitation):
    only then may this workspace (its admins, its single sign-on) change their identity."""
    elsewhere = await db.execute(
        sa.select(members.c.id)
        .where(members.c.user_id == user_id, members.c.workspace_id != workspace_id)
        .union_all(
            sa.select(invitations.c.id).where(
                invitations.c.user_id == user_id,
                invitations.c.workspace_id != workspace_id,
                invitations.c.accepted_at.is_(None),
                invitations.c.revoked_at.is_(None),
            )
        )
        .limit(1)
    )
    return elsewhere.first() is None
