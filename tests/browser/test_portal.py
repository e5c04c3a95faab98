"""The customer portal in a real browser: sign-up, sign-in links, requests with attachments and custom
fields, conversations with the team, who sees what, script in data that never runs, pages that work
without JavaScript, and every page checked by axe at desktop and phone sizes."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from helpline.domains.accounts.models import Role
from helpline.domains.customers import service as customers
from tests.browser.conftest import DESKTOP, PASSWORD, Page, Site

# A real (1x1) PNG, so the stored file is what a customer would attach.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cf000000030101001ba5e8be0000000049454e44ae426082"
)
XSS_IMG = '<img src=x onerror="window.__xss=1">'
XSS_SCRIPT = "<script>window.__xss=2</script>"


class Northwind:
    """A workspace of its own with branding and custom fields (tests here never touch the default one)."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.id, self.slug = site.workspace(
            "Northwind Traders", settings={"display_name": "Northwind Help", "primary_colour": "#0f766e"}
        )
        self.admin = site.person(Role.admin, workspace_id=self.id)
        self.agent = site.person(Role.agent, workspace_id=self.id, name="Ada Agent")
        with site.api(self.admin, workspace_id=self.id) as api:
            for body in (
                {"key": "order_number", "label": "Order number", "type": "text", "customer_visible": True},
                {
                    "key": "product",
                    "label": "Product",
                    "type": "dropdown",
                    "options": ["Printer", "Scanner"],
                    "customer_visible": True,
                },
                {"key": "internal_code", "label": "Internal triage code", "type": "text"},
                {"key": "copies", "label": "Copies affected", "type": "number", "customer_visible": True},
                {
                    "key": "call_back",
                    "label": "Please call me back",
                    "type": "checkbox",
                    "customer_visible": True,
                },
            ):
                r = api.post("/custom-fields", json=body)
                assert r.status_code == 201, r.text

    def url(self, path: str) -> str:
        return f"/portal/{self.slug}{path}"

    def customer(self, **kw: Any) -> Any:
        return self.site.person(Role.customer, workspace_id=self.id, **kw)

    def api(self, who: Any = None) -> Any:
        return self.site.api(who or self.agent, workspace_id=self.id)


@pytest.fixture(scope="module")
def nw(site: Site) -> Northwind:
    return Northwind(site)


def submit(
    tab: Page,
    nw: Northwind,
    subject: str,
    body: str = "It does not work.",
    *,
    files: list[dict[str, Any]] | None = None,
    order: str = "",
) -> int:
    tab.go(nw.url("/requests/new"))
    p = tab.page
    p.get_by_label("Subject").fill(subject)
    p.get_by_label("Description").fill(body)
    if order:
        p.get_by_label("Order number").fill(order)
    if files:
        p.get_by_label("Attachments").set_input_files(files=files)
    p.get_by_role("button", name="Submit the request").click()
    p.wait_for_url(re.compile(r".*/requests/\d+\?created=1$"))
    return int(re.search(r"/requests/(\d+)", p.url).group(1))  # type: ignore[union-attr]


