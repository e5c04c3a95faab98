"""Global search in a real browser: tickets by relevance with highlighted snippets, counts and pages, a
filter from the form, a contact and an article found in their tabs; axe-clean, no wider than the
window at 1280 and 390 px, and the screenshots the docs show (docs/img/console/search-*.png)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx

from helpline.domains.accounts.models import Role
from helpline.domains.accounts.principal import Principal
from helpline.domains.knowledge import service as kb
from tests.browser.conftest import Site
from tests.browser.test_console import token_for

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img" / "console"


def _article(site: Site, admin: Any, title: str, body: str) -> None:
    actor = Principal(
        user_id=admin.user_id, workspace_id=site.workspace_id, role=Role.admin, email=admin.email, name="A"
    )

    async def make(platform: Any) -> None:
        async with platform.db.transaction() as uow:
            aid = await kb.do_create_article(uow, actor, kb.ArticleInput(title, body))
            await kb.do_set_state(uow, actor, aid, "en", "published")

    site.run(make)


def _fits(tab: Any) -> None:
    width = tab.page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    wide = tab.page.evaluate(
        "() => [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right"
        " > window.innerWidth + 1).map(e => e.outerHTML.slice(0, 80)).slice(0, 8)"
    )
    assert width[0] <= width[1], f"the page is {width[0]} px wide in a {width[1]} px window: {wide}"


def test_search_ranks_pages_filters_and_finds_contacts_and_articles(site, new_page):
    admin = site.person(Role.admin, name="Search Admin")
    word = "zq" + uuid.uuid4().hex[:6]
    api = {"Authorization": f"Bearer {token_for(site, admin)}"}
    with httpx.Client(base_url=f"{site.url}/api/v1", headers=api, timeout=15) as c:

        def ticket(subject: str, body: str, **extra: Any) -> None:
            r = c.post(
                "/tickets",
                json={
                    "subject": subject,
                    "body": body,
                    "requester": {"email": f"{word}@example.test", "name": "Rita Requester"},
                    **extra,
                },
            )
            assert r.status_code == 201, r.text

        ticket("Refund request", f"Order {word} came back damaged; I would like my money back.")
        for i in range(26):
            ticket(f"Delivery question {i}", f"Parcel {word}-{i} is late. No refund needed, just curious.")
        ticket("Phone call from a customer", f"Caller {word} asked where the refund is.", channel="phone")
        r = c.post("/contacts", json={"name": f"Quinn {word.title()}", "email": f"quinn@{word}.test"})
        assert r.status_code == 201, r.text
    _article(site, admin, f"Refunds for {word} orders", "Refunds take five days after we receive the parcel.")

    tab = new_page()
    tab.sign_in(admin)
    tab.page.wait_for_timeout(1500)  # the search index is rebuilt by a job right after each change
    tab.go("/")
    tab.page.get_by_role("searchbox").first.fill(f"refund {word}")
    tab.page.keyboard.press("Enter")
    tab.page.wait_for_load_state()
    results = tab.page.locator(".search-list > li")
    first = results.first
    assert first.get_by_role("link").inner_text().endswith("Refund request")  # the subject match, oldest
    assert results.count() == 25
    assert "<mark>" in first.locator(".snippet").inner_html() or "<mark>" in results.nth(1).inner_html()
    tabs = tab.page.get_by_role("navigation", name="What was found")
    assert "Tickets 28" in " ".join(tabs.inner_text().split())
    assert "Articles 1" in " ".join(tabs.inner_text().split())
    assert "page 1 of 2" in tab.page.get_by_role("status").inner_text()
    DOCS_IMG.mkdir(parents=True, exist_ok=True)
    for width, label in ((1280, "desktop"), (390, "phone")):
        tab.page.set_viewport_size({"width": width, "height": 900})
        _fits(tab)
        tab.page.screenshot(path=str(DOCS_IMG / f"search-{label}.png"), full_page=False)
    tab.page.set_viewport_size({"width": 1280, "height": 900})
    tab.check("search-ranked")

    tab.page.get_by_role("navigation", name="Pages").get_by_role("link", name="Next").click()
    tab.page.wait_for_load_state()
    assert results.count() == 3 and "page 2 of 2" in tab.page.get_by_role("status").inner_text()

    # a filter from the form: phone calls only
    form = tab.page.get_by_role("search", name="Search with filters")
    form.get_by_text("Filter tickets").click()  # the filters fold away until used
    form.get_by_label("Channel").select_option("phone")
    form.get_by_role("button", name="Apply filters").click()
    tab.page.wait_for_load_state()
    assert results.count() == 1 and "Phone call from a customer" in results.first.inner_text()
    assert "channel=phone" in tab.page.url
    tab.check("search-filtered")

    # a contact and an article, each in its tab
    tab.go(f"/search?q={word}")
    assert "Contacts 2" in " ".join(tabs.inner_text().split())  # Quinn, and the requester by email
    tabs.get_by_role("link", name="Contacts").click()
    tab.page.wait_for_load_state()
    assert tab.page.get_by_role("link", name=f"Quinn {word.title()}").is_visible()
    assert tab.page.locator(".search-list mark").first.inner_text().lower() == word
    tab.check("search-contacts")
    tab.go(f"/search?q=refund+{word}&tab=articles")
    article = tab.page.get_by_role("link", name=f"Refunds for {word} orders")
    assert article.is_visible()
    article.click()
    tab.page.wait_for_load_state()
    assert f"Refunds for {word} orders" in tab.page.get_by_role("heading", level=1).inner_text()
