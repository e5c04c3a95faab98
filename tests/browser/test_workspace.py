"""The three-pane agent workspace (views | ticket list | ticket) in a real browser: ten tickets worked
through with the keyboard alone while the list stays beside them, the list kept without JavaScript,
tabs of open tickets, and one pane at a time on a phone."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx

from helpline.domains.accounts.models import Role
from tests.browser.conftest import Person, Site
from tests.browser.test_console import new_ticket, token_for


def _tickets(site: Site, admin: Person, tag: str, n: int) -> list[dict[str, Any]]:
    return [
        new_ticket(
            site,
            admin,
            subject=f"Walk {tag} {i:02d}",
            body=f"Question {i}",
            tags=[f"walk{tag}"],
            requester={"email": f"w{i}-{tag}@example.test", "name": f"Walker {i}"},
        )
        for i in range(n)
    ]


def _list_is_shown(tab: Any, view_name: str, tag: str) -> None:
    """The list pane is beside the ticket, with the same view and filter."""
    pane = tab.page.locator(".list-pane")
    assert pane.is_visible()
    assert pane.locator("#inbox-title").inner_text() == view_name
    assert "view=all" in tab.page.url and f"tag=walk{tag}" in tab.page.url
    assert pane.locator("[data-ticket-row]").count() >= 10


def test_ten_tickets_worked_through_with_the_keyboard_never_lose_the_list(site, new_page):
    tag = uuid.uuid4().hex[:6]
    admin = site.person(Role.admin)
    agent = site.person(Role.agent, name=f"Kay Board {tag}")
    made = _tickets(site, admin, tag, 10)
    tab = new_page()
    tab.sign_in(agent)
    tab.go(f"/inbox?view=all&tag=walk{tag}&sort=created_at")
    keys = tab.page.keyboard
    keys.press("j")
    keys.press("o")
    tab.page.wait_for_url(f"**/tickets/{made[0]['id']}?*")
    for i, ticket in enumerate(made):
        title = tab.page.get_by_role("heading", level=1).inner_text()
        assert title == f"#{ticket['number']} Walk {tag} {i:02d}"
        _list_is_shown(tab, "All tickets", tag)
        # Reply: r, type, Ctrl+Enter.
        keys.press("r")
        keys.type(f"Reply number {i}")
        keys.press("Control+Enter")
        tab.page.wait_for_url(re.compile(rf".*/tickets/{ticket['id']}\?.*sent=1"))
        _list_is_shown(tab, "All tickets", tag)
        # Note: n, type, Ctrl+Enter.
        keys.press("n")
        keys.type(f"Note number {i}")
        keys.press("Control+Enter")
        tab.page.locator(".message.note").filter(has_text=f"Note number {i}").wait_for()
        _list_is_shown(tab, "All tickets", tag)
        # Assign: a, type the name, Enter saves.
        keys.press("a")
        keys.type(f"Kay Board {tag}")
        keys.press("Enter")
        tab.page.wait_for_url(re.compile(rf".*/tickets/{ticket['id']}\?.*saved=1"))
        _list_is_shown(tab, "All tickets", tag)
        # Snooze: z, Enter (the default choice: until tomorrow).
        keys.press("z")
        keys.press("Enter")
        tab.page.wait_for_url(re.compile(rf".*/tickets/{ticket['id']}\?.*snoozed=1"))
        tab.page.locator("#snoozed").wait_for()
        _list_is_shown(tab, "All tickets", tag)
        if i + 1 < len(made):
            keys.press("Shift+J")  # the next ticket of the list
            tab.page.wait_for_url(f"**/tickets/{made[i + 1]['id']}?*")
    tab.check("workspace-ticket-keyboard")
    token = token_for(site, admin)
    for i, ticket in enumerate(made):
        got = httpx.get(
            f"{site.url}/api/v1/tickets/{ticket['id']}", headers={"Authorization": f"Bearer {token}"}
        ).json()
        assert got["assignee_id"] == agent.user_id, i
        texts = [
            (m["public"], m["body_text"])
            for m in httpx.get(
                f"{site.url}/api/v1/tickets/{ticket['id']}/messages",
                headers={"Authorization": f"Bearer {token}"},
            ).json()["items"]
        ]
        assert (True, f"Reply number {i}") in texts and (False, f"Note number {i}") in texts, texts


def test_without_javascript_the_ticket_page_keeps_the_list_and_its_place(site, browser):
    tag = uuid.uuid4().hex[:6]
    admin = site.person(Role.admin)
    made = _tickets(site, admin, tag, 3)
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.goto(f"{site.url}/login")
        page.get_by_label("Email").fill(admin.email)
        page.get_by_label("Password").fill(admin.password)
        page.get_by_role("button", name="Sign in", exact=True).click()
        page.goto(f"{site.url}/inbox?view=all&tag=walk{tag}&sort=created_at")
        page.get_by_role("link", name=f"#{made[0]['number']} Walk {tag} 00").click()
        assert re.search(rf"/tickets/{made[0]['id']}\?view=all&tag=walk{tag}&sort=created_at$", page.url)
        assert page.locator(".list-pane [data-ticket-row]").count() == 3
        page.get_by_role("link", name="Next").click()
        assert f"/tickets/{made[1]['id']}?view=all" in page.url
        page.get_by_label("Message", exact=True).fill("Sent without JavaScript")
        page.get_by_role("button", name="Send").click()
        assert f"/tickets/{made[1]['id']}?view=all&tag=walk{tag}&sort=created_at&sent=1" in page.url
        assert page.locator(".list-pane [data-ticket-row]").count() == 3
        page.get_by_role("link", name="Previous").click()
        assert f"/tickets/{made[0]['id']}?view=all" in page.url
    finally:
        context.close()


def test_open_tickets_are_tabs_of_their_agent(site, new_page):
    tag = uuid.uuid4().hex[:6]
    admin = site.person(Role.admin)
    other = site.person(Role.admin)
    made = _tickets(site, admin, tag, 2)
    tab = new_page()
    tab.sign_in(admin)
    for t in made:
        tab.go(f"/tickets/{t['id']}?view=all")
    strip = tab.page.get_by_role("navigation", name="Open tickets")
    assert strip.get_by_role("link").count() == 2
    assert strip.get_by_role("link", name=f"Walk {tag} 00 #{made[0]['number']}").is_visible()
    tab.go("/inbox?view=all")  # the tabs stay on the inbox
    assert strip.get_by_role("link").count() == 2
    strip.get_by_role("button", name=f"Close tab #{made[0]['number']}").click()
    assert strip.get_by_role("link").count() == 1
    assert "/inbox?view=all" in tab.page.url
    tab.check("workspace-tabs")
    # Another agent in the same browser starts with no tabs of the first one's.
    tab.page.context.clear_cookies()
    tab.sign_in(other)
    tab.go("/inbox?view=all")
    assert tab.page.get_by_role("navigation", name="Open tickets").count() == 0


def test_on_a_phone_the_panes_stack_with_a_way_back_to_the_list(site, new_page):
    tag = uuid.uuid4().hex[:6]
    admin = site.person(Role.admin)
    made = _tickets(site, admin, tag, 2)
    tab = new_page()
    tab.sign_in(admin)
    tab.page.set_viewport_size({"width": 390, "height": 844})
    tab.go(f"/inbox?view=all&tag=walk{tag}")
    assert tab.page.locator(".list-pane").is_visible()
    tab.page.get_by_role("link", name=f"#{made[1]['number']} Walk {tag} 01").click()
    assert not tab.page.locator(".list-pane").is_visible()
    back = tab.page.get_by_role("link", name="Back to All tickets")
    assert back.is_visible()
    back.click()
    assert tab.page.url.endswith(f"/inbox?view=all&tag=walk{tag}")


def test_the_list_beside_a_ticket_refreshes_itself_when_a_ticket_arrives(site, new_page):
    tag = uuid.uuid4().hex[:6]
    admin = site.person(Role.admin)
    made = _tickets(site, admin, tag, 1)
    tab = new_page()
    tab.sign_in(admin)
    tab.go(f"/tickets/{made[0]['id']}?view=all&tag=walk{tag}")
    tab.page.wait_for_timeout(500)  # let the ticket's event stream connect
    late = new_ticket(
        site,
        admin,
        subject=f"Late {tag}",
        body="x",
        tags=[f"walk{tag}"],
        requester={"email": "l@example.test"},
    )
    pane = tab.page.locator(".list-pane")
    pane.get_by_role("link", name=f"#{late['number']} Late {tag}").wait_for(timeout=15000)
    # The refreshed rows still link with the list, and the open ticket is still marked.
    assert f"view=all&tag=walk{tag}" in (
        pane.get_by_role("link", name=f"#{late['number']} Late {tag}").get_attribute("href") or ""
    )
    assert pane.locator("tr.current").count() == 1
