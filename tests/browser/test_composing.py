"""Composing in the console, in a real browser: a phone call logged as a new ticket with a note first
(also from a contact's page), drafts restored after a reload and on another device, canned responses
inserted at the cursor (a second one on its own line), an @mention that mails the colleague, snooze
hiding a ticket until the customer writes, and logged time adding up."""

from __future__ import annotations

import uuid

import httpx

from helpline.domains.accounts.models import Role
from tests.browser.conftest import Person, Site
from tests.browser.test_console import canned, new_ticket


def _customer(site: Site, tag: str) -> tuple[Person, httpx.Client]:
    person = site.person(Role.customer, name=f"Nora {tag}", email=f"nora-{tag}@example.test")
    return person, site.api(person)


def test_an_agent_logs_a_phone_call_as_a_new_ticket_with_a_note_first(site, new_page):
    tag = uuid.uuid4().hex[:6]
    maya = site.person(Role.agent, name=f"Maya {tag}")
    tab = new_page()
    tab.sign_in(maya)
    tab.go("/inbox")
    tab.page.get_by_role("link", name="New ticket").click()
    tab.page.wait_for_url("**/tickets/new")
    tab.check("ticket-new")
    assert tab.page.get_by_label("Channel").input_value() == "phone"
    tab.page.get_by_label("Email").fill(f"caller-{tag}@example.test")
    tab.page.get_by_label("Name", exact=True).fill(f"Caller {tag}")
    tab.page.get_by_label("Subject").fill(f"Called about invoice {tag}")
    assert tab.page.get_by_label("Internal note (what was said on the call)").is_checked()
    tab.page.get_by_label("Message").fill("Charged twice for March; promised a refund.")
    tab.page.get_by_label("Priority").select_option("high")
    tab.page.get_by_label("Assignee").select_option(label=f"Maya {tag}")
    tab.page.get_by_role("button", name="Create ticket").click()
    tab.page.wait_for_url("**/tickets/*?created=1")
    assert tab.page.get_by_role("heading", name=f"Called about invoice {tag}").is_visible()
    first = tab.page.locator(".message").first
    assert "Internal note" in first.inner_text() and "via note" in first.inner_text()
    tab.page.get_by_text("History (").click()
    history = tab.page.locator("#history").inner_text()
    assert f"Maya {tag} logged a phone call" in history and f"Maya {tag} added an internal note" in history
    # From the caller's contact page, "New ticket" comes with the requester filled in.
    tab.page.get_by_role("link", name=f"Caller {tag}").click()
    tab.page.get_by_role("link", name="New ticket").last.click()
    assert f"Caller {tag}" in tab.page.locator("#chosen-requester").inner_text()
    tab.page.get_by_label("Subject").fill(f"Follow-up {tag}")
    tab.page.get_by_label("Message").fill("Called again.")
    tab.page.get_by_role("button", name="Create ticket").click()
    tab.page.wait_for_url("**/tickets/*?created=1")
    assert f"Caller {tag}" in tab.page.locator(".side").inner_text()


def test_a_draft_is_restored_after_a_reload_and_on_another_device(site, new_page):
    tag = uuid.uuid4().hex[:6]
    maya = site.person(Role.agent)
    ticket = new_ticket(
        site, maya, subject=f"Draft {tag}", body="Hello", requester={"email": f"d-{tag}@example.test"}
    )
    tab = new_page()
    tab.sign_in(maya)
    tab.go(f"/tickets/{ticket['id']}")
    tab.page.get_by_label("Message", exact=True).press_sequentially("Half of my answer")
    tab.page.get_by_text("Draft saved.").wait_for(timeout=10000)
    tab.page.reload()
    assert tab.page.get_by_label("Message", exact=True).input_value() == "Half of my answer"
    assert tab.page.get_by_text("Draft restored.").is_visible()
    laptop = new_page()
    laptop.sign_in(maya)
    laptop.go(f"/tickets/{ticket['id']}")
    assert laptop.page.get_by_label("Message", exact=True).input_value() == "Half of my answer"
    laptop.page.get_by_role("button", name="Send").click()
    laptop.page.wait_for_url("**sent=1**")
    tab.page.reload()
    assert tab.page.get_by_label("Message", exact=True).input_value() == ""


