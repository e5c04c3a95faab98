"""Tables of the customers domain."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from helpline.db.base import Base, IdMixin, JSONType, utcnow


class IdentityKind(StrEnum):
    email = "email"
    phone = "phone"
    whatsapp = "whatsapp"
    twitter = "twitter"
    facebook = "facebook"
    instagram = "instagram"
    telegram = "telegram"


class Organization(IdMixin, Base):
    __tablename__ = "organizations"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "name"),)
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(200))
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    tags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    #: Members of the organization see each other's tickets on the portal and over the API.
    shared_tickets: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class OrganizationDomain(IdMixin, Base):
    """An email domain; a new contact whose address is at this domain joins the organization."""

    __tablename__ = "organization_domains"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "domain"),)
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"))
    organization_id: Mapped[int] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    domain: Mapped[str] = mapped_column(sa.String(253))


class Contact(IdMixin, Base):
    __tablename__ = "contacts"
    __table_args__ = (
        sa.Index("ix_contacts_ws_org", "workspace_id", "organization_id"),
        # For the foreign key's ON DELETE SET NULL: without it, deleting a contact scans them all.
        sa.Index(
            "ix_contacts_merged_into",
            "merged_into_id",
            postgresql_where=sa.text("merged_into_id IS NOT NULL"),
            sqlite_where=sa.text("merged_into_id IS NOT NULL"),
        ),
    )
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(200), default="")
    organization_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="SET NULL")
    )
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    tags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    #: Set when this contact was merged into another; such a contact is hidden from lists.
    merged_into_id: Mapped[int | None] = mapped_column(sa.ForeignKey("contacts.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Set when the contact was erased at their request (``customers.privacy``): nothing identifying
    #: is left of it, and its tickets keep it as an anonymous requester.
    erased_at: Mapped[datetime | None]


class ContactIdentity(IdMixin, Base):
    """One way to reach a contact: an email address, a phone number, a social handle."""

    __tablename__ = "contact_identities"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "kind", "value"),)
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(sa.ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(20))
    value: Mapped[str] = mapped_column(sa.String(320))
    is_primary: Mapped[bool] = mapped_column(default=False)
