"""The knowledge base in a real browser: the help centre (home, search, article, feedback), a translated
article through the language switcher, suggestions while a customer types a portal request (and "This
solved my problem"), a bot answer and a hand-over through the public endpoint, the console's KB pages;
internal and unpublished articles never shown to customers; axe on every page."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from helpline.domains.accounts.models import Role
from helpline.domains.accounts.principal import Principal
from helpline.domains.knowledge import service as kb
from tests.browser.conftest import Page, Site

XSS = '<img src=x onerror="window.__xss=1">'


class Bank:
    """A workspace of its own (English and French), with a category, a section and articles."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.id, self.slug = site.workspace(
            "Harbour Bank",
            settings={
                "display_name": "Harbour Bank Help",
                "primary_colour": "#0f766e",
                "languages": ["en", "fr"],
            },
        )
        self.admin = site.person(Role.admin, workspace_id=self.id)
        self.customer = site.person(Role.customer, workspace_id=self.id)
        me = Principal(
            user_id=self.admin.user_id,
            workspace_id=self.id,
            role=Role.admin,
            email=self.admin.email,
            name=self.admin.name,
        )

        async def seed(platform: Any) -> dict[str, int]:
            ids: dict[str, int] = {}
            async with platform.db.transaction() as uow:
                cat = await kb.do_create_category(uow, me, "Cards", description="Ordering and using cards")
                sec = await kb.do_create_category(uow, me, "Delivery", parent_id=cat)
                for key, title, body, vis, publish in (
                    (
                        "card",
                        "My card has not arrived",
                        "Cards arrive within **5 working days**.\n\n"
                        "If yours has not arrived after 7 days, freeze it in the app "
                        "and order a new one for free.",
                        "public",
                        True,
                    ),
                    (
                        "pin",
                        "I forgot my PIN",
                        "Open Cards, choose the card and press *Show PIN*. " + XSS,
                        "public",
                        True,
                    ),
                    (
                        "secret",
                        "Card delivery escalation codes",
                        "Use code QX-19 with the courier.",
                        "internal",
                        True,
                    ),
                    (
                        "draft",
                        "Card delivery by drone",
                        "Drones will deliver cards in 2027.",
                        "public",
                        False,
                    ),
                ):
                    aid = await kb.do_create_article(
                        uow, me, kb.ArticleInput(title, body, section_id=sec, visibility=vis)
                    )
                    if publish:
                        await kb.do_set_state(uow, me, aid, "en", "published")
                    ids[key] = aid
                await kb.do_save_translation(
                    uow,
                    me,
                    ids["card"],
                    kb.ArticleInput(
                        "Ma carte n'est pas arrivée", "Les cartes arrivent sous **5 jours ouvrés**.", "fr"
                    ),
                )
                await kb.do_set_state(uow, me, ids["card"], "fr", "published")
            return ids

        self.ids: dict[str, int] = site.run(seed)

    def help(self, path: str = "") -> str:
        return f"/help/{self.slug}/en{path}"

    def events(self) -> list[str]:
        async def read(platform: Any) -> list[str]:
            async with platform.db.read() as conn:
                rows = await conn.execute(
                    sa.text("SELECT kind FROM kb_deflection_events WHERE workspace_id = :w ORDER BY id"),
                    {"w": self.id},
                )
                return [r[0] for r in rows]

        return self.site.run(read)  # type: ignore[no-any-return]

    def searches(self, source: str | None = None) -> list[tuple[str, str]]:
        """The search log (query, source), oldest first; only ``source``'s rows if given."""

        async def read(platform: Any) -> list[tuple[str, str]]:
            async with platform.db.read() as conn:
                rows = await conn.execute(
                    sa.text("SELECT query, source FROM kb_search_log WHERE workspace_id = :w ORDER BY id"),
                    {"w": self.id},
                )
                return [(r[0], r[1]) for r in rows if source is None or r[1] == source]

        return self.site.run(read)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def bank(site: Site) -> Bank:
    return Bank(site)


def _no_secrets(p: Page) -> None:
    text = p.page.content()
    assert "QX-19" not in text and "escalation codes" not in text and "drone" not in text.lower()


def test_help_centre_search_and_article(new_page: Any, bank: Bank) -> None:
    p: Page = new_page()
    p.go(bank.help())
    assert p.page.get_by_role("heading", name="How can we help?").is_visible()
    assert p.page.get_by_role("link", name="Cards").is_visible()
    _no_secrets(p)
    p.check("kb-help-home")
    p.page.get_by_label("Search the help centre").fill("card not arived")
    p.page.get_by_role("button", name="Search").click()
    p.page.wait_for_url("**/search?q=*")
    first = p.page.locator(".kb-results li").first
    assert "My card has not arrived" in first.inner_text()
    assert p.page.locator(".kb-results mark").count() > 0
    _no_secrets(p)
    p.check("kb-help-search")
    first.get_by_role("link").click()
    p.page.wait_for_url(f"**/articles/{bank.ids['card']}-my-card-has-not-arrived")
    assert p.page.locator("strong", has_text="5 working days").is_visible()
    crumbs = p.page.get_by_role("navigation", name="Breadcrumb")
    assert "Cards" in crumbs.inner_text() and "Delivery" in crumbs.inner_text()
    assert (
        p.page.locator('link[rel="canonical"]')
        .get_attribute("href")
        .endswith(f"/help/{bank.slug}/en/articles/{bank.ids['card']}-my-card-has-not-arrived")
    )
    p.check("kb-help-article")
    p.page.get_by_label("Comment (optional)").fill("Clear, thanks")
    p.page.get_by_role("button", name="Yes, it helped").click()
    assert p.page.get_by_text("Thank you for your feedback").is_visible()
    p.check("kb-help-article-thanks")
    p.go(bank.help(f"/articles/{bank.ids['pin']}"))
    assert p.page.get_by_role("heading", name="I forgot my PIN").is_visible()
    p.no_script_ran()
    for hidden in ("secret", "draft"):
        response = p.go(bank.help(f"/articles/{bank.ids[hidden]}"))
        assert response.status == 404
        _no_secrets(p)


