"""Reads of single sign-on providers, shared by the API, the admin pages and the sign-in routes:
admins' permission-checked loads (``access_provider``: another workspace's provider is 404), the
provider behind a sign-in URL, the sign-in page's buttons, and the shape a provider is shown in (no
client secret, no metadata XML)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.domains.accounts.models import SsoProvider, Workspace
from helpline.domains.accounts.principal import Principal
from helpline.errors import Forbidden, NotFound
from helpline.platform.db import UnitOfWork

providers: sa.Table = SsoProvider.__table__
workspaces: sa.Table = Workspace.__table__

DEFAULT_SCOPES = "openid email profile"


def require_admin(actor: Principal) -> None:
    if not actor.is_admin:
        raise Forbidden("only admins configure single sign-on")


def urls(base_url: str, workspace_slug: str, provider_slug: str) -> dict[str, str]:
    """Where a provider's routes are: sign-in, OIDC callback, SAML ACS and SP metadata."""
    root = f"{base_url.rstrip('/')}/sso/{workspace_slug}/{provider_slug}"
    return {
        "login_url": f"{root}/login",
        "redirect_uri": f"{root}/callback",
        "acs_url": f"{root}/acs",
        "metadata_url": f"{root}/metadata",
    }


async def workspace_slug(conn: AsyncConnection | UnitOfWork, workspace_id: int) -> str:
    row = (await conn.execute(sa.select(workspaces.c.slug).where(workspaces.c.id == workspace_id))).first()
    if row is None:
        raise NotFound("workspace not found")
    return str(row[0])


async def list_providers(conn: AsyncConnection, actor: Principal) -> list[dict[str, Any]]:
    require_admin(actor)
    rows = await conn.execute(
        sa.select(providers).where(providers.c.workspace_id == actor.workspace_id).order_by(providers.c.name)
    )
    return [dict(r) for r in rows.mappings()]


async def access_provider(
    conn: AsyncConnection | UnitOfWork, actor: Principal, provider_id: int
) -> dict[str, Any]:
    """A provider of the actor's workspace (admins only); 404 for any other id."""
    require_admin(actor)
    row = (
        (
            await conn.execute(
                sa.select(providers).where(
                    providers.c.id == provider_id, providers.c.workspace_id == actor.workspace_id
                )
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"SSO provider {provider_id} not found")
    return dict(row)


async def provider_for_sign_in(
    conn: AsyncConnection | UnitOfWork, workspace_slug: str, provider_slug: str, *, any_state: bool = False
) -> dict[str, Any]:
    """An enabled provider by its URL (workspace slug, provider slug), with ``workspace_slug`` and
    ``workspace_name`` added; 404 when there is none, it is off, or its workspace is disabled
    (``any_state``: turned off or not)."""
    conditions = [workspaces.c.slug == workspace_slug, providers.c.slug == provider_slug]
    if not any_state:
        conditions += [providers.c.enabled.is_(True), workspaces.c.disabled_at.is_(None)]
    row = (
        (
            await conn.execute(
                sa.select(
                    providers,
                    workspaces.c.slug.label("workspace_slug"),
                    workspaces.c.name.label("workspace_name"),
                )
                .join(workspaces, workspaces.c.id == providers.c.workspace_id)
                .where(*conditions)
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound("There is no such single sign-on here.")
    return dict(row)


async def enabled_providers(conn: AsyncConnection, workspace_slug: str | None) -> dict[str, Any]:
    """The sign-in buttons of a workspace (the named one, else the first): ``{"slug", "buttons":
    [{"name", "url"}]}``; no buttons for an unknown or disabled workspace."""
    stmt = sa.select(workspaces.c.id, workspaces.c.slug).where(workspaces.c.disabled_at.is_(None))
    stmt = (
        stmt.where(workspaces.c.slug == workspace_slug) if workspace_slug else stmt.order_by(workspaces.c.id)
    )
    ws = (await conn.execute(stmt.limit(1))).first()
    if ws is None:
        return {"slug": "", "buttons": []}
    rows = await conn.execute(
        sa.select(providers.c.slug, providers.c.name)
        .where(providers.c.workspace_id == ws.id, providers.c.enabled.is_(True))
        .order_by(providers.c.name)
    )
    return {
        "slug": ws.slug,
        "buttons": [{"name": r.name, "url": f"/sso/{ws.slug}/{r.slug}/login"} for r in rows],
    }


def shape(row: dict[str, Any], base_url: str, workspace_slug: str) -> dict[str, Any]:
    """A provider as the API and pages show it: no client secret, no metadata XML."""
    config = row.get("config") or {}
    where = urls(base_url, workspace_slug, row["slug"])
    out: dict[str, Any] = {
        "id": row["id"],
        "kind": row["kind"],
        "slug": row["slug"],
        "name": row["name"],
        "enabled": bool(row["enabled"]),
        "default_role": row["default_role"],
        "group_claim": row["group_claim"] or "",
        "group_map": {str(k): int(v) for k, v in (row["group_map"] or {}).items()},
        "login_url": where["login_url"],
        "created_at": row["created_at"],
    }
    if row["kind"] == "oidc":
        out.update(
            issuer=config.get("issuer", ""),
            client_id=config.get("client_id", ""),
            scopes=config.get("scopes", DEFAULT_SCOPES),
            has_client_secret=bool(config.get("client_secret")),
            redirect_uri=where["redirect_uri"],
        )
    else:
        out.update(
            idp_entity_id=config.get("idp_entity_id", ""),
            idp_sso_url=config.get("idp_sso_url", ""),
            sp_entity_id=config.get("sp_entity_id") or where["metadata_url"],
            acs_url=where["acs_url"],
            metadata_url=where["metadata_url"],
            email_attribute=config.get("email_attribute", "email"),
            name_attribute=config.get("name_attribute", "name"),
        )
    return out
