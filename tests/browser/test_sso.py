"""Single sign-on in Chromium: on the sign-in page of a workspace, "Sign in with …" goes to a local
OpenID Connect provider, whose Approve button sends the browser back to the console, signed in as a
person created at that moment with their mapped group. The admin's SSO pages pass axe-core."""

from __future__ import annotations

import re
import uuid

import pytest

from helpline.domains.accounts import service as accounts
from helpline.domains.accounts.models import Role
from tests.oidc_provider import LocalOidcProvider


@pytest.fixture
def idp(site) -> LocalOidcProvider:
    """The site's local provider, as a fresh one would behave."""
    assert site.idp is not None
    site.idp.claims, site.idp.sign_with, site.idp.user = {}, "key", {}
    return site.idp


def test_sign_in_with_the_local_provider_and_the_admin_pages(site, new_page, idp):
    ws, slug = site.workspace("SSO Browser Test")
    admin = site.person(Role.admin, name="Ada SSO", workspace_id=ws)

    async def group(platform):
        async with platform.db.transaction() as uow:
            return await accounts.create_group(uow, ws, "Second line")

    second_line = site.run(group)
    with site.api(admin, workspace_id=ws) as api:
        r = api.post(
            "/sso-providers",
            json={
                "kind": "oidc",
                "name": "Local IdP",
                "slug": "local",
                "issuer": idp.issuer,
                "client_id": idp.client_id,
                "client_secret": idp.client_secret,
                "group_claim": "groups",
                "group_map": {"tier-2": second_line},
            },
        )
        assert r.status_code == 201, r.text
        provider_id = r.json()["id"]
    email = f"bree-{uuid.uuid4().hex[:6]}@example.test"
    idp.as_user("bree-subject", email, name="Bree Browser", groups=["tier-2"])

    tab = new_page()
    p = tab.page
    tab.go(f"/login?workspace={slug}")
    button = p.get_by_role("link", name="Sign in with Local IdP")
    button.wait_for()
    tab.check("sso-login")
    button.click()
    p.wait_for_url(re.compile(re.escape(idp.issuer) + r"/authorize"))
    assert p.get_by_role("heading", name=f"Sign in to Helpline as {email}?").is_visible()
    p.get_by_role("button", name="Approve").click()
    p.wait_for_url(re.compile(re.escape(site.url) + r"/inbox"))
    assert p.get_by_text("Bree Browser").first.is_visible()
    assert not tab.console_errors, tab.console_errors

    async def membership(platform):
        import sqlalchemy as sa

        async with platform.db.read() as conn:
            row = (
                await conn.execute(
                    sa.text(
                        "SELECT m.role, u.password_hash, (SELECT count(*) FROM group_members g "
                        "WHERE g.user_id = u.id AND g.group_id = :g) AS grouped "
                        "FROM users u JOIN memberships m ON m.user_id = u.id "
                        "WHERE u.email = :e AND m.workspace_id = :w"
                    ),
                    {"e": email, "w": ws, "g": second_line},
                )
            ).one()
        return tuple(row)

    assert site.run(membership) == ("agent", None, 1)

    # The admin's pages, checked by axe.
    admin_tab = new_page()
    admin_tab.sign_in(admin)
    admin_tab.go("/admin/sso")
    assert admin_tab.page.get_by_role("link", name="Local IdP").is_visible()
    admin_tab.check("sso-admin")
    admin_tab.go(f"/admin/sso/{provider_id}")
    assert admin_tab.page.get_by_text(f"/sso/{slug}/local/callback").is_visible()
    admin_tab.check("sso-provider")
    admin_tab.go("/admin/sso/new?kind=saml")
    admin_tab.check("sso-new-saml")
