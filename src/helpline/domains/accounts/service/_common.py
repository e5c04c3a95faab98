"""What the accounts service's modules share: table handles, limits, and small pure helpers."""

from __future__ import annotations

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
from helpline.web.errors import Invalid

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
