"""What the accounts routes share: table handles and the re-authentication a sensitive change asks for."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from helpline.domains.accounts import signin
from helpline.domains.accounts.models import ApiToken, Group, GroupMember, Invitation, Membership, User
from helpline.domains.accounts.principal import Principal
from helpline.domains.accounts.schemas import Reauth
from helpline.web.deps import PlatformDep

users, members, groups, group_members, tokens, invitations = (
    User.__table__,
    Membership.__table__,
    Group.__table__,
    GroupMember.__table__,
    ApiToken.__table__,
    Invitation.__table__,
)


async def fresh(
    platform: PlatformDep, request: Request, uow: Any, actor: Principal, body: Reauth | None
) -> None:
    await signin.require_fresh(
        request, uow, platform, actor, body.password if body else None, body.otp if body else None
    )
