"""Customer and organization pages in a browser: search, profile with tickets and timeline, edit, merge
of a duplicate, organizations; light agents read only. Every page passes axe-core, and markup in
names, notes and tags shows as text and never runs."""

from __future__ import annotations

import re
import uuid

import httpx

from helpline.domains.accounts import service as accounts
from helpline.domains.accounts.models import Role

XSS = '<img src=x onerror="window.__xss=1">'
XSS_TAG = "<svg/onload=window.__xss=1>"


class Api:
    def __init__(self, site, person) -> None:
        async def make(platform):
            async with platform.db.transaction() as uow:
                return (await accounts.create_token(uow, site.workspace_id, person.user_id, name="test"))[1]

        self.client = httpx.Client(
            base_url=f"{site.url}/api/v1", timeout=15, headers={"Authorization": f"Bearer {site.run(make)}"}
        )

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *_: object) -> None:
        self.client.close()

    def post(self, path: str, body: dict) -> dict:
        r = self.client.post(path, json=body)
        assert r.status_code in (200, 201), r.text
        return r.json()

    def patch(self, path: str, body: dict) -> dict:
        r = self.client.patch(path, json=body)
        assert r.status_code == 200, r.text
        return r.json()


def test_contacts_search_profile_edit_and_merge(site, new_page):
    admin = site.person(Role.admin)
    tag = uuid.uuid4().hex[:8]
    with Api(site, admin) as api:
        org = api.post("/organizations", {"name": f"Initech {tag} {XSS}", "domains": [f"initech-{tag}.test"]})
        ada = api.post(
            "/contacts",
            {
                "name": f"Ada {tag} {XSS}",
                "email": f"ada@initech-{tag}.test",
                "tags": [XSS_TAG, "vip"],
                "notes": "Notes " + XSS,
                "attributes": {"plan": XSS},
            },
        )
        dup = api.post("/contacts", {"name": f"Ada old {tag}", "email": f"ada.old-{tag}@example.test"})
        t = api.post(
            "/tickets",
            {
                "subject": f"Printer {XSS}",
                "body": f"It burns {XSS}",
                "requester_id": ada["id"],
                "channel": "email",
            },
        )
        api.post(f"/tickets/{t['id']}/messages", {"body": "Internal: toner", "public": False})
        api.patch(f"/tickets/{t['id']}", {"status": "solved"})
        api.post(
            "/tickets", {"subject": "Old chat", "body": "hello", "requester_id": dup["id"], "channel": "chat"}
        )

    tab = new_page()
    tab.sign_in(admin)
    p = tab.page
    tab.go("/contacts")
    p.get_by_label("Search customers by name, email, phone or handle").fill(f"initech-{tag}")
    p.get_by_role("button", name="Search").click()
    rows = p.get_by_role("table", name="Customers").locator("tbody tr")
    assert rows.count() == 1 and f"ada@initech-{tag}.test" in rows.inner_text()
    tab.check("contacts-list")

    rows.get_by_role("link").first.click()
    assert p.get_by_role("heading", name=f"Ada {tag} {XSS}").is_visible()
    assert p.get_by_text(XSS_TAG, exact=True).is_visible()
    timeline = p.get_by_role("list", name="Interactions, newest first").locator("li")
    texts = [timeline.nth(i).inner_text() for i in range(timeline.count())]
    assert "Status" in texts[0] and "solved" in texts[0]
    assert any("internal note" in x and "toner" in x for x in texts)
    assert "Opened a ticket" in texts[-1] and "email" in texts[-1]
    tab.check("contact-profile")

    p.get_by_role("link", name="Edit").click()
    tab.check("contact-edit")
    p.locator("#f-name").fill(f"Ada Lovelace {tag}")
    p.locator("#f-tags").fill("vip, key-account")
    p.get_by_role("button", name="Save").click()
    assert p.get_by_role("status").inner_text() == "Saved."
    assert p.get_by_role("heading", name=f"Ada Lovelace {tag}").is_visible()

    p.get_by_role("link", name="Merge a duplicate").click()
    p.get_by_label("Find the duplicate by name, email or phone").fill(f"ada.old-{tag}")
    p.get_by_role("button", name="Search").click()
    p.get_by_label(f"Ada old {tag}").check()
    tab.check("contact-merge")
    p.get_by_role("button", name=re.compile("^Merge into")).click()
    assert p.get_by_role("status").inner_text() == "The contacts are merged."
    assert p.get_by_text(f"ada.old-{tag}@example.test").is_visible()
    assert p.get_by_role("link", name=re.compile("Old chat")).first.is_visible()
    # the duplicate's page leads to the kept contact
    tab.go(f"/contacts/{dup['id']}")
    assert p.url.endswith(f"/contacts/{ada['id']}")

    tab.go("/organizations")
    p.get_by_label("Search organizations by name or domain").fill(tag)
    p.get_by_role("button", name="Search").click()
    tab.check("organizations-list")
    p.get_by_role("link", name=f"Initech {tag} {XSS}").click()
    assert p.get_by_role("link", name=f"Ada Lovelace {tag}").is_visible()
    assert p.get_by_role("link", name=f"Printer {XSS}").first.is_visible()
    tab.check("organization-profile")
    p.get_by_role("link", name="Edit").click()
    tab.check("organization-edit")
    p.locator("#f-domains").fill(f"initech-{tag}.test, initech-{tag}.example")
    p.locator("#f-shared_tickets").check()
    p.get_by_role("button", name="Save").click()
    assert p.get_by_text(f"initech-{tag}.example").is_visible()
    assert p.get_by_text(re.compile("Members see each other.s tickets")).is_visible()
    tab.no_script_ran()
    assert org["id"]


def test_light_agent_reads_customers_but_cannot_edit(site, new_page):
    admin = site.person(Role.admin)
    with Api(site, admin) as api:
        c = api.post(
            "/contacts",
            {"name": f"Read Only {uuid.uuid4().hex[:6]}", "email": f"ro-{uuid.uuid4().hex[:6]}@example.test"},
        )
    light = site.person(Role.light_agent)
    tab = new_page()
    tab.sign_in(light)
    tab.go(f"/contacts/{c['id']}")
    assert tab.page.get_by_role("heading", name=c["name"]).is_visible()
    assert tab.page.get_by_role("link", name="Edit").count() == 0
    tab.check("contact-profile-light-agent")
    assert tab.go(f"/contacts/{c['id']}/edit").status == 403
    assert tab.go(f"/contacts/{c['id']}/merge").status == 403
