"""The admin console in a browser: an admin sets up people, groups, a custom field, a canned response,
an API token and the workspace's brand; other staff get a 403 page. Every page passes axe-core, and
markup typed into names and titles shows as text and never runs."""

from __future__ import annotations

import re
import uuid

import httpx

from helpline.domains.accounts import service as accounts
from helpline.domains.accounts.models import Role

XSS = '<img src=x onerror="window.__xss=1">'
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4"
    b"\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)


def own_workspace(site) -> int:
    """A workspace of its own, so the brand set here does not colour other tests' pages."""

    async def make(platform):
        async with platform.db.transaction() as uow:
            return await accounts.create_workspace(uow, "Brand Test", f"brand-{uuid.uuid4().hex[:8]}")

    return site.run(make)


def api_token(site, person, workspace_id: int) -> str:
    async def make(platform):
        async with platform.db.transaction() as uow:
            return (await accounts.create_token(uow, workspace_id, person.user_id, name="test"))[1]

    return site.run(make)


def test_admin_sets_up_the_workspace(site, new_page):
    ws = own_workspace(site)
    admin = site.person(Role.admin, name="Ada Admin", workspace_id=ws)
    token = api_token(site, admin, ws)
    # a ticket with a hostile tag, for the tags page
    r = httpx.post(
        f"{site.url}/api/v1/tickets",
        headers={"Authorization": f"Bearer {token}"},
        timeout=15,
        json={
            "subject": "Tagged",
            "body": "x",
            "requester": {"email": "t@x.test"},
            "tags": ["<svg/onload=window.__xss=1>", "vip"],
        },
    )
    assert r.status_code == 201, r.text
    tab = new_page()
    tab.sign_in(admin)
    p = tab.page
    tab.go("/admin")
    assert p.get_by_role("heading", name="Admin", exact=True).is_visible()
    tab.check("admin-index")

    # groups
    tab.go("/admin/groups")
    p.locator("#f-name").fill("Tier 2 " + XSS)
    p.get_by_role("button", name="Create").click()
    assert p.get_by_role("status").inner_text() == "Created."
    assert p.get_by_role("link", name="Tier 2 " + XSS).is_visible()
    tab.check("admin-groups")

    # people: an agent with that group
    tab.go("/admin/users")
    p.locator("#f-name").fill("Gus Agent")
    p.locator("#f-email").fill(f"gus-{uuid.uuid4().hex[:6]}@example.test")
    p.locator("#f-role").select_option("agent")
    p.locator("#f-password").fill("a long enough password")
    p.get_by_label("Tier 2 " + XSS).check()
    p.get_by_role("button", name="Add").click()
    row = p.get_by_role("row", name=re.compile("Gus Agent"))
    assert "agent" in row.inner_text() and "Tier 2 " + XSS in row.inner_text()
    tab.check("admin-users")
    p.get_by_role("link", name="Gus Agent").click()
    tab.check("admin-user")

    # a custom field with markup in its label
    tab.go("/admin/fields")
    p.locator("#f-label").fill("Plan " + XSS)
    p.locator("#f-key").fill("plan")
    p.locator("#f-type").select_option("dropdown")
    p.locator("#f-options").fill("Free\nPro")
    p.get_by_label("Customers see and fill it on the portal").check()
    p.get_by_role("button", name="Create field").click()
    assert p.get_by_role("link", name="Plan " + XSS).is_visible()
    tab.check("admin-fields")

    # a canned response: a broken placeholder is refused with a field error, then a good one is saved
    tab.go("/admin/canned")
    p.locator("#f-title").fill("Welcome " + XSS)
    p.locator("#f-body").fill("Hi {{ customer.first_name }")
    p.get_by_role("button", name="Create").click()
    assert "syntax error" in p.locator("#e-body").inner_text()
    tab.check("admin-canned-error")
    p.locator("#f-body").fill("Hi {{ customer.first_name }}, about #{{ ticket.number }}. {{ agent.name }}")
    p.get_by_role("button", name="Create").click()
    p.get_by_text("Hi Ada, about #1042. Sam Agent").wait_for()  # after the redirect, not before
    tab.check("admin-canned")
    p.get_by_role("link", name="Welcome " + XSS).click()
    assert p.locator("#canned-preview").inner_text() == "Hi Ada, about #1042. Sam Agent"
    tab.check("admin-canned-edit")

    # an API token is shown once
    tab.go("/admin/tokens")
    p.locator("#f-name").fill("CRM sync")
    p.get_by_role("button", name="Create token").click()
    new_token = p.locator("#new-token").inner_text()
    assert new_token.startswith("hl_")
    tab.check("admin-tokens")
    me = httpx.get(f"{site.url}/api/v1/me", headers={"Authorization": f"Bearer {new_token}"}, timeout=15)
    assert me.json()["id"] == admin.user_id
    tab.go("/admin/tokens")
    assert new_token not in p.content() and p.locator("#new-token").count() == 0

    # tags
    tab.go("/admin/tags")
    assert p.get_by_text("<svg/onload=window.__xss=1>", exact=True).is_visible()
    tab.check("admin-tags")

    # brand: colour and logo show on every page
    tab.go("/admin/settings")
    p.locator("#f-primary_colour").fill("not a colour")
    p.get_by_role("button", name="Save settings").click()
    assert "#rrggbb" in p.locator("#e-primary_colour").inner_text()
    p.locator("#f-display_name").fill("Acme Help " + XSS)
    p.locator("#f-primary_colour").fill("#0b5394")
    p.locator("#f-timezone").fill("Europe/Paris")
    p.locator("#f-languages").fill("en, fr")
    p.get_by_role("button", name="Save settings").click()
    assert p.get_by_role("status").inner_text() == "Saved."
    p.locator("#f-logo").set_input_files({"name": "logo.png", "mimeType": "image/png", "buffer": PNG})
    p.get_by_role("button", name="Upload logo").click()
    assert p.get_by_role("status").inner_text() == "The logo is saved."
    tab.check("admin-settings")
    # A fresh browser: /brand/<id>.css is cached for a minute under the same URL, so the tab that
    # changed the colour may show the old one until then.
    tab = new_page()
    tab.sign_in(admin)
    p = tab.page
    tab.go("/contacts")
    bar = p.locator("header.topbar")
    assert bar.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(11, 83, 148)"
    assert p.locator("header.topbar img.logo").evaluate("img => img.complete && img.naturalWidth") == 1
    assert ("Acme Help " + XSS) in p.locator(".brand").inner_text()
    assert ("Acme Help " + XSS) in p.title()
    tab.no_script_ran()


