"""Passkeys in Chromium, with its virtual authenticator (DevTools protocol, ``WebAuthn`` domain): made on
the profile page, then used to sign in without a password. The server is ``localhost_site``: WebAuthn
refuses an IP address as relying party id."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from helpline.domains.accounts.models import Role
from tests.browser.conftest import DESKTOP, Page, Site

AUTHENTICATOR = {
    "protocol": "ctap2",
    "transport": "internal",
    "hasResidentKey": True,
    "hasUserVerification": True,
    "isUserVerified": True,
}


@pytest.fixture
def tab(browser: Any, localhost_site: Site) -> Iterator[Page]:
    context = browser.new_context(viewport=DESKTOP)
    try:
        yield Page(context, localhost_site)
    finally:
        context.close()


def test_add_a_passkey_on_the_profile_then_sign_in_with_it(localhost_site, tab):
    agent = localhost_site.person(Role.agent, name="Pat Passkey")
    cdp = tab.context.new_cdp_session(tab.page)
    cdp.send("WebAuthn.enable")
    authenticator = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": AUTHENTICATOR})[
        "authenticatorId"
    ]

    tab.sign_in(agent)
    tab.page.wait_for_url("**/inbox**")
    tab.go("/profile")
    card = tab.page.locator("#passkeys")
    card.get_by_text("None yet.").wait_for()
    card.get_by_label("Name of the new passkey").fill("Test laptop")
    card.get_by_role("button", name="Add a passkey").click()
    status = card.get_by_role("status")
    status.wait_for()
    assert status.inner_text() == "The passkey is added. You can sign in with it."
    # focus went to the outcome, so a screen reader reads it
    assert tab.page.evaluate("document.activeElement.textContent").startswith("The passkey is added")
    assert card.get_by_role("cell", name="Test laptop", exact=True).is_visible()
    made = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
    assert len(made) == 1 and made[0]["isResidentCredential"] and made[0]["rpId"] == "localhost"
    tab.check("profile-passkeys")

    tab.page.locator("details.usermenu summary").click()
    tab.page.get_by_role("button", name="Sign out", exact=True).click()
    tab.page.wait_for_url("**/login**")
    button = tab.page.get_by_role("button", name="Sign in with a passkey")
    assert button.is_visible()
    tab.check("login-passkey")
    button.focus()
    tab.page.keyboard.press("Enter")  # no email address, no password: the passkey alone
    tab.page.wait_for_url("**/inbox**")
    assert tab.page.locator("details.usermenu summary").inner_text() == "Pat Passkey"
    used = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
    assert used[0]["signCount"] >= 1
    tab.no_script_ran()
    assert not [e for e in tab.console_errors if "Content Security Policy" in e]


def test_without_webauthn_the_passkey_controls_stay_hidden(localhost_site, tab):
    tab.context.add_init_script("delete window.PublicKeyCredential;")
    agent = localhost_site.person(Role.agent)
    tab.go("/login")
    assert tab.page.get_by_role("button", name="Sign in with a passkey").count() == 0
    tab.sign_in(agent)
    tab.go("/profile")
    card = tab.page.locator("#passkeys")
    card.get_by_text("Adding a passkey needs JavaScript and a browser that supports passkeys").wait_for()
    assert not card.get_by_role("button", name="Add a passkey").is_visible()
