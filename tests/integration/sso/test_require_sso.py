"""A workspace can require single sign-on for agents, on both databases: then an agent's or light
agent's password (API, console page, portal page) no longer signs them in, while an admin's does
(break-glass) and a customer's portal sign-in is untouched; the switch needs an enabled provider and
keeps one."""

from __future__ import annotations

import re
from typing import Any

import httpx
import sqlalchemy as sa

from helpline.domains.accounts.models import Role
from helpline.domains.accounts.sso import service as sso_service
from tests.conftest import PASSWORD, problem
from tests.integration.sso.conftest import add_oidc, audit_of, browser, me, sign_in, slug_of

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


async def _api_sign_in(ws: Any, email: str) -> tuple[httpx.AsyncClient, httpx.Response]:
    client = browser(ws)
    r = await client.post("/api/v1/session", json={"email": email, "password": PASSWORD})
    return client, r


async def _page_sign_in(ws: Any, email: str, path: str = "/login") -> httpx.Response:
    async with browser(ws) as client:
        page = await client.get(path)
        found = TOKEN.search(page.text)
        assert found, page.text
        return await client.post(
            path, data={"email": email, "password": PASSWORD, "csrf_token": found.group(1)}
        )


async def _set_required(ws: Any, admin_client: httpx.AsyncClient, csrf: str, on: bool) -> httpx.Response:
    return await admin_client.post(
        "/admin/sso/required", data={"csrf_token": csrf, **({"sso_required": "on"} if on else {})}
    )


async def test_required_sso_refuses_agents_passwords_but_not_admins_or_customers(make_ws, idp, open_browsers):
    ws = await make_ws()
    admin = await ws.person(Role.admin, password=PASSWORD)
    agent = await ws.person(Role.agent, password=PASSWORD)
    light = await ws.person(Role.light_agent, password=PASSWORD)
    customer = await ws.person(Role.customer, password=PASSWORD)
    await add_oidc(ws, admin, idp)
    slug = await slug_of(ws)
    admin_client, r = await _api_sign_in(ws, admin.email)
    open_browsers.append(admin_client)
    r = await _set_required(ws, admin_client, r.json()["csrf_token"], True)
    assert r.status_code == 303, r.text
    changed = await audit_of(ws.platform, ws.id, "sso.changed")
    assert (
        changed[-1]["detail"] == {"action": "required", "sso_required": True}
        and changed[-1]["target_type"] == "workspace"
    )

    for person in (agent, light):
        client, r = await _api_sign_in(ws, person.email)
        open_browsers.append(client)
        body = problem(r, 403)
        assert "single sign-on" in body["detail"] and "helpline_session" not in r.cookies
        page = await _page_sign_in(ws, person.email)
        assert (
            page.status_code == 403
            and "single sign-on" in page.text
            and "helpline_session" not in page.cookies
        )
        portal = await _page_sign_in(ws, person.email, f"/portal/{slug}/login")
        assert portal.status_code == 403 and "helpline_session" not in portal.cookies

    # Admins keep their password (break-glass); customers are not the staff's business.
    client, r = await _api_sign_in(ws, admin.email)
    open_browsers.append(client)
    assert r.status_code == 200
    assert (await _page_sign_in(ws, admin.email)).status_code == 303
    portal = await _page_sign_in(ws, customer.email, f"/portal/{slug}/login")
    assert portal.status_code == 303 and "helpline_session" in portal.cookies

    # The agent signs in with single sign-on instead.
    idp.as_user("agent-subject", agent.email)
    sso_client = browser(ws)
    open_browsers.append(sso_client)
    assert (await sign_in(sso_client, slug)).status_code == 303
    assert (await me(sso_client)).json()["id"] == agent.user_id

    # Turned off: passwords work again.
    token = TOKEN.search((await admin_client.get("/admin/sso")).text)
    assert token
    assert (await _set_required(ws, admin_client, token.group(1), False)).status_code == 303
    client, r = await _api_sign_in(ws, agent.email)
    open_browsers.append(client)
    assert r.status_code == 200


async def test_the_switch_needs_an_enabled_provider_and_keeps_one(make_ws, idp, open_browsers):
    ws = await make_ws()
    admin = await ws.person(Role.admin, password=PASSWORD)
    admin_client, r = await _api_sign_in(ws, admin.email)
    open_browsers.append(admin_client)
    csrf = r.json()["csrf_token"]
    refused = await _set_required(ws, admin_client, csrf, True)
    assert refused.status_code == 422 and "add and enable an identity provider first" in refused.text
    async with ws.platform.db.read() as conn:
        assert await sso_service.password_allowed(conn, ws.id, "agent")

    provider = await add_oidc(ws, admin, idp)
    assert (await _set_required(ws, admin_client, csrf, True)).status_code == 303
    async with ws.platform.db.read() as conn:
        allowed = {
            role: await sso_service.password_allowed(conn, ws.id, role)
            for role in ("admin", "agent", "light-agent", "customer")
        }
    assert allowed == {"admin": True, "agent": False, "light-agent": False, "customer": True}

    async with ws.client(admin) as api:
        r = await api.patch(f"/sso-providers/{provider['id']}", json={"enabled": False})
        assert problem(r, 422)["errors"][0]["field"] == "enabled"
        r = await api.delete(f"/sso-providers/{provider['id']}")
        assert problem(r, 409)["errors"][0]["field"] == "sso_required"
        # Another enabled provider makes the first one free to go.
        second = await api.post(
            "/sso-providers",
            json={
                "kind": "oidc",
                "name": "Second",
                "slug": "second",
                "issuer": idp.issuer,
                "client_id": "c",
                "client_secret": "s",
            },
        )
        assert second.status_code == 201, second.text
        assert (await api.delete(f"/sso-providers/{provider['id']}")).status_code == 204

    # Another workspace is not affected by this one's switch.
    other = await make_ws()
    async with other.platform.db.read() as conn:
        assert await sso_service.password_allowed(conn, other.id, "agent")
        settings = (
            await conn.execute(sa.text("SELECT settings FROM workspaces WHERE id = :i"), {"i": ws.id})
        ).scalar()
    assert "sso_required" in str(settings)
