"""``/admin/sso``: admins list, add, change and remove their workspace's identity providers, and turn
"agents sign in with single sign-on only" on or off. The forms are checked by the API's own bodies
and rules (``schemas``, ``providers.check_provider``)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from helpline.domains.accounts.admin_views import AdminPage
from helpline.domains.accounts.models import Group
from helpline.domains.accounts.principal import Principal
from helpline.domains.accounts.sso import providers, queries
from helpline.domains.accounts.sso.schemas import MAX_METADATA, SsoProviderCreate, SsoProviderUpdate
from helpline.errors import Invalid, Problem
from helpline.web.deps import PlatformDep
from helpline.web.forms import errors_of, flash_of
from helpline.web.pages import redirect
from helpline.web.templating import render
from helpline.web.types import IdPath

router = APIRouter(include_in_schema=False)
groups: sa.Table = Group.__table__
FLASHES = {"saved": "Saved.", "created": "Created.", "deleted": "Deleted."}
ROLES = [("agent", "Agent"), ("light-agent", "Light agent")]
_TEXT = ("name", "slug", "default_role", "group_claim", "issuer", "client_id", "scopes", "sp_entity_id")
_TEXT_SAML = ("email_attribute", "name_attribute")


async def _groups(conn: Any, actor: Principal) -> list[dict[str, Any]]:
    rows = await conn.execute(
        sa.select(groups.c.id, groups.c.name)
        .where(groups.c.workspace_id == actor.workspace_id)
        .order_by(groups.c.name)
    )
    return [dict(r) for r in rows.mappings()]


def _map_text(mapping: dict[str, Any], names: dict[int, str]) -> str:
    return "\n".join(f"{value} = {names.get(int(gid), gid)}" for value, gid in sorted(mapping.items()))


def _map_of(text: str, by_name: dict[str, int]) -> dict[str, int]:
    """``value = Group name`` lines (the claim value, then the group) as the API's ``group_map``."""
    out: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        value, sep, name = line.rpartition("=")
        if not sep or not value.strip() or not name.strip():
            raise Invalid("group_map", f"line {number}: write the claim value, =, then the group's name")
        if name.strip() not in by_name:
            raise Invalid("group_map", f"line {number}: no group named {name.strip()!r}")
        out[value.strip()] = by_name[name.strip()]
    return out


async def _form(request: Request) -> dict[str, Any]:
    form = await request.form()
    out: dict[str, Any] = {k: v for k, v in form.items() if isinstance(v, str)}
    upload = form.get("idp_metadata_file")
    if isinstance(upload, UploadFile) and upload.filename:
        data = await upload.read(MAX_METADATA + 1)
        if len(data) > MAX_METADATA:
            raise Invalid("idp_metadata", f"at most {MAX_METADATA // 1024} KB")
        try:
            out["idp_metadata"] = data.decode("utf-8")
        except UnicodeDecodeError:
            raise Invalid("idp_metadata", "the file is not UTF-8 text") from None
    await form.close()
    return out


def _body(kind: str, form: dict[str, Any], by_name: dict[str, int], *, create: bool) -> dict[str, Any]:
    """The API body a form stands for; blank secrets and metadata keep what is saved."""
    body: dict[str, Any] = {k: form.get(k, "").strip() for k in _TEXT}
    if kind == "saml":
        body.update({k: form.get(k, "").strip() for k in _TEXT_SAML})
        for k in ("issuer", "client_id", "scopes"):
            body.pop(k)
        if form.get("idp_metadata", "").strip() or create:
            body["idp_metadata"] = form.get("idp_metadata", "")
    else:
        body.pop("sp_entity_id")
        if form.get("client_secret") or create:
            body["client_secret"] = form.get("client_secret", "")
    body["enabled"] = form.get("enabled") == "on"
    body["group_map"] = _map_of(form.get("group_map", ""), by_name)
    if create:
        body["kind"] = kind
    return body


