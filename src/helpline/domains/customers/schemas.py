"""Request and response bodies of the customers API (ContactCreate / ContactUpdate / ContactRead …)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from helpline.domains.customers.models import IdentityKind
from helpline.types import Email, Id, Strict, Tag

Name = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
OrgName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Notes = Annotated[str, StringConstraints(max_length=20_000)]
IdentityValue = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=320)]
Domain = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=253)]
AttrKey = Annotated[str, StringConstraints(min_length=1, max_length=64)]
#: Whole numbers stay within 64 bits: JSON columns and the JSON encoder both stop there.
AttrValue = (
    Annotated[str, StringConstraints(max_length=2000)]
    | bool
    | Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
    | float
    | None
)
Attributes = dict[AttrKey, AttrValue]


TAGS = 50
ATTRIBUTES = 100
IDENTITIES = 20
DOMAINS = 50

_email = TypeAdapter(Email)


def check_identity_value(kind: IdentityKind, value: str) -> str:
    """The shape checks that can be made without the database (the service normalises further)."""
    if kind is IdentityKind.email:
        try:
            return _email.validate_python(value)
        except ValidationError:
            raise ValueError("not an email address") from None
    if kind in (IdentityKind.phone, IdentityKind.whatsapp) and sum(c.isdigit() for c in value) < 5:
        raise ValueError("not a phone number")
    return value


class IdentityIn(Strict):
    kind: IdentityKind
    value: IdentityValue

    @field_validator("value")
    @classmethod
    def _shape(cls, value: str, info: ValidationInfo) -> str:
        kind = info.data.get("kind")
        return check_identity_value(kind, value) if kind is not None else value


class IdentityCreate(IdentityIn):
    """Another way to reach a contact."""


def _not_null(value: Any) -> Any:
    if value is None:
        raise ValueError("cannot be null")
    return value


class ContactCreate(Strict):
    email: Email | None = Field(default=None, description="Becomes the primary identity")
    name: Name = ""
    identities: list[IdentityIn] = Field(default_factory=list, max_length=IDENTITIES)
    organization_id: Id | None = Field(default=None, description="Else matched by the email's domain")
    notes: Notes = ""
    tags: list[Tag] = Field(default_factory=list, max_length=TAGS)
    attributes: Attributes = Field(default_factory=dict, max_length=ATTRIBUTES)

    @model_validator(mode="after")
    def _something(self) -> ContactCreate:
        if not (self.email or self.name or self.identities):
            raise ValueError("give at least a name, an email or an identity")
        return self


class ContactUpdate(Strict):
    """Only the fields present change; ``organization_id: null`` takes the contact out of its organization."""

    name: Name | None = None
    organization_id: Id | None = None
    notes: Notes | None = None
    tags: list[Tag] | None = Field(default=None, max_length=TAGS)
    attributes: Attributes | None = Field(default=None, max_length=ATTRIBUTES)

    _no_nulls = field_validator("name", "notes", "tags", "attributes")(_not_null)


class IdentityRead(BaseModel):
    id: int
    kind: IdentityKind
    value: str
    primary: bool


class ContactRead(BaseModel):
    id: int
    name: str
    email: str | None = Field(description="The primary email address, if the contact has one")
    identities: list[IdentityRead]
    organization_id: int | None
    notes: str
    tags: list[str]
    attributes: dict[str, Any]
    merged_into_id: int | None
    created_at: datetime
    updated_at: datetime
    erased_at: datetime | None = Field(
        default=None,
        description="Set when the contact was erased at their request: nothing identifying is left",
    )


class ContactPage(BaseModel):
    items: list[ContactRead]
    next_cursor: str | None


class MergeContacts(Strict):
    source_id: Id = Field(description="The contact folded into this one; it is left as a pointer")


class OrganizationCreate(Strict):
    name: OrgName
    domains: list[Domain] = Field(
        default_factory=list,
        max_length=DOMAINS,
        description="New contacts with an email at one of these join",
    )
    shared_tickets: bool = Field(default=False, description="Members see each other's tickets")
    notes: Notes = ""
    tags: list[Tag] = Field(default_factory=list, max_length=TAGS)
    attributes: Attributes = Field(default_factory=dict, max_length=ATTRIBUTES)


class OrganizationUpdate(Strict):
    name: OrgName | None = None
    domains: list[Domain] | None = Field(default=None, max_length=DOMAINS)
    shared_tickets: bool | None = None
    notes: Notes | None = None
    tags: list[Tag] | None = Field(default=None, max_length=TAGS)
    attributes: Attributes | None = Field(default=None, max_length=ATTRIBUTES)

    _no_nulls = field_validator("name", "domains", "shared_tickets", "notes", "tags", "attributes")(_not_null)


class OrganizationRead(BaseModel):
    id: int
    name: str
    domains: list[str]
    shared_tickets: bool
    notes: str
    tags: list[str]
    attributes: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class OrganizationPage(BaseModel):
    items: list[OrganizationRead]
    next_cursor: str | None
