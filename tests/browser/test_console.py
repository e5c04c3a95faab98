"""The agent console in a real browser: inbox views, assigning, replying with a canned response,
presence of two agents on one ticket, the new-message warning, bulk actions, search, and XSS."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import sqlalchemy as sa

from helpline.domains.accounts import service as accounts
from helpline.domains.accounts.models import Role
from helpline.domains.automation.models import CannedResponse
from tests.browser.conftest import Person, Site

XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'


def token_for(site: Site, person: Person) -> str:
    async def make(platform: Any) -> str:
        async with platform.db.transaction() as uow:
            _, token = await accounts.create_token(uow, site.workspace_id, person.user_id, name="test")
        return token

    return site.run(make)  # type: ignore[no-any-return]


def new_ticket(site: Site, person: Person, **body: Any) -> dict[str, Any]:
    r = httpx.post(
        f"{site.url}/api/v1/tickets",
        json=body,
        headers={"Authorization": f"Bearer {token_for(site, person)}"},
    )
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def canned(site: Site, title: str, body: str) -> None:
    async def make(platform: Any) -> None:
        async with platform.db.transaction() as uow:
            await uow.execute(
                sa.insert(CannedResponse.__table__).values(
                    workspace_id=site.workspace_id, title=title, body=body
                )
            )

    site.run(make)


def test_agent_finds_unassigned_ticket_assigns_herself_and_replies_with_canned_response(site, new_page):
    tag = uuid.uuid4().hex[:6]
    admin = site.person(Role.admin)
    agent = site.person(Role.agent, name="Dana Scully", two_factor=True)
    ticket = new_ticket(
        site,
        admin,
        subject=f"Cannot log in {tag}",
        body="My password stopped working.",
        requester={"email": f"mulder-{tag}@example.test", "name": "Fox Mulder"},
    )
    canned(
        site,
        f"Greeting {tag}",
        "Hi {{ customer.first_name }}, this is {{ agent.name }} about ticket #{{ ticket.number }}.",
    )
    tab = new_page()
    tab.sign_in(agent)
    tab.go("/inbox?view=unassigned")
    row = tab.page.get_by_role("link", name=f"#{ticket['number']} Cannot log in {tag}")
    assert row.is_visible()
    tab.check("inbox-unassigned")
    row.click()
    tab.page.wait_for_url(f"**/tickets/{ticket['id']}?view=unassigned")  # the URL carries its list
    tab.page.get_by_label("Assignee").select_option(label="Dana Scully")
    tab.page.get_by_role("button", name="Save", exact=True).click()
    assert tab.page.get_by_role("status").filter(has_text="Saved.").is_visible()
    tab.page.get_by_label("Insert a canned response").select_option(label=f"Greeting {tag}")
    box = tab.page.get_by_label("Message", exact=True)
    expected = f"Hi Fox, this is Dana Scully about ticket #{ticket['number']}."
    tab.page.wait_for_function(
        "(t) => document.getElementById('composer-body').value.includes(t)", arg=expected
    )
    box.press("End")
    box.type(" We reset your password.")
    tab.page.get_by_role("button", name="Send").click()
    tab.page.wait_for_url("**sent=1**")
    assert tab.page.locator(".message").last.inner_text().count(expected) == 1
    tab.check("ticket")
    # The customer side sees it as a public reply, through the API as that customer.
    r = httpx.get(
        f"{site.url}/api/v1/tickets/{ticket['id']}",
        headers={"Authorization": f"Bearer {token_for(site, admin)}"},
    )
    assert r.json()["assignee_id"] == agent.user_id
    tab.go("/inbox?view=mine")
    assert tab.page.get_by_role("link", name=f"#{ticket['number']} Cannot log in {tag}").is_visible()


def test_two_agents_on_one_ticket_see_each_other_and_are_warned_of_new_messages(site, new_page):
    admin = site.person(Role.admin)
    ann, bob = site.person(Role.agent, name="Ann Presence"), site.person(Role.agent, name="Bob Presence")
    ticket = new_ticket(
        site,
        admin,
        subject="Shared ticket",
        body="Both look at this.",
        requester={"email": f"c-{uuid.uuid4().hex[:6]}@example.test"},
    )
    a, b = new_page(), new_page()
    a.sign_in(ann)
    b.sign_in(bob)
    a.go(f"/tickets/{ticket['id']}")
    b.go(f"/tickets/{ticket['id']}")
    a.page.locator("#presence").filter(has_text="Bob Presence").wait_for(timeout=15000)
    b.page.locator("#presence").filter(has_text="Ann Presence").wait_for(timeout=15000)
    b.page.get_by_label("Message", exact=True).press_sequentially("I am writing")
    a.page.locator("#presence").filter(has_text="Bob Presence (typing").wait_for(timeout=15000)
    # Ann replies while Bob types: Bob's page warns him at once, and the server refuses his stale send.
    a.page.get_by_label("Message", exact=True).fill("Ann's answer")
    a.page.get_by_role("button", name="Send").click()
    a.page.wait_for_url("**sent=1**")
    b.page.locator("#new-message-warning").wait_for(state="visible", timeout=15000)
    b.page.get_by_role("button", name="Send").click()
    assert b.page.get_by_role("alert").filter(has_text="arrived while you were typing").is_visible()
    assert b.page.get_by_label("Message", exact=True).input_value() == "I am writing"
    assert "Ann's answer" in b.page.locator(".conversation").inner_text()
    b.page.get_by_role("button", name="Send anyway").click()
    b.page.wait_for_url("**sent=1**")
    assert "I am writing" in b.page.locator(".conversation").inner_text()


def test_xss_payloads_in_ticket_data_never_run_on_console_pages(site, new_page):
    admin = site.person(Role.admin, name=f"Admin {XSS}")
    ticket = new_ticket(
        site,
        admin,
        subject=f"Subject {XSS}",
        body=f"Body {XSS}",
        tags=["xss-test"],
        requester={"email": f"x-{uuid.uuid4().hex[:6]}@example.test", "name": f"Name {XSS}"},
    )
    r = httpx.post(
        f"{site.url}/api/v1/tickets/{ticket['id']}/messages",
        json={"body": f"<p>Hi</p>{XSS}", "html": True},
        headers={"Authorization": f"Bearer {token_for(site, admin)}"},
    )
    assert r.status_code == 201
    tab = new_page()
    tab.sign_in(admin)
    for path, name in (
        (f"/tickets/{ticket['id']}", "ticket-xss"),
        ("/inbox?view=all", "inbox-xss"),
        ("/search?q=Subject", "search"),
        (f"/tickets/{ticket['id']}/print", "ticket-print"),
    ):
        tab.go(path)
        tab.page.wait_for_timeout(300)
        tab.no_script_ran()
        tab.check(name)
    tab.go(f"/tickets/{ticket['id']}")
    # Shown as text, not as markup.
    assert f"Subject {XSS}" in tab.page.get_by_role("heading", level=1).inner_text()


def test_bulk_assign_and_status_from_the_inbox(site, new_page):
    admin = site.person(Role.admin, name="Bulk Admin")
    tag = uuid.uuid4().hex[:6]
    made = [
        new_ticket(
            site,
            admin,
            subject=f"Bulk {tag} {i}",
            body="x",
            tags=[f"bulk{tag}"],
            requester={"email": f"b{i}-{tag}@example.test"},
        )
        for i in range(3)
    ]
    tab = new_page()
    tab.sign_in(admin)
    tab.go(f"/inbox?view=all&tag=bulk{tag}")
    tab.page.get_by_label("Select all tickets on this page").check()
    tab.page.get_by_label("Assign to").select_option("me")
    tab.page.get_by_label("Set status").select_option("pending")
    tab.page.get_by_role("button", name="Apply to selected").click()
    assert tab.page.get_by_role("status").filter(has_text="Updated 3 tickets.").is_visible()
    token = token_for(site, admin)
    for t in made:
        got = httpx.get(
            f"{site.url}/api/v1/tickets/{t['id']}", headers={"Authorization": f"Bearer {token}"}
        ).json()
        assert (got["status"], got["assignee_id"]) == ("pending", admin.user_id)


def test_keyboard_shortcuts_and_help(site, new_page):
    admin = site.person(Role.admin)
    new_ticket(site, admin, subject="Keyboard one", body="x", requester={"email": "k1@example.test"})
    tab = new_page()
    tab.sign_in(admin)
    tab.go("/inbox?view=all")
    tab.page.keyboard.press("?")
    assert tab.page.get_by_role("dialog", name="Keyboard shortcuts").is_visible()
    tab.page.keyboard.press("Escape")
    tab.page.keyboard.press("j")
    assert tab.page.locator("tr.selected").count() == 1
    tab.page.keyboard.press("o")
    tab.page.wait_for_url("**/tickets/**")
    tab.page.keyboard.press("n")
    assert tab.page.get_by_label("Internal note").is_checked()
    assert tab.page.evaluate("document.activeElement.id") == "composer-body"


def test_light_agent_cannot_reply_publicly_from_the_console(site, new_page):
    admin = site.person(Role.admin)
    light = site.person(Role.light_agent, groups=[])
    ticket = new_ticket(
        site, admin, subject="Light agent view", body="x", requester={"email": "l1@example.test"}
    )
    tab = new_page()
    tab.sign_in(light)
    tab.go(f"/tickets/{ticket['id']}")
    # The ticket has no group, so a light agent sees it (the same rule as the API).
    assert tab.page.get_by_role("heading", level=1).inner_text().endswith("Light agent view")
    assert tab.page.get_by_label("Public reply").count() == 0
    tab.page.get_by_label("Message", exact=True).fill("internal only")
    tab.page.get_by_role("button", name="Send").click()
    tab.page.wait_for_url("**sent=1**")
    assert tab.page.locator(".message.note").filter(has_text="internal only").count() == 1


def test_the_inbox_refreshes_itself_when_a_ticket_arrives(site, new_page):
    admin = site.person(Role.admin)
    tab = new_page()
    tab.sign_in(admin)
    tab.go("/inbox?view=all")
    tab.page.wait_for_timeout(500)  # let the event stream connect
    for _ in range(2):  # and again: the refreshed list keeps listening
        subject = f"Arrives live {uuid.uuid4().hex[:6]}"
        t = new_ticket(site, admin, subject=subject, body="x", requester={"email": "live@example.test"})
        tab.page.get_by_role("link", name=f"#{t['number']} {subject}").wait_for(timeout=15000)
    assert tab.page.locator("#ticket-list").count() == 1
