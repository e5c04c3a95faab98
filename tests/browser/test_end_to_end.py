"""The whole loop of issue 3 in one browser session per person: a customer submits a request with an
attachment on the portal; an agent signs in with 2FA, finds it in Unassigned, assigns it to herself and
replies with a canned response; the customer sees the reply on the portal."""

from __future__ import annotations

import re
import uuid

from helpline.domains.accounts.models import Role
from tests.browser.test_console import canned

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def test_portal_request_to_console_reply_and_back(site, new_page):
    tag = uuid.uuid4().hex[:6]
    subject = f"Order {tag} arrived broken"
    canned(
        site,
        f"Sorry {tag}",
        "Hello {{ customer.first_name }}, sorry about ticket #{{ ticket.number }}. {{ agent.name }}",
    )
    agent = site.person(Role.agent, name="Erin Agent", two_factor=True)

    # The customer signs up on the portal and submits a request with a photo.
    customer = new_page()
    p = customer.page
    customer.go(f"/portal/{site.slug}/signup")
    p.get_by_label("Your name").fill("Quinn Buyer")
    p.get_by_label("Email").fill(f"quinn-{tag}@customer.example")
    p.get_by_label("Password").fill("a long customer password")
    p.get_by_role("button", name="Create the account").click()
    p.wait_for_url("**/requests/new")
    p.get_by_label("Subject").fill(subject)
    p.get_by_label("Description").fill("The box was crushed and the mug inside is in pieces.")
    p.get_by_label("Attachments").set_input_files(
        files=[{"name": "mug.png", "mimeType": "image/png", "buffer": PNG}]
    )
    p.get_by_role("button", name="Submit the request").click()
    p.wait_for_url(re.compile(r".*/requests/\d+\?created=1$"))
    request_url = p.url.split("?")[0]

    # The agent signs in with her second factor and finds it in Unassigned.
    console = new_page()
    c = console.page
    console.sign_in(agent)
    console.go("/inbox?view=unassigned")
    c.get_by_role("link", name=re.compile(re.escape(subject))).click()
    assert c.get_by_role("link", name="mug.png").is_visible()
    c.get_by_label("Assignee").select_option(label="Erin Agent")
    c.get_by_role("button", name="Save", exact=True).click()
    assert c.get_by_role("status").filter(has_text="Saved.").is_visible()
    c.get_by_label("Insert a canned response").select_option(label=f"Sorry {tag}")
    c.wait_for_function("() => document.getElementById('composer-body').value.startsWith('Hello Quinn')")
    c.get_by_role("button", name="Send").click()
    c.wait_for_url("**sent=1**")
    number = re.search(r"#(\d+)", c.get_by_role("heading", level=1).inner_text()).group(1)
    console.go("/inbox?view=mine")
    # (in the list: the ticket is also among the agent's open tabs above it)
    mine = c.get_by_role("region", name="My open tickets")
    assert mine.get_by_role("link", name=re.compile(re.escape(subject))).is_visible()

    # The customer sees the reply.
    p.goto(request_url)
    assert p.get_by_text(f"Hello Quinn, sorry about ticket #{number}. Erin Agent").is_visible()
    customer.no_script_ran()
    console.no_script_ran()
