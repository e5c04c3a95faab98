"""Configuring single sign-on, on both databases: the ``/api/v1/sso-providers`` API (admins of the
workspace only, another workspace's provider is 404, the client secret write-only, 422 problem+json
naming the field, changes in the audit log without secrets), the ``/admin/sso`` pages, and the
sign-in page's buttons."""

from __future__ import annotations

import json
import re
from typing import Any

import sqlalchemy as sa

from helpline.domains.accounts import service as accounts
from helpline.domains.accounts.models import Role, SsoProvider
from tests.conftest import field_error, problem
from tests.integration.sso.conftest import add_oidc, audit_of, browser, slug_of
from tests.integration.sso.saml_idp import LocalSamlIdp

providers_t = SsoProvider.__table__
SECRET = "client-secret-for-tests"


async def test_providers_api_keeps_the_secret_write_only_and_audits_without_it(ws, idp):
    admin = await ws.person(Role.admin)
    created = await add_oidc(ws, admin, idp, scopes="openid email groups")
    assert "client_secret" not in created and created["has_client_secret"] is True
    slug = await slug_of(ws)
    assert created["redirect_uri"] == f"http://127.0.0.1:8000/sso/{slug}/local/callback"
    assert created["login_url"] == f"http://127.0.0.1:8000/sso/{slug}/local/login"
    assert created["scopes"] == "openid email groups" and created["default_role"] == "agent"
    pid = created["id"]
    async with ws.client(admin) as api:
        listed = (await api.get("/sso-providers")).json()
        assert [p["id"] for p in listed] == [pid] and SECRET not in json.dumps(listed)
        r = await api.patch(
            f"/sso-providers/{pid}", json={"name": "Renamed", "client_secret": "a-new-secret"}
        )
        assert r.status_code == 200 and r.json()["name"] == "Renamed" and "a-new-secret" not in r.text
        r = await api.patch(f"/sso-providers/{pid}", json={"name": "Renamed again"})  # secret left out: kept
        assert r.status_code == 200
        async with ws.platform.db.read() as conn:
            config = (
                await conn.execute(sa.select(providers_t.c.config).where(providers_t.c.id == pid))
            ).scalar_one()
        assert config["client_secret"] == "a-new-secret"
        assert (await api.get(f"/sso-providers/{pid}")).json()["name"] == "Renamed again"
        assert (await api.delete(f"/sso-providers/{pid}")).status_code == 204
        assert (await api.get(f"/sso-providers/{pid}")).status_code == 404
    entries = await audit_of(ws.platform, ws.id, "sso.changed")
    assert [e["detail"]["action"] for e in entries] == ["created", "updated", "updated", "deleted"]
    assert entries[1]["detail"]["changed"] == ["client_secret", "name"]
    assert all(e["target_type"] == "sso_provider" and e["target_id"] == str(pid) for e in entries)
    assert all(e["actor_user_id"] == admin.user_id for e in entries)
    text = json.dumps([e["detail"] for e in entries])
    assert SECRET not in text and "a-new-secret" not in text