def test_customer_signs_up_submits_a_request_with_an_attachment_and_converses(site, new_page, nw):
    tab = new_page()
    p = tab.page
    tab.go(nw.url("/signup"))
    assert p.get_by_role("link", name=re.compile("Northwind Help")).is_visible()  # the workspace's own brand
    assert "--brand: #0f766e" in p.request.get(site.url + nw.url("/theme.css")).text()
    tab.check("portal-signup")
    email = f"casey-{uuid.uuid4().hex[:8]}@customer.example"
    p.get_by_label("Your name").fill("Casey Customer")
    p.get_by_label("Email").fill(email)
    p.get_by_label("Password").fill(PASSWORD)
    p.get_by_role("button", name="Create the account").click()
    p.wait_for_url("**/requests/new")
    # Only the customer-visible custom fields are offered.
    assert p.get_by_label("Order number").is_visible() and p.get_by_label("Product").is_visible()
    assert p.get_by_text("Internal triage code").count() == 0
    tab.check("portal-new-request")
    # Submitting without a subject is answered on the form, tied to the field.
    p.get_by_label("Description").fill("The printer jams.")
    p.get_by_label("Subject").evaluate("el => el.removeAttribute('required')")
    p.get_by_role("button", name="Submit the request").click()
    assert p.get_by_label("Subject").get_attribute("aria-invalid") == "true"
    assert p.get_by_text("Enter a subject").is_visible()
    # A custom field value the tickets service refuses is answered next to that field.
    p.get_by_label("Subject").fill("Printer jams on page 2")
    p.get_by_label("Copies affected").fill("many")
    p.get_by_role("button", name="Submit the request").click()
    copies = p.get_by_label("Copies affected")
    assert copies.get_attribute("aria-invalid") == "true" and copies.input_value() == "many"
    assert (
        p.locator("#" + copies.get_attribute("aria-describedby").split()[0]).inner_text()
        == "must be a number"
    )
    assert p.get_by_label("Description").input_value() == "The printer jams."
    copies.fill("2")
    p.get_by_label("Please call me back").check()
    p.get_by_label("Order number").fill("SO-1234")
    p.get_by_label("Product").select_option("Printer")
    p.get_by_label("Attachments").set_input_files(
        files=[{"name": "jam.png", "mimeType": "image/png", "buffer": PNG}]
    )
    p.get_by_role("button", name="Submit the request").click()
    p.wait_for_url(re.compile(r".*/requests/\d+\?created=1$"))
    ticket_id = int(re.search(r"/requests/(\d+)", p.url).group(1))  # type: ignore[union-attr]
    assert p.get_by_role("status").inner_text().startswith("Your request is sent")
    assert p.get_by_role("heading", level=1).inner_text() == "Printer jams on page 2"
    assert p.get_by_text("SO-1234").is_visible()
    tab.check("portal-request")
    # It is listed under My requests.
    tab.go(nw.url("/requests"))
    tab.check("portal-requests")
    p.get_by_role("link", name="Printer jams on page 2").click()
    p.wait_for_url(f"**/requests/{ticket_id}")
    # The attachment downloads, as a download, with the same bytes.
    link = p.get_by_role("link", name=re.compile("jam.png"))
    with p.expect_download() as dl:
        link.click()
    assert dl.value.suggested_filename == "jam.png"
    assert Path(dl.value.path()).read_bytes() == PNG
    r = p.request.get(site.url + link.get_attribute("href"))
    assert (
        r.headers["content-disposition"].startswith("attachment")
        and r.headers["x-content-type-options"] == "nosniff"
    )
    # The team answers (and writes an internal note) through the API.
    with nw.api() as api:
        ticket = api.get(f"/tickets/{ticket_id}").json()
        assert ticket["channel"] == "web" and ticket["custom_fields"] == {
            "order_number": "SO-1234",
            "product": "Printer",
            "copies": 2,
            "call_back": True,
        }
        r = api.post(
            f"/tickets/{ticket_id}/messages", json={"body": "<p>Please <b>open tray 2</b>.</p>", "html": True}
        )
        assert r.status_code == 201, r.text
        assert (
            api.post(
                f"/tickets/{ticket_id}/messages",
                json={"body": "Customer is on the old firmware", "public": False},
            ).status_code
            == 201
        )
    p.reload()
    assert p.locator(".message b", has_text="open tray 2").is_visible()
    assert p.get_by_text("Ada Agent").is_visible()
    assert p.get_by_text("old firmware").count() == 0
    # The customer replies.
    p.get_by_label("Your reply").fill("Tray 2 was empty, thank you!")
    p.get_by_role("button", name="Send the reply").click()
    p.wait_for_url(f"**/requests/{ticket_id}**")
    assert p.locator("#latest").get_by_text("Tray 2 was empty, thank you!").is_visible()
    with nw.api() as api:
        messages = api.get(f"/tickets/{ticket_id}/messages").json()["items"]
    assert messages[-1]["author_kind"] == "customer" and "Tray 2 was empty" in messages[-1]["body_text"]
    assert messages[-1]["channel"] == "web"
    tab.no_script_ran()