def test_translated_article_through_the_switcher(new_page: Any, bank: Bank) -> None:
    p: Page = new_page()
    p.go(bank.help(f"/articles/{bank.ids['card']}-my-card-has-not-arrived"))
    p.page.get_by_role("navigation", name="Language of this article").get_by_role(
        "link", name="Français"
    ).click()
    p.page.wait_for_url(f"**/fr/articles/{bank.ids['card']}-ma-carte-n-est-pas-arrivee")
    assert p.page.locator("html").get_attribute("lang") == "fr"
    assert p.page.get_by_role("heading", name="Ma carte n'est pas arrivée").is_visible()
    assert p.page.locator("strong", has_text="5 jours ouvrés").is_visible()
    p.check("kb-help-article-fr")


def test_portal_request_form_suggests_articles_while_typing(new_page: Any, bank: Bank) -> None:
    p: Page = new_page()
    p.portal_sign_in(bank.customer, bank.slug)
    p.go(f"/portal/{bank.slug}/requests/new")
    subject = p.page.get_by_label("Subject")
    subject.press_sequentially("my card", delay=20)
    suggestion = p.page.locator(".kb-suggest-list li").first
    suggestion.wait_for(timeout=10_000)  # the customer pauses: suggestions for what they typed so far
    with p.page.expect_response(lambda r: "/suggest?" in r.url and "yet" in r.url, timeout=10_000):
        subject.press_sequentially(" has not arrived yet", delay=20)
    assert "My card has not arrived" in suggestion.inner_text()
    _no_secrets(p)
    p.check("kb-portal-suggestions")
    with p.page.context.expect_page() as opened:
        suggestion.get_by_role("link").click()
    opened.value.close()
    suggestion.get_by_role("button", name="This solved my problem").click()
    assert p.page.get_by_text("Glad that helped").is_visible()
    assert not p.page.get_by_role("button", name="Submit the request").is_visible()
    p.check("kb-portal-solved")
    p.page.wait_for_timeout(500)
    kinds = bank.events()
    assert "shown" in kinds and "opened" in kinds and kinds[-1] == "solved", kinds
    # Two lists of suggestions were shown while typing, but the customer searched once: the log holds
    # what they finally typed, not "my card" as well.
    assert kinds.count("shown") >= 2, kinds
    assert bank.searches("portal") == [("my card has not arrived yet", "portal")]


def test_bot_answer_and_hand_over(new_page: Any, bank: Bank) -> None:
    p: Page = new_page()
    p.go(bank.help())

    def ask(question: str) -> dict[str, Any]:
        return p.page.evaluate(  # type: ignore[no-any-return]
            """async ([url, q]) => (await fetch(url, {method: "POST",
                headers: {"Content-Type": "application/json"},
                body: JSON.stringify({question: q, visit: "browser-visit"})})).json()""",
            [f"/api/v1/help/{bank.slug}/answer", question],
        )

    got = ask("my new card still has not arrived, what should I do?")
    assert got["handover"] is False and got["article"]["id"] == bank.ids["card"], got
    assert "arrive" in got["answer"] and got["article"]["url"].startswith(f"/help/{bank.slug}/en/articles/")
    p.go(got["article"]["url"])
    assert p.page.get_by_role("heading", name="My card has not arrived").is_visible()
    human = ask("Can I talk to a real person please")
    assert human["handover"] is True and human["reason"] == "asked_for_human"
    unsure = ask("what's the courier escalation code QX for drones")
    assert unsure["handover"] is True or unsure["article"]["id"] != bank.ids["secret"]
    assert "QX-19" not in str(unsure)
    p.check("kb-bot-article")


def test_console_knowledge_pages(new_page: Any, bank: Bank, site: Site) -> None:
    p: Page = new_page()
    p.go("/login")
    p.page.get_by_label("Email").fill(bank.admin.email)
    p.page.get_by_label("Password").fill(bank.admin.password)
    p.page.get_by_role("button", name="Sign in", exact=True).click()
    p.page.wait_for_load_state()
    p.go("/kb")
    assert p.page.get_by_role("link", name="Card delivery escalation codes").is_visible()
    p.check("kb-console-list")
    p.page.get_by_role("link", name="New article").first.click()
    title = f"Close an account {uuid.uuid4().hex[:4]}"
    p.page.get_by_label("Title").fill(title)
    p.page.get_by_label("Body (Markdown)").fill("Go to **Settings** then *Close account*.\n\n" + XSS)
    p.page.get_by_role("button", name="Preview").click()
    assert p.page.locator(".kb-preview strong", has_text="Settings").is_visible()
    p.no_script_ran()
    p.check("kb-console-preview")
    p.page.get_by_role("button", name="Save the draft").click()
    p.page.wait_for_url("**/kb/articles/*")
    p.page.get_by_role("button", name="Publish").click()
    p.page.wait_for_load_state()
    p.page.get_by_label("Body (Markdown)").fill("Go to **Settings**, then *Close account*, then confirm.")
    p.page.get_by_role("button", name="Save a new version").click()
    p.page.wait_for_load_state()
    p.check("kb-console-edit")
    p.page.get_by_role("link", name="Version 2").click()
    assert p.page.locator(".kb-add").first.is_visible()
    p.check("kb-console-version")
    p.go("/kb/insights")
    assert p.page.get_by_role("heading", name="Top searches").is_visible()
    p.check("kb-console-insights")
