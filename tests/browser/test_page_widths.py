"""Every console, portal and help-centre page fits its window and passes axe: signed in as an admin
(console), as a portal customer, and anonymous (help centre, sign-in pages), each page at 1280 and 390
px must be no wider than the window (``scrollWidth <= innerWidth``), and ``Page.check`` runs axe."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import Page, Site
from tests.browser.test_knowledge import Bank

WIDTHS = (1280, 390)
LONG = (
    "The printer on the third floor prints every page twice and then jams; "
    "we tried the usual restart and a new toner cartridge, and nothing changed at all for us. "
)


class Place:
    """The knowledge tests' bank workspace, with an organization and a ticket of its customer that
    has several long messages (the split control lists them)."""

    def __init__(self, site: Site) -> None:
        self.bank = Bank(site)
        with site.api(self.bank.admin, workspace_id=self.bank.id) as api:
            org = api.post("/organizations", json={"name": "Harbour Holdings International Limited"})
            assert org.status_code == 201, org.text
            self.org = org.json()["id"]
            t = api.post(
                "/tickets",
                json={
                    "subject": "Printer prints every page twice and jams on the third floor again",
                    "body": LONG * 3,
                    "tags": ["printer", "third-floor"],
                    "requester": {"email": self.bank.customer.email, "name": self.bank.customer.name},
                },
            )
            assert t.status_code == 201, t.text
            self.ticket = t.json()
            for i in range(3):
                r = api.post(
                    f"/tickets/{self.ticket['id']}/messages",
                    json={"body": f"Follow-up {i}: {LONG}", "public": i != 1},
                )
                assert r.status_code == 201, r.text


@pytest.fixture(scope="module")
def place(site: Site) -> Place:
    return Place(site)


def _walk(tab: Page, pages: list[tuple[str, str]]) -> None:
    wide: list[str] = []
    axe: list[str] = []
    for path, name in pages:
        for width in WIDTHS:
            tab.page.set_viewport_size({"width": width, "height": 900})
            response = tab.go(path)
            assert response is not None and response.status < 400, f"{path}: {response and response.status}"
            sizes = tab.page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
            if sizes[0] > sizes[1]:
                wide.append(f"{path} at {width}px is {sizes[0]}px wide")
        tab.page.set_viewport_size({"width": 1280, "height": 900})
        try:
            tab.check(f"width-{name}")
        except AssertionError as exc:  # every page is walked, then all that failed are named
            axe.append(str(exc).split("\nassert")[0])
    assert not wide, "pages wider than their window:\n" + "\n".join(wide)
    assert not axe, "\n".join(axe)


def test_every_console_page_fits_its_window(new_page: Any, place: Place) -> None:
    tab = new_page()
    tab.sign_in(place.bank.admin)
    t, b = place.ticket, place.bank
    _walk(
        tab,
        [
            ("/inbox?view=all", "inbox"),
            ("/inbox?view=mine", "inbox-mine"),
            (f"/tickets/{t['id']}?view=all", "ticket"),
            (f"/tickets/{t['id']}/print", "ticket-print"),
            ("/search?q=printer", "search"),
            ("/contacts", "contacts"),
            (f"/contacts/{t['requester_id']}", "contact"),
            ("/organizations", "organizations"),
            (f"/organizations/{place.org}", "organization"),
            ("/kb", "kb"),
            ("/kb/new", "kb-new"),
            ("/kb/insights", "kb-insights"),
            (f"/kb/articles/{b.ids['card']}", "kb-article"),
            ("/chats", "chats"),
            ("/admin", "admin"),
            ("/admin/users", "admin-users"),
            ("/admin/groups", "admin-groups"),
            ("/admin/fields", "admin-fields"),
            ("/admin/tags", "admin-tags"),
            ("/admin/canned", "admin-canned"),
            ("/admin/settings", "admin-settings"),
            ("/admin/tokens", "admin-tokens"),
            ("/admin/audit", "admin-audit"),
            ("/admin/mailboxes", "admin-mailboxes"),
            ("/admin/mailboxes/new", "admin-mailbox-new"),
            ("/admin/email/failed", "admin-email-failed"),
            ("/admin/sso", "admin-sso"),
            ("/admin/sso/new", "admin-sso-new"),
            ("/admin/chat-widgets", "admin-chat-widgets"),
            ("/profile", "profile"),
            ("/profile/passkeys", "profile-passkeys"),
            ("/profile/signature", "profile-signature"),
            ("/tickets/new", "ticket-new"),
            (f"/tickets/new?requester_id={t['requester_id']}", "ticket-new-for-contact"),
            ("/inbox?view=snoozed", "inbox-snoozed"),
        ],
    )


def test_every_portal_page_fits_its_window(new_page: Any, place: Place) -> None:
    tab = new_page()
    tab.portal_sign_in(place.bank.customer, place.bank.slug)
    base = f"/portal/{place.bank.slug}"
    _walk(
        tab,
        [
            (f"{base}/requests", "portal-requests"),
            (f"{base}/requests/new", "portal-new"),
            (f"{base}/requests/{place.ticket['id']}", "portal-request"),
            (f"{base}/profile", "portal-profile"),
        ],
    )


def test_every_help_centre_and_sign_in_page_fits_its_window(new_page: Any, place: Place) -> None:
    tab = new_page()
    b = place.bank
    _walk(
        tab,
        [
            ("/login", "login"),
            ("/password/forgot", "password-forgot"),
            (f"/portal/{b.slug}/login", "portal-login"),
            (f"/help/{b.slug}/en", "help-home"),
            (f"/help/{b.slug}/en/search?q=card", "help-search"),
            (f"/help/{b.slug}/en/articles/{b.ids['card']}", "help-article"),
        ],
    )