async def _list_page(
    request: Request,
    actor: Principal,
    platform: Any,
    *,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    async with platform.db.read() as conn:
        rows = await queries.list_providers(conn, actor)
        slug = await queries.workspace_slug(conn, actor.workspace_id)
        required = await providers.sso_required(conn, actor.workspace_id)
    base = platform.settings.base_url
    return render(
        request,
        "sso/admin.html",
        {
            "title": "Single sign-on",
            "items": [queries.shape(r, base, slug) for r in rows],
            "required": required,
            "errors": errors or {},
            "flash": flash_of(request, FLASHES),
            "section": "sso",
            "login_url": f"{base.rstrip('/')}/login?workspace={slug}",
        },
        status=status,
    )


async def _provider_page(
    request: Request,
    actor: Principal,
    platform: Any,
    *,
    kind: str,
    provider: dict[str, Any] | None,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    async with platform.db.read() as conn:
        group_rows = await _groups(conn, actor)
        slug = await queries.workspace_slug(conn, actor.workspace_id)
    names = {g["id"]: g["name"] for g in group_rows}
    shown = queries.shape(provider, platform.settings.base_url, slug) if provider else None
    if values is None:
        values = dict(shown or {"enabled": True, "default_role": "agent", "scopes": queries.DEFAULT_SCOPES})
        values["group_map"] = _map_text((shown or {}).get("group_map", {}), names)
        if shown and shown["kind"] == "saml":
            values["sp_entity_id"] = (provider or {}).get("config", {}).get("sp_entity_id", "")
    values["enabled"] = "on" if values.get("enabled") in (True, "on") else ""
    preview = queries.urls(platform.settings.base_url, slug, str(values.get("slug") or "<slug>"))
    return render(
        request,
        "sso/provider.html",
        {
            "title": shown["name"]
            if shown
            else ("New SAML provider" if kind == "saml" else "New OpenID Connect provider"),
            "kind": kind,
            "provider": shown,
            "values": values,
            "errors": errors or {},
            "roles": ROLES,
            "groups": group_rows,
            "preview": preview,
            "flash": flash_of(request, FLASHES),
            "section": "sso",
        },
        status=status,
    )


@router.get("/admin/sso")
async def sso_page(request: Request, actor: AdminPage, platform: PlatformDep) -> HTMLResponse:
    return await _list_page(request, actor, platform)


@router.post("/admin/sso/required")
async def set_required(request: Request, actor: AdminPage, platform: PlatformDep) -> Response:
    form = await request.form()
    try:
        async with platform.db.transaction() as uow:
            await providers.do_set_sso_required(uow, actor, form.get("sso_required") == "on")
    except Problem as exc:
        return await _list_page(request, actor, platform, errors=errors_of(exc), status=exc.status)
    return redirect("/admin/sso?done=saved")


@router.get("/admin/sso/new")
async def new_page(
    request: Request, actor: AdminPage, platform: PlatformDep, kind: str = "oidc"
) -> HTMLResponse:
    return await _provider_page(
        request, actor, platform, kind="saml" if kind == "saml" else "oidc", provider=None
    )


@router.post("/admin/sso/new")
async def create(request: Request, actor: AdminPage, platform: PlatformDep) -> Response:
    form: dict[str, Any] = {}
    kind = "oidc"
    try:
        form = await _form(request)
        kind = "saml" if form.get("kind") == "saml" else "oidc"
        async with platform.db.transaction() as uow:
            by_name = {g["name"]: g["id"] for g in await _groups(uow, actor)}
            body = SsoProviderCreate(**_body(kind, form, by_name, create=True))
            provider_id = await providers.do_create_provider(
                uow, actor, body, base_url=platform.settings.base_url
            )
    except (ValidationError, Problem) as exc:
        form.pop("client_secret", None)
        status = exc.status if isinstance(exc, Problem) else 422
        return await _provider_page(
            request,
            actor,
            platform,
            kind=kind,
            provider=None,
            values=form,
            errors=errors_of(exc),
            status=status,
        )
    return redirect(f"/admin/sso/{provider_id}?done=created")


@router.get("/admin/sso/{provider_id}")
async def provider_page(
    provider_id: IdPath, request: Request, actor: AdminPage, platform: PlatformDep
) -> HTMLResponse:
    async with platform.db.read() as conn:
        provider = await queries.access_provider(conn, actor, provider_id)
    return await _provider_page(request, actor, platform, kind=provider["kind"], provider=provider)


@router.post("/admin/sso/{provider_id}")
async def update(provider_id: IdPath, request: Request, actor: AdminPage, platform: PlatformDep) -> Response:
    async with platform.db.read() as conn:
        provider = await queries.access_provider(conn, actor, provider_id)
    form: dict[str, Any] = {}
    try:
        form = await _form(request)
        async with platform.db.transaction() as uow:
            by_name = {g["name"]: g["id"] for g in await _groups(uow, actor)}
            body = SsoProviderUpdate(**_body(provider["kind"], form, by_name, create=False))
            await providers.do_update_provider(
                uow, actor, provider_id, body, base_url=platform.settings.base_url
            )
    except (ValidationError, Problem) as exc:
        form.pop("client_secret", None)
        status = exc.status if isinstance(exc, Problem) else 422
        return await _provider_page(
            request,
            actor,
            platform,
            kind=provider["kind"],
            provider=provider,
            values=form,
            errors=errors_of(exc),
            status=status,
        )
    return redirect(f"/admin/sso/{provider_id}?done=saved")


@router.post("/admin/sso/{provider_id}/delete")
async def delete(provider_id: IdPath, request: Request, actor: AdminPage, platform: PlatformDep) -> Response:
    try:
        async with platform.db.transaction() as uow:
            await providers.do_delete_provider(uow, actor, provider_id)
    except Problem as exc:
        if exc.status == 404:
            raise
        async with platform.db.read() as conn:
            provider = await queries.access_provider(conn, actor, provider_id)
        return await _provider_page(
            request,
            actor,
            platform,
            kind=provider["kind"],
            provider=provider,
            errors={"_": exc.detail},
            status=exc.status,
        )
    return redirect("/admin/sso?done=deleted")