def test_other_staff_get_403_on_admin(site, new_page):
    for role in (Role.agent, Role.light_agent):
        person = site.person(role)
        tab = new_page()
        tab.sign_in(person)
        response = tab.go("/admin/users")
        assert response.status == 403
        assert tab.page.get_by_text("Only admins can open the admin pages").is_visible()
        assert tab.page.get_by_role("link", name="Admin").count() == 0
        tab.check(f"admin-403-{role.value}")


def test_admin_sets_up_a_chat_widget(site, new_page):
    ws = own_workspace(site)
    admin = site.person(Role.admin, name="Ada Admin", workspace_id=ws)
    tab = new_page()
    tab.sign_in(admin)
    p = tab.page
    tab.go("/admin")
    p.get_by_role("navigation", name="Admin sections").get_by_role("link", name="Chat widgets").click()
    p.wait_for_url("**/admin/chat-widgets")
    p.get_by_label("Name").fill("Shop help " + XSS)
    p.get_by_label("Sites allowed to show it").fill("https://shop.example")
    p.get_by_role("button", name="Create widget").click()
    assert p.get_by_role("status").inner_text() == "Created."
    assert p.get_by_role("heading", name="Chat widget Shop help " + XSS).is_visible()
    snippet = p.get_by_label("Embedding snippet").input_value()
    assert re.fullmatch(r'<script src="[^"]+/widget\.js" data-widget="[\w-]+" async></script>', snippet), (
        snippet
    )
    p.get_by_label("Opening hours", exact=True).fill("mon 09:00-17:00\ntue 9-5")
    p.get_by_role("button", name="Save").click()
    assert "is not a time" in p.locator("#e-schedule").inner_text()
    assert p.get_by_label("Opening hours", exact=True).get_attribute("aria-invalid") == "true"
    tab.check("admin-chat-widget-error")
    p.get_by_label("Opening hours", exact=True).fill("mon 09:00-17:00\ntue 09:00-17:00")
    p.get_by_label("Greeting").fill("Hi from the shop")
    p.get_by_role("button", name="Save").click()
    assert p.get_by_role("status").inner_text() == "Saved."
    assert p.get_by_label("Greeting").input_value() == "Hi from the shop"
    tab.check("admin-chat-widget")
    tab.go("/admin/chat-widgets")
    assert p.get_by_role("link", name="Shop help " + XSS).is_visible()
    tab.check("admin-chat-widgets")
    tab.no_script_ran()
