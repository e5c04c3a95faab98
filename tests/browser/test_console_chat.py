"""The chat inside the console (Chromium): Chats in the main navigation with a live count, an agent
available while a console page is open (the widget offers a chat, not "We are away"), the conversation
beside the customer panel with names, timestamps, canned responses and the ticket's link; each agent's
own time zone; the portal's profile and "Mark as solved". Screenshots of the chat console at 1280 and
390 px go to docs/img/console/."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

from helpline.domains.accounts.models import Role
from tests.browser.test_chat import embedding

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img" / "console"


def shoot(tab: Any, name: str) -> None:
    """Screenshots for the docs, at 1280 and 390 px; no page is wider than its window."""
    DOCS_IMG.mkdir(parents=True, exist_ok=True)
    p = tab.page
    for label, width in (("desktop", 1280), ("phone", 390)):
        p.set_viewport_size({"width": width, "height": 900})
        wide = p.evaluate("() => document.documentElement.scrollWidth")
        assert wide <= width, f"{name} is {wide} px wide in a {width} px window"
        p.screenshot(path=str(DOCS_IMG / f"{name}-{label}.png"), full_page=False)
    p.set_viewport_size({"width": 1280, "height": 900})


def test_chat_in_the_console_from_navigation_to_conversation(site: Any, new_page: Any) -> None:
    ws_id, _slug = site.workspace(f"Mugs {uuid.uuid4().hex[:4]}")
    admin = site.person(Role.admin, name="Avery Admin", workspace_id=ws_id)
    agent = site.person(Role.agent, name="Ari Agent", workspace_id=ws_id)
    with embedding(site, ws_id, name="Shop help", greeting="Hi! Ask us anything.") as host:
        # An admin writes a canned response.
        a = new_page()
        a.sign_in(admin)
        a.go("/admin/canned")
        a.page.get_by_label("Title").fill("Shipping times")
        a.page.get_by_label("Text").fill("Hi {{customer.first_name}}, parcels to Norway take 3 days.")
        a.page.get_by_role("button", name="Create").click()
        # Admins take chats too while a console page is open, unless they set themselves away.
        a.go("/chats")
        assert a.page.get_by_label("My status").input_value() == "online"
        a.page.get_by_label("My status").select_option("away")
        a.page.get_by_role("button", name="Set status").click()
        a.page.wait_for_url("**/chats")

        # The agent signs in and stays on the inbox: Chats is in the navigation, with its count.
        console = new_page()
        c = console.page
        console.sign_in(agent)
        console.go("/inbox")
        chats = c.get_by_role("navigation", name="Main").get_by_role("link", name=re.compile("^Chats"))
        assert re.search(r"Chats\s*:?\s*0", chats.inner_text()), chats.inner_text()

        # Nobody visited /chats, yet the widget offers a chat: the agent is available by default.
        visitor = new_page()
        v = visitor.page
        v.goto(host["url"])
        v.get_by_role("button", name="Chat with us").click()
        v.get_by_text("Hi! Ask us anything.").wait_for()
        assert v.get_by_text("We are away").count() == 0
        v.get_by_label("Name").fill("Vic Visitor")
        v.get_by_label("Email").fill("vic@example.test")
        v.get_by_label("Message *").fill("Do you ship mugs to Norway?")
        v.get_by_role("button", name="Start chat").click()
        v.get_by_text("Ari Agent joined the chat.").wait_for(timeout=10000)

        # The count in the navigation follows without a reload (the page asks every 20 s).
        link = "document.querySelector('nav[aria-label=Main] a[href=\"/chats\"]')"
        c.wait_for_function(f"() => /Chats\\s*:?\\s*1/.test({link}.innerText)", timeout=30000)
        chats.click()
        c.wait_for_url("**/chats")
        console.check("chat-list")
        shoot(console, "chat-list")
        c.get_by_role("link", name=re.compile("Vic Visitor")).click()

        # The conversation: the visitor's name (not "Visitor"), one title, times, the customer panel.
        c.get_by_role("heading", level=1, name="Chat with Vic Visitor").wait_for()
        first = c.locator("[data-chat-log] li").first
        assert first.locator(".who").inner_text() == "Vic Visitor"
        assert first.locator(".body").inner_text() == "Do you ship mugs to Norway?"
        assert re.fullmatch(r"\d\d:\d\d", first.locator("time").inner_text())
        assert first.locator("time").get_attribute("datetime").endswith("Z")  # type: ignore[union-attr]
        box = first.bounding_box()
        assert box and box["height"] < 80, box  # no blank gap in the bubble
        assert "Chat: Chat" not in c.title() and c.title().count("Chat") == 1, c.title()
        panel = c.get_by_role("complementary", name="Customer")
        assert "vic@example.test" in panel.inner_text()
        assert host["url"] in panel.inner_text()  # the page the chat was started on
        ticket_link = c.get_by_role("link", name=re.compile(r"^Ticket #\d+"))
        assert re.search(r"/tickets/\d+$", ticket_link.get_attribute("href") or "")

        # A canned response goes into the message box, its placeholders filled, and is sent.
        c.get_by_label("Insert a canned response").select_option(label="Shipping times")
        c.wait_for_function("() => document.getElementById('composer-body').value.includes('3 days')")
        assert c.get_by_label("Message").input_value().startswith("Hi Vic, parcels to Norway")
        c.get_by_role("button", name="Send").click()
        v.get_by_text("Hi Vic, parcels to Norway take 3 days.").wait_for()
        last = c.locator("[data-chat-log] li").last
        last.locator("time").wait_for()
        console.check("chat-conversation")
        shoot(console, "chat")

        # Without JavaScript the same choice reloads the page with the text in the box.
        plain = site_tab_without_js(site, new_page, console)
        plain.goto(c.url.split("?")[0])
        plain.get_by_label("Insert a canned response").select_option(label="Shipping times")
        plain.get_by_role("button", name="Insert").click()
        assert "parcels to Norway" in plain.get_by_label("Message").input_value()


def site_tab_without_js(site: Any, new_page: Any, signed_in: Any) -> Any:
    """A tab with JavaScript off, sharing ``signed_in``'s session cookie."""
    browser = signed_in.context.browser
    ctx = browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 900})
    ctx.add_cookies(signed_in.context.cookies())
    return ctx.new_page()