def test_a_sign_in_link_by_email_works_once(site, new_page, nw):
    customer = nw.customer(name="Lin Link")
    tab = new_page()
    p = tab.page
    tab.go(nw.url("/login"))
    tab.check("portal-login")
    p.get_by_role("link", name=re.compile("sign-in link")).click()
    tab.check("portal-email-link")
    p.get_by_label("Email").fill(customer.email)
    p.get_by_role("button", name="Email me a sign-in link").click()
    assert "sign-in link is on its way" in p.get_by_role("status").inner_text()
    tab.check("portal-check-email")
    mail = site.mail.wait_for(customer.email, "sign-in link")
    assert "Northwind Help" in mail["Subject"]
    link = site.mail.link(mail)
    assert link.startswith(f"{site.url}{nw.url('/login/link?token=')}")
    p.goto(link)
    tab.check("portal-link")
    p.get_by_role("button", name="Sign in").click()
    p.wait_for_url(f"**{nw.url('/requests')}")
    assert p.get_by_role("heading", level=1).inner_text() == "My requests"
    # The same link again, in another browser: used.
    other = new_page()
    other.page.goto(link)
    assert other.page.get_by_text("expired or was used already").is_visible()
    other.go(nw.url("/requests"))
    assert "/login" in other.page.url


def test_customer_with_two_factor_signs_in_with_the_code(site, new_page, nw):
    customer = nw.customer(two_factor=True)
    tab = new_page()
    tab.go(nw.url("/login?next=//evil.example/"))
    tab.page.get_by_label("Email").fill(customer.email)
    tab.page.get_by_label("Password").fill(customer.password)
    tab.page.get_by_role("button", name="Sign in").click()
    tab.check("portal-login-code")
    tab.page.get_by_label("Authentication code").fill("000000")
    tab.page.get_by_role("button", name="Verify").click()
    assert tab.page.get_by_text("wrong two-factor code").is_visible()
    tab.page.get_by_label("Authentication code").fill(customer.otp())
    tab.page.get_by_role("button", name="Verify").click()
    tab.page.wait_for_url(f"{site.url}{nw.url('/requests')}")


def test_a_customer_never_sees_another_customers_request_or_file(site, new_page, nw):
    alice, bob = nw.customer(name="Alice A"), nw.customer(name="Bob B")
    a = new_page()
    a.portal_sign_in(alice, nw.slug)
    ticket_id = submit(
        a,
        nw,
        "Alice's private matter",
        files=[{"name": "private.txt", "mimeType": "text/plain", "buffer": b"alice only"}],
    )
    file_url = a.page.get_by_role("link", name=re.compile("private.txt")).get_attribute("href")
    b = new_page()
    b.portal_sign_in(bob, nw.slug)
    response = b.go(nw.url(f"/requests/{ticket_id}"))
    assert response.status == 404
    assert b.page.get_by_role("heading", level=1).inner_text() == "Request not found"
    assert b.page.get_by_text("Alice's private matter").count() == 0
    b.check("portal-not-found")
    r = b.page.request.get(site.url + file_url)
    assert r.status == 404 and b"alice only" not in r.body()
    b.go(nw.url("/requests"))
    assert b.page.get_by_text("Alice's private matter").count() == 0
    assert b.page.get_by_text("You have no requests yet").is_visible()


def test_an_organization_that_shares_shows_its_requests_to_its_people(site, new_page, nw):
    domain, closed_domain = f"{uuid.uuid4().hex[:8]}.example", f"{uuid.uuid4().hex[:8]}.example"

    async def orgs(platform: Any) -> None:
        async with platform.db.transaction() as uow:
            await customers.create_organization(
                uow, nw.id, name="Contoso", domains=[domain], shared_tickets=True
            )
            await customers.create_organization(uow, nw.id, name="Fabrikam", domains=[closed_domain])

    site.run(orgs)
    alice = nw.customer(email=f"alice@{domain}", name="Alice Contoso")
    carol = nw.customer(email=f"carol@{domain}", name="Carol Contoso")
    dan = nw.customer(email=f"dan@{closed_domain}", name="Dan Fabrikam")
    erin = nw.customer(email=f"erin@{closed_domain}", name="Erin Fabrikam")
    a = new_page()
    a.portal_sign_in(alice, nw.slug)
    submit(a, nw, "Contoso VPN is down")
    d = new_page()
    d.portal_sign_in(dan, nw.slug)
    submit(d, nw, "Fabrikam billing question")
    c = new_page()
    c.portal_sign_in(carol, nw.slug)
    assert c.page.get_by_text("Contoso VPN is down").count() == 0  # not among her own
    c.page.get_by_role("navigation", name="Which requests").get_by_role(
        "link", name="My organization\u2019s"
    ).click()
    assert c.page.get_by_role("heading", level=1).inner_text() == "Contoso\u2019s requests"
    assert c.page.get_by_text("by Alice Contoso").is_visible()
    c.check("portal-organization-requests")
    c.page.get_by_role("link", name="Contoso VPN is down").click()
    c.page.get_by_label("Your reply").fill("Same here, from Carol.")
    c.page.get_by_role("button", name="Send the reply").click()
    assert c.page.get_by_text("Same here, from Carol.").is_visible()
    # Fabrikam does not share: Erin sees neither Dan's request nor an organization tab.
    e = new_page()
    e.portal_sign_in(erin, nw.slug)
    assert e.page.get_by_text("Fabrikam billing question").count() == 0
    assert e.page.get_by_role("link", name="My organization\u2019s").count() == 0
    assert e.go(nw.url("/requests?scope=organization")).url.endswith(nw.url("/requests"))