def test_canned_responses_go_in_at_the_cursor_and_a_second_on_a_new_line(site, new_page):
    tag = uuid.uuid4().hex[:6]
    maya = site.person(Role.agent, name="Maya Canned")
    ticket = new_ticket(
        site,
        maya,
        subject=f"Canned {tag}",
        body="Hi",
        requester={"email": f"c-{tag}@example.test", "name": "Nora Berg"},
    )
    canned(site, f"Greet {tag}", "Hello {{ticket.requester.name}}, {{ ticket.colour }}")
    canned(site, f"Close {tag}", "Anything else?")
    tab = new_page()
    tab.sign_in(maya)
    tab.go(f"/tickets/{ticket['id']}")
    box = tab.page.get_by_label("Message", exact=True)
    box.fill("Intro\nOutro")
    box.evaluate("b => b.setSelectionRange(6, 6)")  # after "Intro\n"
    tab.page.get_by_label("Insert a canned response").select_option(label=f"Greet {tag}")
    tab.page.wait_for_function("() => document.getElementById('composer-body').value.includes('Nora')")
    assert box.input_value() == "Intro\nHello Nora Berg, {{ ticket.colour }}\nOutro"
    tab.page.get_by_label("Insert a canned response").select_option(label=f"Close {tag}")
    tab.page.wait_for_function("() => document.getElementById('composer-body').value.includes('else?')")
    assert box.input_value() == "Intro\nHello Nora Berg, {{ ticket.colour }}\nAnything else?\nOutro"
    tab.check("ticket-composer")


def test_a_mentioned_colleague_is_offered_and_mailed(site, new_page):
    tag = uuid.uuid4().hex[:6]
    maya = site.person(Role.agent, name=f"Maya {tag}")
    jonas = site.person(Role.agent, name=f"Jonas {tag}")
    ticket = new_ticket(
        site, maya, subject=f"Mention {tag}", body="Hi", requester={"email": f"m-{tag}@example.test"}
    )
    tab = new_page()
    tab.sign_in(maya)
    tab.go(f"/tickets/{ticket['id']}")
    tab.page.get_by_label("Internal note").check()
    box = tab.page.get_by_label("Message", exact=True)
    box.press_sequentially(f"Please check, @Jonas {tag[:3]}")
    option = tab.page.locator("#mention-list").get_by_role("option", name=f"Jonas {tag}")
    option.wait_for(timeout=5000)
    box.press("Enter")
    assert box.input_value() == f"Please check, @Jonas {tag} "
    tab.page.get_by_role("button", name="Send").click()
    tab.page.wait_for_url("**sent=1**")
    mail = site.mail.wait_for(jonas.email, f"Maya {tag} mentioned you")
    assert "Please check" in str(mail.get_payload(decode=True) or mail.get_payload())


def test_snooze_hides_a_ticket_until_the_customer_writes_and_time_adds_up(site, new_page):
    tag = uuid.uuid4().hex[:6]
    maya = site.person(Role.agent, name=f"Maya {tag}")
    nora, as_nora = _customer(site, tag)
    ticket = new_ticket(
        site,
        maya,
        subject=f"Snooze {tag}",
        body="Waiting on the bank",
        requester={"email": nora.email},
        assignee_id=maya.user_id,
    )
    link = f"#{ticket['number']} Snooze {tag}"
    tab = new_page()
    tab.sign_in(maya)
    tab.go(f"/tickets/{ticket['id']}")
    tab.page.get_by_label("Snooze", exact=True).select_option("1d")
    tab.page.get_by_role("button", name="Snooze", exact=True).click()
    tab.page.wait_for_url("**snoozed=1**")
    assert tab.page.locator("#snoozed").is_visible()
    tab.go("/inbox?view=mine")
    assert tab.page.get_by_role("link", name=link).count() == 0
    tab.go("/inbox?view=snoozed")
    assert tab.page.get_by_role("link", name=link).is_visible()
    assert "snoozed until" in tab.page.locator("tr", has_text=link).inner_text()
    r = as_nora.post(f"/tickets/{ticket['id']}/messages", json={"body": "The bank answered."})
    assert r.status_code == 201, r.text
    tab.go("/inbox?view=mine")
    assert tab.page.get_by_role("link", name=link).is_visible()
    # Time: two entries add up on the ticket.
    tab.page.get_by_role("link", name=link).click()
    for minutes in ("15", "30"):
        tab.page.get_by_label("Minutes").fill(minutes)
        tab.page.get_by_role("button", name="Log time").click()
        tab.page.wait_for_url("**logged=1**")
    assert "0 h 45 min (2 entries)" in tab.page.locator("#time-total").inner_text()
    tab.check("ticket-snooze-time")
