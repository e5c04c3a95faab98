"""An email on the agent's ticket page in a real browser: the quoted history is folded and opens from
the keyboard, remote pictures are not even requested until the agent asks for that message's, the
sender checks and the .eml link are there, and axe finds nothing serious."""

from __future__ import annotations

import time
import uuid
from email.message import EmailMessage
from typing import Any

import sqlalchemy as sa

from helpline.domains.accounts.models import Role
from helpline.domains.channels.email import mailboxes, service
from helpline.domains.channels.email.models import InboundMail, OutboundMail
from helpline.domains.channels.email.process import process_batch
from tests.browser.conftest import Site

AUTHSERV = "mx.browser.test"
PIXEL_HOST = "pixels.customer.test"
inbound = InboundMail.__table__


def email_ticket(site: Site, tag: str) -> tuple[int, int]:
    """A customer's Gmail reply, processed into a ticket: (ticket id, message id)."""
    msg = EmailMessage()
    msg["From"] = f"Carla Customer <carla-{tag}@customer.test>"
    msg["To"] = f"support-{tag}@acme.test"
    msg["Subject"] = f"Printer smoke {tag}"
    msg["Message-ID"] = f"<{tag}@customer.test>"
    msg["Authentication-Results"] = f"{AUTHSERV}; spf=pass smtp.mailfrom=customer.test; dkim=pass; dmarc=pass"
    msg.set_content("The printer still smokes.\n\nOn Mon, Acme wrote:\n> Try turning it off.\n")
    msg.add_alternative(
        f'<div dir="ltr">The printer still smokes. <img src="https://{PIXEL_HOST}/p.gif" alt="logo"></div>'
        '<div class="gmail_quote"><div class="gmail_attr">On Mon, Acme Support wrote:</div>'
        f'<blockquote class="gmail_quote"><div>Try turning it off {tag}.</div></blockquote></div>',
        subtype="html",
    )

    async def go(platform: Any) -> tuple[int, int]:
        before = platform.settings.email_authserv_id  # the session's settings: put back after
        platform.settings.email_authserv_id = AUTHSERV
        try:
            async with platform.db.transaction() as uow:
                box_id = await mailboxes.create_mailbox(
                    uow, site.workspace_id, {"name": "Support", "address": f"support-{tag}@acme.test"}
                )
            box = await service.mailbox_by_id(platform, box_id)
            assert box is not None
            got = await service.ingest(platform, box, msg.as_bytes(), source="api")
            await process_batch(platform, [got.id])  # now, not when the server's runner gets to it
        finally:
            platform.settings.email_authserv_id = before
        async with platform.db.read() as conn:
            row = (await conn.execute(sa.select(inbound).where(inbound.c.id == got.id))).mappings().one()
        assert row["state"] == "processed", row
        return int(row["ticket_id"]), int(row["message_id"])

    return site.run(go)  # type: ignore[no-any-return]


def test_folded_quote_opens_by_keyboard_and_remote_images_wait_for_the_agent(site, new_page):
    tag = uuid.uuid4().hex[:8]
    ticket_id, message_id = email_ticket(site, tag)
    agent = site.person(Role.agent)
    tab = new_page()
    asked: list[str] = []
    tab.page.on("request", lambda r: asked.append(r.url))
    tab.sign_in(agent)
    tab.go(f"/tickets/{ticket_id}")
    p = tab.page
    message = p.locator(f"#m{message_id}")
    assert message.get_by_text("The printer still smokes.").is_visible()
    quoted = message.get_by_text(f"Try turning it off {tag}.")
    assert not quoted.is_visible()  # folded
    assert message.get_by_text("Sender checks: SPF pass · DKIM pass · DMARC pass").is_visible()
    assert message.get_by_text("Remote images are blocked to protect your privacy", exact=False).is_visible()
    assert message.get_by_role("link", name="Original email (.eml)").is_visible()
    assert not [u for u in asked if PIXEL_HOST in u]  # the pixel was never requested
    tab.check("ticket-email")

    # The fold is reached with Tab and opened with Enter, like any disclosure.
    summary = message.locator("summary", has_text="Show quoted text")
    for _ in range(80):
        p.keyboard.press("Tab")
        if summary.evaluate("e => e === document.activeElement"):
            break
    else:
        raise AssertionError("Show quoted text is not reachable with the keyboard")
    p.keyboard.press("Enter")
    assert quoted.is_visible()
    assert message.locator("details").evaluate("d => d.open")
    tab.check("ticket-email-quote-open")

    # The agent asks for this message's pictures: now (and only now) the browser fetches them.
    message.get_by_role("link", name="Show remote images").click()
    p.wait_for_load_state()
    assert f"images={message_id}" in p.url
    assert [u for u in asked if PIXEL_HOST in u], asked
    assert p.locator(f"#m{message_id} img[alt=logo]").get_attribute("src") == f"https://{PIXEL_HOST}/p.gif"
    assert not [e for e in tab.console_errors if "Content Security Policy" in e]
    assert p.get_by_role("link", name="Block them again").is_visible()


def test_reply_delivery_state_and_retry(site, new_page):
    tag = uuid.uuid4().hex[:8]
    ticket_id, _ = email_ticket(site, tag)
    customer = f"carla-{tag}@customer.test"
    agent = site.person(Role.agent)
    tab = new_page()
    tab.sign_in(agent)
    tab.go(f"/tickets/{ticket_id}")
    p = tab.page
    p.get_by_label("Message", exact=True).fill(f"Unplug it, please ({tag}).")
    p.get_by_role("button", name="Send").click()
    p.wait_for_load_state()
    site.mail.wait_for(customer, f"Printer smoke {tag}")  # through the install's SMTP server
    tab.go(f"/tickets/{ticket_id}")
    reply = p.locator("li.message", has_text=f"Unplug it, please ({tag}).")
    assert reply.get_by_text(f"{customer}: sent").is_visible()

    # The receiving server refused it for good (as a 5xx would leave it): the agent sees why and retries.
    async def refuse(platform: Any) -> None:
        t = OutboundMail.__table__
        async with platform.db.transaction() as uow:
            await uow.execute(
                t.update()
                .where(t.c.ticket_id == ticket_id, t.c.kind == "reply")
                .values(
                    state="failed",
                    last_error="550 5.1.1 mailbox unavailable",
                    recipients={customer: "failed: 550 5.1.1 mailbox unavailable"},
                )
            )

    site.run(refuse)
    tab.go(f"/tickets/{ticket_id}")
    assert reply.get_by_text("failed: 550 5.1.1 mailbox unavailable", exact=False).first.is_visible()
    tab.check("ticket-email-delivery-failed")
    before = len(site.mail.messages)
    reply.get_by_role("button", name="Retry").click()
    p.wait_for_load_state()
    assert p.get_by_role("status").filter(has_text="Sending again.").is_visible()
    end = time.monotonic() + 15
    while len(site.mail.messages) == before and time.monotonic() < end:
        time.sleep(0.1)
    assert len(site.mail.messages) == before + 1
    tab.go(f"/tickets/{ticket_id}")
    assert reply.get_by_text(f"{customer}: sent").is_visible()
    assert reply.get_by_role("button", name="Retry").count() == 0
