"""``/api/v1/sso-providers``: a workspace's identity providers, for its admins. The client secret is
write-only (reads carry ``has_client_secret``); the SAML metadata XML is kept but not read back."""

from __future__ import annotations

from fastapi import APIRouter, Response

from helpline.domains.accounts.sso import providers, queries
from helpline.domains.accounts.sso.schemas import SsoProviderCreate, SsoProviderRead, SsoProviderUpdate
from helpline.web.deps import CurrentPrincipal, PlatformDep
from helpline.web.responses import JSON
from helpline.web.types import IdPath

router = APIRouter(tags=["single sign-on"])


@router.get("/sso-providers", response_model=list[SsoProviderRead], summary="Identity providers (admins)")
async def list_providers(actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    async with platform.db.read() as conn:
        rows = await queries.list_providers(conn, actor)
        slug = await queries.workspace_slug(conn, actor.workspace_id)
    return JSON([queries.shape(r, platform.settings.base_url, slug) for r in rows])


@router.post(
    "/sso-providers",
    status_code=201,
    response_model=SsoProviderRead,
    summary="Add an identity provider (admins)",
)
async def create_provider(body: SsoProviderCreate, actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    base = platform.settings.base_url
    async with platform.db.transaction() as uow:
        provider_id = await providers.do_create_provider(uow, actor, body, base_url=base)
        row = await queries.access_provider(uow, actor, provider_id)
        slug = await queries.workspace_slug(uow, actor.workspace_id)
    return JSON(queries.shape(row, base, slug), status_code=201)


@router.get(
    "/sso-providers/{provider_id}", response_model=SsoProviderRead, summary="One identity provider (admins)"
)
async def get_provider(provider_id: IdPath, actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    async with platform.db.read() as conn:
        row = await queries.access_provider(conn, actor, provider_id)
        slug = await queries.workspace_slug(conn, actor.workspace_id)
    return JSON(queries.shape(row, platform.settings.base_url, slug))


@router.patch(
    "/sso-providers/{provider_id}",
    response_model=SsoProviderRead,
    summary="Change an identity provider (admins)",
)
async def update_provider(
    provider_id: IdPath, body: SsoProviderUpdate, actor: CurrentPrincipal, platform: PlatformDep
) -> JSON:
    base = platform.settings.base_url
    async with platform.db.transaction() as uow:
        await providers.do_update_provider(uow, actor, provider_id, body, base_url=base)
        row = await queries.access_provider(uow, actor, provider_id)
        slug = await queries.workspace_slug(uow, actor.workspace_id)
    return JSON(queries.shape(row, base, slug))


@router.delete(
    "/sso-providers/{provider_id}",
    status_code=204,
    summary="Remove an identity provider and the links of people to it (admins)",
)
async def delete_provider(provider_id: IdPath, actor: CurrentPrincipal, platform: PlatformDep) -> Response:
    async with platform.db.transaction() as uow:
        await providers.do_delete_provider(uow, actor, provider_id)
    return Response(status_code=204)
