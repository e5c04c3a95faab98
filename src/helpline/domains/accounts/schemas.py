"""Request and response bodies of the accounts API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from helpline.domains.accounts.models import Role
from helpline.types import Email, Id, Strict

Name = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Password = Annotated[str, StringConstraints(min_length=1, max_length=1000)]


class SessionCreate(Strict):
    email: Email
    password: Password
    otp: Annotated[str, StringConstraints(max_length=32)] | None = None
    workspace: Annotated[str, StringConstraints(max_length=64)] | None = None


class SessionRead(BaseModel):
    user_id: int
    workspace_id: int
    role: Role
    csrf_token: str


Otp = Annotated[str, StringConstraints(max_length=32)]


class Reauth(Strict):
    """A fresh proof of who is asking, for sensitive changes: needed unless the web session signed in
    or re-authenticated within the last five minutes."""

    password: Password | None = Field(default=None, description="Your current password")
    otp: Otp | None = Field(default=None, description="A two-factor code, when 2FA is on")


class Me(BaseModel):
    id: int
    email: str
    name: str
    role: Role
    workspace_id: int
    group_ids: list[int]
    contact_id: int | None
    is_operator: bool


class MeUpdate(Reauth):
    """Your own name and email. Changing the email needs a fresh proof (``password``)."""

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] | None = None
    email: Email | None = None


class PasswordChange(Reauth):
    new_password: Password


class UserCreate(Strict):
    email: Email
    name: Name = ""
    role: Role
    password: Password | None = None
    group_ids: list[Id] = Field(default_factory=list, max_length=100)


class UserUpdate(Strict):
    name: Name | None = None
    role: Role | None = None
    is_active: bool | None = None
    group_ids: list[Id] | None = Field(default=None, max_length=100)


class UserRead(BaseModel):
    id: int
    email: str
    name: str
    role: Role
    is_active: bool = Field(description="Active in this workspace")
    totp_enabled: bool
    contact_id: int | None
    group_ids: list[int]
    created_at: datetime


class UserPage(BaseModel):
    items: list[UserRead]
    next_cursor: str | None


class GroupCreate(Strict):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
    description: Annotated[str, StringConstraints(max_length=2000)] = ""
    member_ids: list[Id] = Field(default_factory=list, max_length=500)


class GroupUpdate(Strict):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)] | None = None
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None
    member_ids: list[Id] | None = Field(default=None, max_length=500)


class GroupRead(BaseModel):
    id: int
    name: str
    description: str
    member_ids: list[int]


class Invited(BaseModel):
    """The answer to adding a person who already has an account: an invitation was mailed to them."""

    status: str = Field(description="Always `invited`")
    user_id: int
    email: str
    role: Role
    invitation_id: int


class InvitationRead(BaseModel):
    id: int
    user_id: int
    email: str
    role: Role
    group_ids: list[int]
    created_at: datetime
    expires_at: datetime


class TokenCreate(Reauth):
    name: Annotated[str, StringConstraints(max_length=120)] = ""
    expires_at: datetime | None = None
    user_id: Id | None = Field(default=None, description="Admins may create tokens for others")


class TokenRead(BaseModel):
    id: int
    name: str
    prefix: str
    user_id: int
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class TokenCreated(TokenRead):
    token: str = Field(description="Shown once; store it now")


class TotpStart(BaseModel):
    secret: str
    otpauth_uri: str


class TotpConfirm(Strict):
    code: Annotated[str, StringConstraints(max_length=32)]


class RecoveryCodes(BaseModel):
    recovery_codes: list[str]