async def test_bad_settings_are_422_naming_the_field(make_ws, idp):
    ws, other = await make_ws(), await make_ws()
    admin = await ws.person(Role.admin)
    async with other.platform.db.transaction() as uow:
        foreign_group = await accounts.create_group(uow, other.id, "Theirs")
    oidc = {
        "kind": "oidc",
        "name": "IdP",
        "slug": "idp",
        "issuer": idp.issuer,
        "client_id": "c",
        "client_secret": "s",
    }
    cases: list[tuple[dict[str, Any], str]] = [
        ({**oidc, "default_role": "admin"}, "default_role"),
        ({**oidc, "issuer": "http://idp.example.com"}, "issuer"),
        ({**oidc, "issuer": "not a url"}, "issuer"),
        ({**oidc, "issuer": "https://idp.example.com/?x=1"}, "issuer"),
        ({k: v for k, v in oidc.items() if k != "client_secret"}, "client_secret"),
        ({k: v for k, v in oidc.items() if k != "client_id"}, "client_id"),
        ({**oidc, "scopes": "email profile"}, "scopes"),
        ({**oidc, "slug": "Not A Slug!"}, "slug"),
        ({**oidc, "name": "   "}, "name"),
        ({**oidc, "group_claim": "groups", "group_map": {"x": foreign_group}}, "group_map"),
        ({**oidc, "group_map": {"x": foreign_group}}, "group_claim"),
        ({**oidc, "idp_metadata": "<x/>"}, "idp_metadata"),
        ({**oidc, "kind": "ldap"}, "kind"),
        ({**oidc, "surprise": 1}, "surprise"),
        ({"kind": "saml", "name": "S", "slug": "s", "idp_metadata": "<x/>"}, "idp_metadata"),
        ({"kind": "saml", "name": "S", "slug": "s", "idp_metadata": "not xml at all"}, "idp_metadata"),
        ({"kind": "saml", "name": "S", "slug": "s"}, "idp_metadata"),
        ({"kind": "saml", "name": "S", "slug": "s", "issuer": idp.issuer}, "issuer"),
    ]
    async with ws.client(admin) as api:
        for body, field in cases:
            r = await api.post("/sso-providers", json=body)
            assert problem(r, 422)["errors"][0]["field"] == field, (field, r.text)
        assert (await api.post("/sso-providers", json=oidc)).status_code == 201
        assert problem(await api.post("/sso-providers", json=oidc), 409)["errors"][0]["field"] == "slug"
    assert len(await audit_of(ws.platform, ws.id, "sso.changed")) == 1


async def test_only_admins_of_the_workspace_see_or_change_its_providers(make_ws, idp):
    a, b = await make_ws(), await make_ws()
    a_admin, a_agent, b_admin = (
        await a.person(Role.admin),
        await a.person(Role.agent),
        await b.person(Role.admin),
    )
    provider = await add_oidc(a, a_admin, idp)
    pid = provider["id"]
    async with a.client(a_agent) as api:
        assert problem(await api.get("/sso-providers"), 403)
        assert problem(await api.get(f"/sso-providers/{pid}"), 403)
        assert problem(await api.post("/sso-providers", json={"kind": "oidc", "name": "x", "slug": "x"}), 403)
    async with b.client(b_admin) as api:
        assert (await api.get("/sso-providers")).json() == []
        assert problem(await api.get(f"/sso-providers/{pid}"), 404)
        assert problem(await api.patch(f"/sso-providers/{pid}", json={"name": "mine now"}), 404)
        assert problem(await api.delete(f"/sso-providers/{pid}"), 404)
        # The same slug is free in another workspace.
        again = await api.post(
            "/sso-providers",
            json={
                "kind": "oidc",
                "name": "B",
                "slug": "local",
                "issuer": idp.issuer,
                "client_id": "c",
                "client_secret": "s",
            },
        )
        assert again.status_code == 201
    async with a.client(a_admin) as api:
        assert (await api.get(f"/sso-providers/{pid}")).json()["name"] == "Local IdP"


