"""Request and response bodies of the SSO providers API (``/api/v1/sso-providers``), shared with the
admin pages so that both check a provider the same way."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from helpline.types import Id, Strict

Short = Annotated[str, Field(max_length=255)]
Url = Annotated[str, Field(max_length=2000)]
#: A SAML metadata document of a few certificates and endpoints is a few KB; a federation's is not
#: what one provider needs.
MAX_METADATA = 256 * 1024


class SsoProviderBase(Strict):
    name: Annotated[str, Field(min_length=1, max_length=120)] | None = None
    slug: (
        Annotated[str, Field(min_length=1, max_length=64, description="names the provider in its URLs")]
        | None
    ) = None
    enabled: bool | None = None
    default_role: (
        Annotated[
            str,
            Field(
                max_length=20,
                description="role of a person created at their first sign-in: agent or light-agent",
            ),
        ]
        | None
    ) = None
    group_claim: (
        Annotated[
            str,
            Field(max_length=120, description="OIDC claim or SAML attribute that lists the person's groups"),
        ]
        | None
    ) = None
    group_map: (
        Annotated[
            dict[Annotated[str, Field(max_length=255)], Id],
            Field(max_length=200, description="claim value → id of a group of this workspace"),
        ]
        | None
    ) = None
    # OpenID Connect
    issuer: Url | None = None
    client_id: Short | None = None
    client_secret: Annotated[str, Field(max_length=2000, description="write-only")] | None = None
    scopes: (
        Annotated[str, Field(max_length=500, description="space-separated; must include openid")] | None
    ) = None
    # SAML 2.0
    idp_metadata: (
        Annotated[str, Field(max_length=MAX_METADATA, description="the identity provider's metadata XML")]
        | None
    ) = None
    sp_entity_id: Url | None = None
    email_attribute: Short | None = None
    name_attribute: Short | None = None


class SsoProviderCreate(SsoProviderBase):
    kind: Literal["oidc", "saml"]
    name: Annotated[str, Field(min_length=1, max_length=120)]
    slug: Annotated[str, Field(min_length=1, max_length=64)]


class SsoProviderUpdate(SsoProviderBase):
    """Only the fields sent change; ``client_secret`` and ``idp_metadata`` left out keep their value."""


class SsoProviderRead(BaseModel):
    id: int
    kind: str
    slug: str
    name: str
    enabled: bool
    default_role: str
    group_claim: str
    group_map: dict[str, int]
    login_url: str
    created_at: datetime
    issuer: str | None = None
    client_id: str | None = None
    scopes: str | None = None
    has_client_secret: bool | None = None
    redirect_uri: str | None = Field(default=None, description="OIDC: register this at the provider")
    idp_entity_id: str | None = None
    idp_sso_url: str | None = None
    sp_entity_id: str | None = Field(default=None, description="SAML: our entity id, for the provider")
    acs_url: str | None = Field(default=None, description="SAML: our assertion consumer service URL")
    metadata_url: str | None = Field(default=None, description="SAML: our service provider metadata")
    email_attribute: str | None = None
    name_attribute: str | None = None
