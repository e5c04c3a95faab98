"""The email admin pages in a browser: an admin connects a mailbox through the form (a real Dovecot for
IMAP, the test SMTP server for replies), tests the connection and sees each part's result, then finds
a broken message on the failed-mail list and reprocesses it. Every page passes axe-core, and markup
typed into a name shows as text and never runs."""

from __future__ import annotations

import hashlib
import hmac
import imaplib
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from helpline.domains.accounts import service as accounts
from helpline.domains.accounts.models import Role
from tests.integration.email.dovecot import Dovecot, run_dovecot

XSS = '<img src=x onerror="window.__xss=1">'


def own_workspace(site) -> int:
    async def make(platform):
        async with platform.db.transaction() as uow:
            return await accounts.create_workspace(uow, "Mail Test", f"mail-{uuid.uuid4().hex[:8]}")

    return site.run(make)


@pytest.fixture(scope="module")
def dovecot(site) -> Iterator[Dovecot]:
    """Dovecot on the port the install allows (``site.imap_port``)."""
    with run_dovecot(port=site.imap_port) as server:
        yield server


def new_folder(dc: Dovecot) -> str:
    folder = f"B{uuid.uuid4().hex[:10]}"
    c = imaplib.IMAP4(dc.host, dc.port, timeout=10)
    try:
        c.login(dc.user, dc.password)
        c.create(f'"{folder}"')
    finally:
        c.logout()
    return folder


def test_admin_connects_a_mailbox_and_handles_failed_mail(site, new_page, dovecot: Dovecot) -> None:
    ws = own_workspace(site)
    admin = site.person(Role.admin, name="Mia Admin", workspace_id=ws)
    folder = new_folder(dovecot)
    tab = new_page()
    tab.sign_in(admin)
    p = tab.page

    tab.go("/admin")
    p.get_by_role("navigation", name="Admin sections").get_by_role("link", name="Mailboxes").click()
    assert p.get_by_role("heading", name="Mailboxes", exact=True).is_visible()
    assert p.get_by_text("No mailboxes yet.").is_visible()
    tab.check("mailboxes-empty")

    # a mistake first: the form comes back with the error under its field, nothing saved
    p.get_by_role("link", name="New mailbox").click()
    address = f"help-{uuid.uuid4().hex[:6]}@acme.test"
    p.locator("#f-name").fill("Help desk " + XSS)
    p.locator("#f-address").fill(address)
    p.get_by_label("IMAP server").fill(dovecot.host)
    p.get_by_label("IMAP port").fill("99999")
    p.get_by_role("button", name="Create mailbox").click()
    assert "a port number from 1 to 65535" in p.locator("#e-imap_port").inner_text()
    assert p.get_by_role("alert").inner_text() == "Not saved: check the fields marked below."
    tab.check("mailbox-new-error")

    # then right: Dovecot for mail in, the test SMTP server of the install for replies
    p.get_by_label("IMAP port").fill(str(dovecot.port))
    p.get_by_label("IMAP encryption").select_option("none")
    p.get_by_label("IMAP user name").fill(dovecot.user)
    p.get_by_label("IMAP password or access token", exact=True).fill(dovecot.password)
    p.get_by_label("Folder to fetch").fill(folder)
    p.get_by_label("Webhook secret").fill("whsec-browser")
    p.get_by_role("button", name="Create mailbox").click()
    assert p.get_by_role("status").inner_text() == "Created."
    assert p.get_by_role("heading", level=1).inner_text().startswith("Help desk " + XSS)
    assert "Set." in p.locator("#h-imap_secret").inner_text()
    assert "Not set." in p.locator("#h-smtp_secret").inner_text()
    assert p.locator("#f-imap_secret").input_value() == ""
    mailbox_id = int(re.search(r"/admin/mailboxes/(\d+)", p.url).group(1))

    p.get_by_role("button", name="Test connection").click()
    result = p.locator("#conn-result")
    result.get_by_text("The connection works.").wait_for(timeout=30_000)
    imap_part = result.locator("dd").nth(0).inner_text()
    smtp_part = result.locator("dd").nth(1).inner_text()
    assert imap_part.startswith("OK logged in, folder"), imap_part
    assert smtp_part.startswith("OK 127.0.0.1:"), smtp_part
    assert p.url.endswith(f"/admin/mailboxes/{mailbox_id}?done=created")  # htmx: the page stayed
    tab.check("mailbox-tested")

    # a wrong password fails the IMAP part and says why
    p.get_by_label("IMAP password or access token", exact=True).fill("wrong")
    p.get_by_role("button", name="Save").click()
    assert p.get_by_role("status").inner_text() == "Saved."
    p.get_by_role("button", name="Test connection").click()
    result.get_by_text("The connection failed.").wait_for(timeout=30_000)
    assert "Failed" in result.locator("dd").nth(0).inner_text()
    assert "authentication failed" in result.locator("dd").nth(0).inner_text()
    tab.check("mailbox-test-failed")

    tab.go("/admin/mailboxes")
    row = p.get_by_role("row", name=re.compile("Help desk"))
    assert address in row.inner_text()
    tab.check("mailboxes")

    # a broken message through the webhook lands on the failed-mail list
    raw = b"this is not a mail message " + XSS.encode() + b"\n"
    sig = "sha256=" + hmac.new(b"whsec-browser", raw, hashlib.sha256).hexdigest()
    r = httpx.post(
        f"{site.url}/api/v1/mailboxes/{mailbox_id}/inbound",
        content=raw,
        headers={"X-Helpline-Signature": sig},
        timeout=15,
    )
    assert r.status_code == 202, r.text
    inbound_id = r.json()["id"]
    for _ in range(100):
        tab.go("/admin/email/failed")
        if p.locator(f"#inbound-{inbound_id}").count():
            break
        p.wait_for_timeout(200)
    entry = p.locator(f"#inbound-{inbound_id}")
    assert entry.is_visible()
    assert entry.get_by_role("link", name=f"Download message {inbound_id} as .eml").is_visible()
    tab.check("failed-mail")
    with p.expect_download() as download:
        entry.get_by_role("link", name=f"Download message {inbound_id} as .eml").click()
    assert Path(download.value.path()).read_bytes() == raw
    entry.get_by_role("button", name=f"Reprocess message {inbound_id}").click()
    assert "Sent back for processing" in p.get_by_role("status").inner_text()
    tab.check("failed-mail-reprocessed")
    tab.no_script_ran()


def test_agents_get_403_on_the_mail_pages(site, new_page) -> None:
    agent = site.person(Role.agent)
    tab = new_page()
    tab.sign_in(agent)
    for path in ("/admin/mailboxes", "/admin/email/failed"):
        response = tab.go(path)
        assert response.status == 403
        assert tab.page.get_by_text("Only admins can open the admin pages").is_visible()
