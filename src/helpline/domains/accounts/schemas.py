"""Request and response bodies of the accounts API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

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


# --- audit log (audit_api.py) ---------------------------------------------------------------


class AuditRead(BaseModel):
    id: int
    at: datetime
    action: str
    actor_user_id: int | None
    actor_email: str
    ip: str
    target_type: str
    target_id: str
    detail: dict[str, Any]


class AuditPage(BaseModel):
    items: list[AuditRead]
    next_cursor: str | None


# --- passkeys (passkey_api.py) ---------------------------------------------------------------


class PasskeyRead(BaseModel):
    id: int
    name: str
    transports: list[str] = Field(description="How the browser reaches the authenticator (usb, internal, …)")
    created_at: datetime
    last_used_at: datetime | None


class PasskeyOptions(BaseModel):
    publicKey: dict[str, Any] = Field(  # the WebAuthn name, as `navigator.credentials` takes it
        description="Options for `navigator.credentials.create({publicKey})`, binary values as base64url"
    )


class PasskeyCreate(Strict):
    name: str = Field("", max_length=200, description="What the person calls it; blank gives `Passkey`")
    credential: dict[str, Any] = Field(
        description="The `PublicKeyCredential` from `navigator.credentials.create`, as JSON "
        "(`id`, `rawId`, `type`, `response.clientDataJSON`, `response.attestationObject`, base64url)"
    )


class PasskeyUpdate(Strict):
    name: str = Field(min_length=1, max_length=200)


# --- workspaces (workspaces_api.py) ----------------------------------------------------------


class WorkspaceRead(BaseModel):
    id: int
    slug: str
    name: str
    created_at: datetime
    disabled_at: datetime | None
    staff: int = Field(description="Members who are not customers")


class WorkspaceCreate(Strict):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    slug: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    admin_email: Email | None = Field(
        default=None, description="The first admin: a new account, or an existing one that is invited"
    )
    admin_name: Annotated[str, StringConstraints(max_length=200)] = ""
    admin_password: Annotated[str, StringConstraints(min_length=1, max_length=1000)] | None = None


class WorkspaceCreated(WorkspaceRead):
    admin_user_id: int | None
    admin_invited: bool


class WorkspaceUpdate(Strict):
    disabled: bool = Field(description="Disabled: nobody signs in, every session and token stops")