async def test_admin_pages_create_edit_and_remove_providers(ws, idp, console, tmp_path):
    _, admin = await console(Role.admin)
    _, agent = await console(Role.agent)
    async with ws.platform.db.transaction() as uow:
        billing = await accounts.create_group(uow, ws.id, "Billing")
    assert (await agent.get("/admin/sso")).status_code == 403
    page = await admin.get("/admin/sso")
    assert page.status_code == 200 and "No identity provider yet" in page.text

    form = {
        "kind": "oidc",
        "name": "Okta",
        "slug": "okta",
        "enabled": "on",
        "issuer": idp.issuer,
        "client_id": "helpline",
        "client_secret": SECRET,
        "scopes": "openid email profile",
        "default_role": "light-agent",
        "group_claim": "groups",
        "group_map": "hl-billing = Billing\n",
    }
    bad = await admin.post("/admin/sso/new", {**form, "issuer": "http://idp.example.com"})
    assert bad.status_code == 422 and "https://" in field_error(bad.text, "issuer") and SECRET not in bad.text
    bad = await admin.post("/admin/sso/new", {**form, "group_map": "hl-billing = Nope"})
    assert bad.status_code == 422 and "no group named" in field_error(bad.text, "group_map")
    r = await admin.post("/admin/sso/new", form)
    assert r.status_code == 303, r.text
    path = r.headers["location"].split("?")[0]
    shown = await admin.get(path)
    assert shown.status_code == 200 and SECRET not in shown.text
    slug = await slug_of(ws)
    assert f"/sso/{slug}/okta/callback" in shown.text and "hl-billing = Billing" in shown.text
    pid = int(path.rsplit("/", 1)[1])
    async with ws.platform.db.read() as conn:
        row = (await conn.execute(sa.select(providers_t).where(providers_t.c.id == pid))).mappings().one()
    assert row["group_map"] == {"hl-billing": billing} and row["default_role"] == "light-agent"

    # Saved with the secret box left blank: the secret stays.
    r = await admin.post(path, {**form, "client_secret": "", "name": "Okta SSO"})
    assert r.status_code == 303, r.text
    async with ws.platform.db.read() as conn:
        row = (await conn.execute(sa.select(providers_t).where(providers_t.c.id == pid))).mappings().one()
    assert row["name"] == "Okta SSO" and row["config"]["client_secret"] == SECRET

    # A SAML provider from an uploaded metadata file.
    saml = LocalSamlIdp(tmp_path / "idp")
    r = await admin.client.post(
        "/admin/sso/new",
        data={
            "csrf_token": admin.csrf,
            "kind": "saml",
            "name": "Corp",
            "slug": "corp",
            "enabled": "on",
            "default_role": "agent",
        },
        files={"idp_metadata_file": ("idp.xml", saml.metadata().encode(), "application/xml")},
    )
    assert r.status_code == 303, r.text
    saml_page = await admin.get(r.headers["location"])
    assert f"/sso/{slug}/corp/acs" in saml_page.text and saml.entity_id in saml_page.text

    r = await admin.post(f"/admin/sso/{pid}/delete")
    assert r.status_code == 303
    listed = await admin.get("/admin/sso")
    assert "Okta SSO" not in listed.text and "Corp" in listed.text
    assert (await admin.get(f"/admin/sso/{pid}")).status_code == 404


async def test_the_sign_in_page_shows_the_workspaces_enabled_providers(make_ws, idp):
    a, b = await make_ws(), await make_ws()
    a_admin, b_admin = await a.person(Role.admin), await b.person(Role.admin)
    await add_oidc(a, a_admin, idp, name="Acme Okta")
    off = await add_oidc(a, a_admin, idp, name="Old One", slug="old")
    await add_oidc(b, b_admin, idp, name="Bee Azure")
    async with a.client(a_admin) as api:
        await api.patch(f"/sso-providers/{off['id']}", json={"enabled": False})
    a_slug = await slug_of(a)
    async with browser(a) as anon:
        login = await anon.get(f"/login?workspace={a_slug}")
        assert login.status_code == 200 and f'hx-get="/sso/buttons?workspace={a_slug}' in login.text
        assert f'href="/sso?workspace={a_slug}' in login.text  # without JavaScript
        fragment = await anon.get(f"/sso/buttons?workspace={a_slug}&next=/tickets/5")
        assert "Sign in with Acme Okta" in fragment.text
        assert f'href="/sso/{a_slug}/local/login?next=/tickets/5"' in fragment.text
        assert "Old One" not in fragment.text and "Bee Azure" not in fragment.text
        page = await anon.get(f"/sso?workspace={a_slug}")
        assert "Sign in with Acme Okta" in page.text
        assert re.search(r"Sign in with", (await anon.get("/sso/buttons?workspace=nope")).text) is None
        assert (await anon.get(f"/sso/{a_slug}/old/login")).status_code == 404