def test_script_in_names_subjects_bodies_and_fields_never_runs(site, new_page, nw):
    tab = new_page()
    p = tab.page
    tab.go(nw.url("/signup"))
    name = f"{XSS_IMG}Eve"
    p.get_by_label("Your name").fill(name)
    p.get_by_label("Email").fill(f"eve-{uuid.uuid4().hex[:8]}@customer.example")
    p.get_by_label("Password").fill(PASSWORD)
    p.get_by_role("button", name="Create the account").click()
    p.wait_for_url("**/requests/new")
    subject = f"{XSS_SCRIPT}{XSS_IMG} subject"
    body = f'Body {XSS_SCRIPT} and {XSS_IMG} <a href="javascript:window.__xss=3">x</a>'
    ticket_id = submit(tab, nw, subject, body, order=f"{XSS_IMG}SO")
    tab.no_script_ran()
    assert p.get_by_role("heading", level=1).inner_text() == subject  # shown as text
    assert p.locator(".message .body").first.inner_text().startswith("Body <script>")
    assert p.get_by_text(f"{XSS_IMG}SO").is_visible()
    assert p.get_by_text(name).first.is_visible()
    with nw.api() as api:
        r = api.post(
            f"/tickets/{ticket_id}/messages",
            json={
                "html": True,
                "body": f'<p>Hi</p>{XSS_SCRIPT}<img src=x onerror="window.__xss=4">'
                '<a href="javascript:window.__xss=5">click</a><svg onload="window.__xss=6"></svg>',
            },
        )
        assert r.status_code == 201
    p.reload()
    p.get_by_text("click").click()
    tab.no_script_ran()
    tab.go(nw.url("/requests"))
    assert p.get_by_role("link", name=subject).is_visible()
    tab.go(nw.url("/requests?q=" + "%3Cscript%3Ewindow.__xss%3D7%3C%2Fscript%3E"))
    tab.no_script_ran()
    tab.check("portal-xss")


def test_request_and_reply_work_without_javascript(site, browser, nw):
    context = browser.new_context(viewport=DESKTOP, java_script_enabled=False)
    try:
        tab = Page(context, site)
        customer = nw.customer(name="Noah NoScript")
        tab.portal_sign_in(customer, nw.slug)
        assert tab.page.url.endswith(nw.url("/requests"))
        ticket_id = submit(
            tab,
            nw,
            "Filed without JavaScript",
            order="SO-77",
            files=[{"name": "log.txt", "mimeType": "text/plain", "buffer": b"line 1\n"}],
        )
        assert tab.page.get_by_role("link", name=re.compile("log.txt")).is_visible()
        tab.page.get_by_label("Your reply").fill("A reply without JavaScript")
        tab.page.get_by_role("button", name="Send the reply").click()
        tab.page.wait_for_url(f"**/requests/{ticket_id}**")
        assert tab.page.get_by_text("A reply without JavaScript").is_visible()
        tab.page.get_by_role("button", name=re.compile("Sign out")).click()
        tab.page.wait_for_url("**/login")
        tab.go(nw.url(f"/requests/{ticket_id}"))
        assert "/login" in tab.page.url
    finally:
        context.close()


def test_portal_entry_points_and_default_workspace(site, new_page):
    customer = site.person(Role.customer)
    tab = new_page()
    tab.go("/portal")
    assert f"/portal/{site.slug}/login" in tab.page.url
    tab.sign_in(customer, portal=True)
    assert tab.page.url.endswith(f"/portal/{site.slug}/requests")
    tab.check("portal-requests-empty")
