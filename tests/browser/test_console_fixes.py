"""Console fixes of issue 13, each as an agent sees it: flashes only from the server, view counts
right after the agent's own bulk action, the pager both ways for both sort orders, confirmation before
merging and before taking a tag off every ticket, "1 admin", one ``rows`` on the KB editor, and
comma-separated tags on tickets as in the KB."""

from __future__ import annotations

import re
import uuid
from typing import Any

from helpline.domains.accounts.models import Role
from tests.browser.conftest import Person, Site


class Shop:
    """A workspace of its own (counts and pages of its lists are not disturbed by other tests)."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.id, self.slug = site.workspace(f"Shop {uuid.uuid4().hex[:6]}")
        self.admin = site.person(Role.admin, workspace_id=self.id, name=f"Ari Admin {uuid.uuid4().hex[:4]}")

    def ticket(self, subject: str, **extra: Any) -> dict[str, Any]:
        with self.site.api(self.admin, workspace_id=self.id) as api:
            r = api.post(
                "/tickets",
                json={
                    "subject": subject,
                    "body": "Hello",
                    "requester": {"email": f"c-{uuid.uuid4().hex[:6]}@example.test"},
                    **extra,
                },
            )
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]

    def get(self, ticket_id: int) -> dict[str, Any]:
        with self.site.api(self.admin, workspace_id=self.id) as api:
            return api.get(f"/tickets/{ticket_id}").json()  # type: ignore[no-any-return]


def _signed_in(new_page: Any, who: Person) -> Any:
    tab = new_page()
    tab.sign_in(who)
    return tab


def test_a_flash_in_the_address_is_never_shown(site, new_page):
    shop = Shop(site)
    tab = _signed_in(new_page, shop.admin)
    tab.go("/inbox?view=all&flash=Your+account+is+locked.+Call+0800+123+456")
    assert "Your account is locked" not in tab.page.inner_text("body")
    # The server's own flashes still show, once.
    tab.page.get_by_role("button", name="Apply to selected").click()
    assert tab.page.get_by_role("status").filter(has_text="Select at least one ticket.").is_visible()
    tab.page.reload()
    assert tab.page.get_by_role("status").count() == 0


def _count(tab: Any, view: str) -> str:
    return tab.page.locator(f'.views a[href="/inbox?view={view}"] .count').inner_text()  # type: ignore[no-any-return]


def test_view_counts_are_right_straight_after_the_agents_own_bulk_action(site, new_page):
    shop = Shop(site)
    made = [shop.ticket(f"Count me {i}") for i in range(3)]
    tab = _signed_in(new_page, shop.admin)
    tab.go("/inbox?view=unassigned")
    assert (_count(tab, "unassigned"), _count(tab, "mine")) == ("3", "0")
    for t in made[:2]:
        tab.page.get_by_label(f"Select ticket #{t['number']}").check()
    tab.page.get_by_label("Assign to").select_option("me")
    tab.page.get_by_role("button", name="Apply to selected").click()
    assert tab.page.get_by_role("status").filter(has_text="Updated 2 tickets.").is_visible()
    assert (_count(tab, "unassigned"), _count(tab, "mine")) == ("1", "2")


def test_the_pager_goes_both_ways_in_both_sort_orders(site, new_page):
    shop = Shop(site)
    made = [shop.ticket(f"Paged {i:02d}") for i in range(27)]
    tab = _signed_in(new_page, shop.admin)
    tab.go("/inbox?view=all&sort=created_at")  # oldest first: the next page is newer
    pager = tab.page.get_by_role("navigation", name="Pages of this list")
    assert pager.get_by_role("link").all_inner_texts() == ["Newer tickets"]
    pager.get_by_role("link", name="Newer tickets").click()
    assert tab.page.get_by_role("link", name=f"#{made[26]['number']} Paged 26").is_visible()
    assert pager.get_by_role("link").all_inner_texts() == ["Older tickets"]
    pager.get_by_role("link", name="Older tickets").click()
    assert tab.page.get_by_role("link", name=f"#{made[0]['number']} Paged 00").is_visible()
    assert pager.get_by_role("link").all_inner_texts() == ["Newer tickets"]
    tab.go("/inbox?view=all&sort=-created_at")  # newest first: the next page is older
    assert pager.get_by_role("link").all_inner_texts() == ["Older tickets"]
    pager.get_by_role("link", name="Older tickets").click()
    assert tab.page.get_by_role("link", name=f"#{made[0]['number']} Paged 00").is_visible()
    assert pager.get_by_role("link").all_inner_texts() == ["Newer tickets"]
    tab.check("inbox-pager")


def test_merging_asks_first_on_the_ticket_and_in_the_inbox(site, new_page):
    shop = Shop(site)
    a, b, c = (shop.ticket(f"Merge me {i}", tags=["mergetest"]) for i in range(3))
    tab = _signed_in(new_page, shop.admin)
    tab.go(f"/tickets/{a['id']}?view=all")
    tab.page.get_by_text("Merge, split, link").click()
    tab.page.get_by_label("Merge into #").fill(str(b["number"]))
    tab.page.get_by_role("button", name="Merge…").click()
    assert tab.page.get_by_role("heading", name="Merge this ticket?").is_visible()
    tab.check("confirm-merge")
    assert shop.get(a["id"])["merged_into_id"] is None  # nothing happened yet
    tab.page.get_by_role("button", name="Merge", exact=True).click()
    tab.page.wait_for_url(f"**/tickets/{b['id']}?view=all")
    assert shop.get(a["id"])["merged_into_id"] == b["id"]
    # The inbox's bulk merge asks too; Cancel changes nothing.
    tab.go("/inbox?view=all&tag=mergetest")
    tab.page.get_by_label(f"Select ticket #{c['number']}").check()
    tab.page.get_by_label("Merge into ticket #").fill(str(b["number"]))
    tab.page.get_by_role("button", name="Apply to selected").click()
    assert tab.page.get_by_role("heading", name="Merge tickets?").is_visible()
    tab.page.get_by_role("link", name="Cancel").click()
    assert shop.get(c["id"])["merged_into_id"] is None
    assert "/inbox?view=all&tag=mergetest" in tab.page.url


def test_removing_a_tag_from_every_ticket_asks_first(site, new_page):
    shop = Shop(site)
    t = shop.ticket("Tagged", tags=["doomed", "kept"])
    tab = _signed_in(new_page, shop.admin)
    tab.go("/admin/tags")
    tab.page.get_by_role("button", name="Remove doomed from every ticket").click()
    assert tab.page.get_by_role("heading", name="Remove the tag doomed?").is_visible()
    assert "off 1 ticket." in tab.page.inner_text("main")
    assert sorted(shop.get(t["id"])["tags"]) == ["doomed", "kept"]
    tab.page.get_by_role("button", name="Remove from every ticket").click()
    tab.page.wait_for_url("**/admin/tags?done=deleted")
    assert shop.get(t["id"])["tags"] == ["kept"]


def test_one_admin_is_one_admin(site, new_page):
    shop = Shop(site)
    tab = _signed_in(new_page, shop.admin)
    tab.go("/admin")
    text = tab.page.inner_text("main")
    assert "1 admin," in text and "1 admins" not in text


def test_the_kb_editor_body_has_one_rows_attribute(site, new_page):
    shop = Shop(site)
    tab = _signed_in(new_page, shop.admin)
    html = tab.go("/kb/new").text()
    textarea = re.search(r"<textarea[^>]*name=\"body_md\"[^>]*>", html)
    assert textarea and textarea.group(0).count("rows=") == 1, textarea


def test_tags_are_comma_separated_on_tickets_as_in_the_kb(site, new_page):
    shop = Shop(site)
    t = shop.ticket("Tag input", tags=["one"])
    tab = _signed_in(new_page, shop.admin)
    tab.go(f"/tickets/{t['id']}")
    field = tab.page.get_by_label("Tags", exact=True)
    assert tab.page.locator("#h-tags").inner_text() == "Separated by commas"
    field.fill("one, two-words, three")
    tab.page.get_by_role("button", name="Save", exact=True).click()
    assert sorted(shop.get(t["id"])["tags"]) == ["one", "three", "two-words"]
    assert tab.page.get_by_label("Tags", exact=True).input_value() == "one, three, two-words"
    tab.go("/kb/new")
    assert "comma-separated" in tab.page.get_by_text(re.compile("^Tags")).first.inner_text()
