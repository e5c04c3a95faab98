"""Tables of the accounts domain."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from helpline.db.base import Base, BigId, IdMixin, JSONType, utcnow


class Role(StrEnum):
    admin = "admin"
    agent = "agent"
    light_agent = "light-agent"
    customer = "customer"


STAFF_ROLES = frozenset({Role.admin, Role.agent, Role.light_agent})


class Workspace(IdMixin, Base):
    __tablename__ = "workspaces"
    slug: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    settings: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    #: Last ticket number handed out (SQLite); PostgreSQL uses a sequence per workspace instead.
    ticket_seq: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Set by the instance operator: nobody signs in, every session and token stops working.
    disabled_at: Mapped[datetime | None]


class User(IdMixin, Base):
    """A person's identity: who they are and how they prove it. It belongs to the person, not to a
    workspace (docs/adr/0011-accounts-and-sign-in.md): one user may be a member of several workspaces,
    and no workspace's admin changes what another workspace can observe of it."""

    __tablename__ = "users"
    email: Mapped[str] = mapped_column(sa.String(320), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    password_hash: Mapped[str | None] = mapped_column(sa.String(200))
    #: The password was chosen by a workspace admin when they created the account, not by the person.
    password_by_admin: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    totp_secret: Mapped[str | None] = mapped_column(sa.String(64))
    totp_enabled: Mapped[bool] = mapped_column(default=False)
    #: A new secret during two-factor set-up; the one in use stays until a code confirms this one.
    totp_pending: Mapped[str | None] = mapped_column(sa.String(64))
    #: Instance-wide: only the instance operator (``helpline users disable``) turns a person off.
    is_active: Mapped[bool] = mapped_column(default=True)
    #: The instance operator: manages workspaces (``/api/v1/workspaces``), sees the instance audit log.
    is_operator: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    #: The person's own time zone (an IANA name) for the times pages show; None: the workspace's.
    timezone: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Membership(IdMixin, Base):
    """A user's role in one workspace. A customer membership points at the contact it signs in for."""

    __tablename__ = "memberships"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "user_id"),)
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(sa.String(20))
    contact_id: Mapped[int | None] = mapped_column(sa.ForeignKey("contacts.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Deactivated in this workspace only (by its admins); the person's other workspaces are untouched.
    is_active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    #: Appended to this person's public replies in this workspace (set on their profile page).
    signature: Mapped[str | None] = mapped_column(sa.Text)


class Invitation(IdMixin, Base):
    """An admin's offer of a membership to a person who already has an account. Nothing of theirs
    changes until they accept it, signed in as themselves (docs/adr/0011-accounts-and-sign-in.md)."""

    __tablename__ = "invitations"
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(sa.String(20))
    group_ids: Mapped[list[int]] = mapped_column(JSONType, default=list)
    #: Who invited them (a user id kept as a plain number, like the audit log's actors).
    invited_by: Mapped[int | None] = mapped_column(sa.BigInteger)
    #: SHA-256 of the secret in the mailed link; the secret itself is never stored.
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class Group(IdMixin, Base):
    """A team of agents; tickets in a group are visible only to its members (and admins)."""

    __tablename__ = "groups"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "name"),)
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(120))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class GroupMember(Base):
    __tablename__ = "group_members"
    group_id: Mapped[int] = mapped_column(sa.ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class RecoveryCode(IdMixin, Base):
    __tablename__ = "recovery_codes"
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(sa.String(128))
    used_at: Mapped[datetime | None]


class ApiToken(IdMixin, Base):
    """A bearer token. Only its SHA-256 is kept; the token itself is shown once."""

    __tablename__ = "api_tokens"
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(120), default="")
    prefix: Mapped[str] = mapped_column(sa.String(16))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class WebSession(IdMixin, Base):
    """A browser session; the cookie holds a random id whose hash is kept here."""

    __tablename__ = "web_sessions"
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    #: How the person proved who they are: ``password`` (with 2FA when on), ``link``, ``passkey``, ``sso``.
    method: Mapped[str] = mapped_column(sa.String(20), default="password", server_default="password")
    #: The last time they proved it (sign-in or re-authentication); sensitive changes need it recent.
    reauth_at: Mapped[datetime | None]


class AuditEntry(IdMixin, Base):
    """One security-relevant action. Append-only: database triggers refuse UPDATE and DELETE, and the
    row keeps no foreign keys so that it outlives what it talks about."""

    __tablename__ = "audit_log"
    __table_args__ = (
        sa.Index("ix_audit_log_ws_at", "workspace_id", "at"),
        sa.Index("ix_audit_log_ws_action", "workspace_id", "action"),
    )
    #: None for instance-level entries (the operator's, sign-ins that name no workspace).
    workspace_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_user_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    #: The actor's email at the time ('' for the system), so the entry reads the same after renames.
    actor_email: Mapped[str] = mapped_column(sa.String(320), default="")
    ip: Mapped[str] = mapped_column(sa.String(64), default="")
    action: Mapped[str] = mapped_column(sa.String(64))
    target_type: Mapped[str] = mapped_column(sa.String(40), default="")
    target_id: Mapped[str] = mapped_column(sa.String(64), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class PasskeyCredential(IdMixin, Base):
    """A WebAuthn credential (passkey) registered by a person: a sign-in method and a second factor."""

    __tablename__ = "passkey_credentials"
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    #: The credential id, base64url without padding (what the authenticator names it by).
    credential_id: Mapped[str] = mapped_column(sa.String(1400), unique=True)
    public_key: Mapped[bytes] = mapped_column(sa.LargeBinary)
    sign_count: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    transports: Mapped[list[str]] = mapped_column(JSONType, default=list)
    name: Mapped[str] = mapped_column(sa.String(120), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]


class SsoProvider(IdMixin, Base):
    """A workspace's identity provider for single sign-on: ``oidc`` or ``saml``."""

    __tablename__ = "sso_providers"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "slug"),)
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(10))
    #: Names the provider in its sign-in and callback URLs (``/sso/<workspace>/<slug>/…``).
    slug: Mapped[str] = mapped_column(sa.String(64))
    name: Mapped[str] = mapped_column(sa.String(120))
    enabled: Mapped[bool] = mapped_column(default=True)
    #: OIDC: issuer, client_id, client_secret, scopes; SAML: the IdP's metadata XML and our entity id.
    config: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    #: Just-in-time membership: the role a new person gets, and which claim values give which groups.
    default_role: Mapped[str] = mapped_column(sa.String(20), default="agent")
    group_claim: Mapped[str] = mapped_column(sa.String(120), default="")
    group_map: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SsoIdentity(IdMixin, Base):
    """A person as an identity provider knows them (its subject), tied to our user."""

    __tablename__ = "sso_identities"
    __table_args__ = (sa.UniqueConstraint("provider_id", "subject"),)
    provider_id: Mapped[int] = mapped_column(sa.ForeignKey("sso_providers.id", ondelete="CASCADE"))
    subject: Mapped[str] = mapped_column(sa.String(255))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


_ = BigId