def test_each_agent_sees_the_same_ticket_in_their_own_time_zone(site: Any, new_page: Any) -> None:
    shown: dict[str, str] = {}
    iso = set()
    tid = None
    for zone, abbr in (("Europe/Berlin", r"CES?T"), ("America/New_York", r"E[SD]T")):
        agent = site.person(Role.agent)
        tab = new_page()
        tab.sign_in(agent)
        tab.go("/profile")
        tab.page.get_by_label("Time zone").select_option(zone)
        tab.page.get_by_role("button", name="Save", exact=True).click()
        tab.page.get_by_text("Saved.").wait_for()
        if tid is None:
            tab.check("profile-time-zone")
        if tid is None:
            with site.api(agent) as api:
                r = api.post(
                    "/tickets",
                    json={"subject": "Clock", "body": "Hi", "requester": {"email": "t@example.test"}},
                )
                assert r.status_code == 201, r.text
                tid = r.json()["id"]
        tab.go(f"/tickets/{tid}")
        at = tab.page.locator(".conversation time, [id^=m] time").first
        text = at.inner_text()
        assert re.search(abbr, text), (zone, text)
        shown[zone] = text
        iso.add(at.get_attribute("datetime"))
        tab.check(f"ticket-local-time-{zone.split('/')[1].lower()}")
    assert len(iso) == 1 and len(set(shown.values())) == 2, (shown, iso)


def test_portal_profile_and_mark_as_solved(site: Any, new_page: Any) -> None:
    customer = site.person(Role.customer, name="Cora Customer")
    tab = new_page()
    tab.sign_in(customer, portal=True)
    p = tab.page
    tab.go(f"/portal/{site.slug}/requests/new")
    p.get_by_label("Subject").fill("Lost parcel")
    p.get_by_label("Description").fill("It never came.")
    p.get_by_role("button", name="Submit the request").click()
    p.wait_for_url(re.compile(r".*/requests/\d+\?created=1$"))
    assert "by email" not in p.inner_text("main")
    assert p.get_by_role("link", name="Help articles").get_attribute("href") == f"/help/{site.slug}"
    p.get_by_role("button", name="Mark as solved").click()
    p.get_by_text("Marked as solved").wait_for()
    assert p.locator(".portal-head .badge").inner_text() == "Solved"
    tab.check("portal-solved")
    p.get_by_role("link", name="Profile").click()
    p.get_by_role("heading", name="Your profile").wait_for()
    assert customer.email in p.inner_text("main")
    p.get_by_label("Time zone").select_option("Asia/Tokyo")
    p.get_by_role("button", name="Save").click()
    p.get_by_text("Saved.").wait_for()
    tab.check("portal-profile")
    p.go_back()
    tab.go(f"/portal/{site.slug}/requests")
    p.get_by_role("link", name="Lost parcel").click()
    assert "JST" in p.locator(".portal-props time").first.inner_text()
