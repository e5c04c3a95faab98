"""A workspace's identity providers: the admins' checks and writes (``check_provider``,
``do_create_provider``, ``do_update_provider``, ``do_delete_provider``) and the workspace's "require
SSO for agents" switch. Reads are in :mod:`.queries`.

Only admins of the workspace change anything here; a provider of another workspace answers 404 like
one that does not exist. Every change is recorded in the audit log (``sso.changed``) without secrets.
The OIDC client secret is write-only: reads say only whether one is set.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.db.base import utcnow
from helpline.domains.accounts import audit
from helpline.domains.accounts.models import Group, Role, SsoProvider, Workspace
from helpline.domains.accounts.principal import Principal
from helpline.domains.accounts.sso import oidc, saml
from helpline.domains.accounts.sso.queries import (
    DEFAULT_SCOPES,
    access_provider,
    require_admin,
    urls,
    workspace_slug,
)
from helpline.domains.accounts.sso.schemas import SsoProviderBase, SsoProviderCreate
from helpline.errors import Conflict, Invalid, NotFound
from helpline.platform.db import UnitOfWork

providers: sa.Table = SsoProvider.__table__
workspaces: sa.Table = Workspace.__table__
groups: sa.Table = Group.__table__

KINDS = ("oidc", "saml")
#: Roles single sign-on may give a person it creates. Never admin: an identity provider's say-so is
#: not enough to hand over the workspace.
JIT_ROLES = (Role.agent.value, Role.light_agent.value)
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
_SCOPE = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")  # RFC 6749 section 3.3 scope-token
#: Fields that may be sent for the other kind only.
_FOREIGN = {
    "oidc": ("idp_metadata", "sp_entity_id", "email_attribute", "name_attribute"),
    "saml": ("issuer", "client_id", "client_secret", "scopes"),
}
SSO_REQUIRED = "sso_required"


# --- checks ----------------------------------------------------------------------------------------


async def _check_group_map(
    conn: AsyncConnection | UnitOfWork, workspace_id: int, mapping: dict[str, int]
) -> None:
    for value in mapping:
        if not value.strip():
            raise Invalid("group_map", "a claim value must not be empty")
    ids = sorted(set(mapping.values()))
    if not ids:
        return
    found = {
        r[0]
        for r in await conn.execute(
            sa.select(groups.c.id).where(groups.c.workspace_id == workspace_id, groups.c.id.in_(ids))
        )
    }
    missing = [i for i in ids if i not in found]
    if missing:
        raise Invalid("group_map", f"not groups of this workspace: {missing}")


def _check_oidc(config: dict[str, Any]) -> dict[str, Any]:
    issuer = str(config.get("issuer") or "").strip()
    if not issuer:
        raise Invalid("issuer", "enter the provider's issuer URL, e.g. https://login.example.com")
    why = oidc.url_problem(issuer)
    if why:
        raise Invalid("issuer", why)
    if "?" in issuer:
        raise Invalid("issuer", "an issuer has no query (?…)")
    client_id = str(config.get("client_id") or "").strip()
    if not client_id:
        raise Invalid("client_id", "enter the client id the provider gave Helpline")
    secret = str(config.get("client_secret") or "")
    if not secret:
        raise Invalid("client_secret", "enter the client secret the provider gave Helpline")
    scopes = str(config.get("scopes") or DEFAULT_SCOPES).split()
    for scope in scopes:
        if not _SCOPE.match(scope):
            raise Invalid("scopes", f"{scope!r} is not a scope")
    if "openid" not in scopes:
        raise Invalid("scopes", "must include openid")
    return {
        "issuer": issuer,  # exactly as the provider names itself: id tokens must carry this very string
        "client_id": client_id,
        "client_secret": secret,
        "scopes": " ".join(dict.fromkeys(scopes)),
    }


def _check_saml(config: dict[str, Any], default_entity_id: str) -> dict[str, Any]:
    xml = str(config.get("idp_metadata") or "").strip()
    if not xml:
        raise Invalid("idp_metadata", "paste or upload the identity provider's metadata XML")
    idp = saml.check_metadata(xml)
    entity_id = str(config.get("sp_entity_id") or "").strip() or default_entity_id
    if any(c.isspace() for c in entity_id) or ":" not in entity_id:
        raise Invalid(
            "sp_entity_id", "an entity id is a URI without spaces, e.g. https://help.example.com/sso"
        )
    email_attr = str(config.get("email_attribute") or "").strip() or "email"
    name_attr = str(config.get("name_attribute") or "").strip() or "name"
    return {
        "idp_metadata": xml,
        "idp_entity_id": idp["entity_id"],
        "idp_sso_url": idp["sso_url"],
        "sp_entity_id": entity_id,
        "email_attribute": email_attr,
        "name_attribute": name_attr,
    }


async def check_provider(
    conn: AsyncConnection | UnitOfWork,
    actor: Principal,
    body: SsoProviderBase,
    *,
    current: dict[str, Any] | None,
    base_url: str,
) -> dict[str, Any]:
    """The provider's column values after ``body`` (a create, or an update of ``current``), checked;
    :class:`Invalid` (422) naming the field at fault, :class:`Conflict` for a slug in use."""
    require_admin(actor)
    sent = body.model_dump(exclude_unset=True)
    kind = sent.pop("kind", None) if current is None else current["kind"]
    if kind not in KINDS:
        raise Invalid("kind", "oidc or saml")
    for key in _FOREIGN[kind]:
        if sent.get(key) is not None:
            raise Invalid(key, f"not a setting of an {kind.upper()} provider")
    row: dict[str, Any] = {
        "kind": kind,
        "slug": current["slug"] if current else "",
        "name": current["name"] if current else "",
        "enabled": current["enabled"] if current else True,
        "default_role": current["default_role"] if current else Role.agent.value,
        "group_claim": current["group_claim"] if current else "",
        "group_map": dict(current["group_map"] or {}) if current else {},
    }
    config = dict(current["config"] or {}) if current else {}
    for key, value in sent.items():
        if value is None:
            continue  # left as it was (write-only fields are never sent back, so None keeps them)
        if key in row:
            row[key] = value
        else:
            config[key] = value
    row["slug"] = str(row["slug"]).strip().lower()
    if not _SLUG.match(row["slug"]):
        raise Invalid("slug", "lower-case letters, digits and dashes, e.g. okta")
    row["name"] = str(row["name"]).strip()
    if not row["name"]:
        raise Invalid("name", "enter a name, shown on the sign-in button")
    if row["default_role"] not in JIT_ROLES:
        raise Invalid("default_role", "agent or light-agent (single sign-on never makes admins)")
    row["group_claim"] = str(row["group_claim"]).strip()
    if row["group_map"] and not row["group_claim"]:
        raise Invalid("group_claim", "name the claim or attribute that lists groups, e.g. groups")
    await _check_group_map(conn, actor.workspace_id, row["group_map"])
    dup = (
        await conn.execute(
            sa.select(providers.c.id).where(
                providers.c.workspace_id == actor.workspace_id,
                providers.c.slug == row["slug"],
                providers.c.id != (current["id"] if current else 0),
            )
        )
    ).first()
    if dup:
        raise Conflict(
            f"another provider is called {row['slug']!r}", errors=[{"field": "slug", "message": "taken"}]
        )
    if kind == "oidc":
        row["config"] = _check_oidc(config)
    else:
        ws_slug = await workspace_slug(conn, actor.workspace_id)
        row["config"] = _check_saml(config, urls(base_url, ws_slug, row["slug"])["metadata_url"])
    return row


def _changed(before: dict[str, Any] | None, after: dict[str, Any]) -> list[str]:
    """Names of what changed (never values: a secret must not reach the audit log)."""
    b_cfg = (before or {}).get("config") or {}
    names = [k for k in after if k != "config" and (before or {}).get(k) != after[k]]
    names += [k for k in after["config"] if b_cfg.get(k) != after["config"][k]]
    return sorted(names)


async def _sso_required(conn: AsyncConnection | UnitOfWork, workspace_id: int) -> bool:
    row = (
        await conn.execute(sa.select(workspaces.c.settings).where(workspaces.c.id == workspace_id))
    ).first()
    return bool(row and (row[0] or {}).get(SSO_REQUIRED) is True)


async def _others_enabled(uow: UnitOfWork, workspace_id: int, provider_id: int) -> bool:
    row = await uow.execute(
        sa.select(providers.c.id).where(
            providers.c.workspace_id == workspace_id,
            providers.c.enabled.is_(True),
            providers.c.id != provider_id,
        )
    )
    return row.first() is not None


# --- writes ----------------------------------------------------------------------------------------


async def do_create_provider(
    uow: UnitOfWork, actor: Principal, body: SsoProviderCreate, *, base_url: str
) -> int:
    row = await check_provider(uow, actor, body, current=None, base_url=base_url)
    provider_id = int(
        (
            await uow.execute(
                providers.insert()
                .values(workspace_id=actor.workspace_id, created_at=utcnow(), **row)
                .returning(providers.c.id)
            )
        ).scalar_one()
    )
    await audit.record(
        uow,
        "sso.changed",
        workspace_id=actor.workspace_id,
        actor=actor,
        target_type="sso_provider",
        target_id=provider_id,
        detail={
            "action": "created",
            "kind": row["kind"],
            "slug": row["slug"],
            "changed": _changed(None, row),
        },
    )
    return provider_id


async def do_update_provider(
    uow: UnitOfWork, actor: Principal, provider_id: int, body: SsoProviderBase, *, base_url: str
) -> None:
    current = await access_provider(uow, actor, provider_id)
    row = await check_provider(uow, actor, body, current=current, base_url=base_url)
    if (
        current["enabled"]
        and not row["enabled"]
        and await _sso_required(uow, actor.workspace_id)
        and not await _others_enabled(uow, actor.workspace_id, provider_id)
    ):
        raise Invalid(
            "enabled", "agents must sign in with single sign-on: turn that off before this provider"
        )
    changed = _changed(current, row)
    if not changed:
        return
    await uow.execute(providers.update().where(providers.c.id == provider_id).values(**row))
    await audit.record(
        uow,
        "sso.changed",
        workspace_id=actor.workspace_id,
        actor=actor,
        target_type="sso_provider",
        target_id=provider_id,
        detail={"action": "updated", "kind": row["kind"], "slug": row["slug"], "changed": changed},
    )


async def do_delete_provider(uow: UnitOfWork, actor: Principal, provider_id: int) -> None:
    """Remove a provider and every link of a person to it (their accounts stay)."""
    current = await access_provider(uow, actor, provider_id)
    if await _sso_required(uow, actor.workspace_id) and not await _others_enabled(
        uow, actor.workspace_id, provider_id
    ):
        raise Conflict(
            "agents must sign in with single sign-on here: turn that off before removing the last provider",
            errors=[{"field": "sso_required", "message": "on"}],
        )
    await uow.execute(providers.delete().where(providers.c.id == provider_id))
    await audit.record(
        uow,
        "sso.changed",
        workspace_id=actor.workspace_id,
        actor=actor,
        target_type="sso_provider",
        target_id=provider_id,
        detail={"action": "deleted", "kind": current["kind"], "slug": current["slug"]},
    )


async def sso_required(conn: AsyncConnection | UnitOfWork, workspace_id: int) -> bool:
    """Whether agents and light agents of the workspace must sign in with single sign-on."""
    return await _sso_required(conn, workspace_id)


async def do_set_sso_required(uow: UnitOfWork, actor: Principal, required: bool) -> None:
    """Turn "agents sign in with SSO only" on or off. On needs an enabled provider, so that nobody is
    locked out by a switch with no way in behind it; admins keep their password either way."""
    require_admin(actor)
    row = (
        await uow.execute(
            sa.select(workspaces.c.settings).where(workspaces.c.id == actor.workspace_id).with_for_update()
        )
    ).first()
    if row is None:
        raise NotFound("workspace not found")
    settings = dict(row[0] or {})
    if bool(settings.get(SSO_REQUIRED)) == required:
        return
    if required and not await _others_enabled(uow, actor.workspace_id, 0):
        raise Invalid("sso_required", "add and enable an identity provider first")
    settings[SSO_REQUIRED] = required
    await uow.execute(
        workspaces.update().where(workspaces.c.id == actor.workspace_id).values(settings=settings)
    )
    await audit.record(
        uow,
        "sso.changed",
        workspace_id=actor.workspace_id,
        actor=actor,
        target_type="workspace",
        target_id=actor.workspace_id,
        detail={"action": "required" if required else "optional", SSO_REQUIRED: required},
    )
