"""Fixtures of the single sign-on tests: a local OpenID Connect provider allowed through the egress
guard, workspaces with a provider, and a browser-like client that goes through a whole sign-in."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import sqlalchemy as sa

from helpline.domains.accounts.models import (
    AuditEntry,
    GroupMember,
    Membership,
    Role,
    SsoIdentity,
    User,
    WebSession,
)
from helpline.settings import Settings
from tests.conftest import WS, Person
from tests.oidc_provider import LocalOidcProvider, local_oidc_provider

users_t, members_t, group_members_t = User.__table__, Membership.__table__, GroupMember.__table__
identities_t, sessions_t, audit_t = SsoIdentity.__table__, WebSession.__table__, AuditEntry.__table__


def allow_egress(settings: Settings, *hostports: str) -> Settings:
    """Let Helpline reach the local provider: the egress guard (``helpline.platform.egress``) refuses
    loopback addresses unless ``HELPLINE_EGRESS_ALLOW`` names them, as an operator would."""
    return settings.model_copy(update={"egress_allow": ",".join(hostports)})


@pytest.fixture
def idp() -> Iterator[LocalOidcProvider]:
    with local_oidc_provider() as provider:
        yield provider


@pytest.fixture
def settings(settings: Settings, idp: LocalOidcProvider) -> Settings:
    return allow_egress(settings, idp.hostport)


async def add_oidc(ws: WS, admin: Person, idp: LocalOidcProvider, **extra: Any) -> dict[str, Any]:
    """An OIDC provider of ``ws`` pointing at ``idp``, created through the API by ``admin``."""
    body = {
        "kind": "oidc",
        "name": "Local IdP",
        "slug": "local",
        "issuer": idp.issuer,
        "client_id": idp.client_id,
        "client_secret": idp.client_secret,
        **extra,
    }
    async with ws.client(admin) as api:
        r = await api.post("/sso-providers", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def slug_of(ws: WS) -> str:
    async with ws.platform.db.read() as conn:
        return str(
            (await conn.execute(sa.text("SELECT slug FROM workspaces WHERE id = :i"), {"i": ws.id})).scalar()
        )


def browser(ws: WS) -> httpx.AsyncClient:
    """A client of the app that keeps cookies, like a browser."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=ws.app), base_url="http://testserver")


@pytest.fixture
async def open_browsers() -> AsyncIterator[list[httpx.AsyncClient]]:
    clients: list[httpx.AsyncClient] = []
    yield clients
    for c in clients:
        await c.aclose()


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


async def start(client: httpx.AsyncClient, ws_slug: str, provider_slug: str = "local", next: str = "") -> str:
    """Click "Sign in with …": the provider's authorization URL Helpline redirects to."""
    r = await client.get(f"/sso/{ws_slug}/{provider_slug}/login" + (f"?next={next}" if next else ""))
    assert r.status_code == 303, r.text
    return str(r.headers["location"])


async def approve(authorize_url: str, change: dict[str, str] | None = None) -> str:
    """Open the provider's page and press Approve: the callback URL it redirects to."""
    async with httpx.AsyncClient() as out:
        page = await out.get(authorize_url)
        assert page.status_code == 200, page.text
        form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text))
        form = {k: v.replace("&amp;", "&") for k, v in form.items()}
        form.update(change or {})
        r = await out.post(authorize_url.split("?")[0], data=form)
    assert r.status_code == 302, r.text
    return str(r.headers["location"])


async def sign_in(client: httpx.AsyncClient, ws_slug: str, provider_slug: str = "local") -> httpx.Response:
    """A whole sign-in through the local provider: Helpline's answer to the callback."""
    callback = await approve(await start(client, ws_slug, provider_slug))
    return await client.get(path_of(callback))


async def me(client: httpx.AsyncClient) -> httpx.Response:
    return await client.get("/api/v1/me")


async def snapshot(platform: Any, email: str) -> dict[str, Any]:
    """Everything of a person single sign-on must not change when it refuses them."""
    async with platform.db.read() as conn:
        user = (await conn.execute(sa.select(users_t).where(users_t.c.email == email))).mappings().one()
        uid = user["id"]
        return {
            "user": dict(user),
            "memberships": [
                dict(r)
                for r in (
                    await conn.execute(
                        sa.select(members_t).where(members_t.c.user_id == uid).order_by(members_t.c.id)
                    )
                ).mappings()
            ],
            "groups": sorted(
                r[0]
                for r in await conn.execute(
                    sa.select(group_members_t.c.group_id).where(group_members_t.c.user_id == uid)
                )
            ),
            "identities": [
                dict(r)
                for r in (
                    await conn.execute(sa.select(identities_t).where(identities_t.c.user_id == uid))
                ).mappings()
            ],
            "sessions": (
                await conn.execute(sa.select(sa.func.count()).where(sessions_t.c.user_id == uid))
            ).scalar_one(),
        }


async def audit_of(platform: Any, workspace_id: int, action: str) -> list[dict[str, Any]]:
    async with platform.db.read() as conn:
        rows = await conn.execute(
            sa.select(audit_t)
            .where(audit_t.c.workspace_id == workspace_id, audit_t.c.action == action)
            .order_by(audit_t.c.id)
        )
        return [dict(r) for r in rows.mappings()]


async def member_of(platform: Any, email: str, workspace_id: int) -> dict[str, Any] | None:
    async with platform.db.read() as conn:
        row = (
            (
                await conn.execute(
                    sa.select(
                        users_t.c.id,
                        users_t.c.name,
                        users_t.c.password_hash,
                        members_t.c.role,
                        members_t.c.is_active,
                    )
                    .join(members_t, members_t.c.user_id == users_t.c.id)
                    .where(users_t.c.email == email, members_t.c.workspace_id == workspace_id)
                )
            )
            .mappings()
            .first()
        )
        return None if row is None else dict(row)


async def groups_of(platform: Any, user_id: int) -> set[int]:
    async with platform.db.read() as conn:
        return {
            int(r[0])
            for r in await conn.execute(
                sa.select(group_members_t.c.group_id).where(group_members_t.c.user_id == user_id)
            )
        }


_ = Role
