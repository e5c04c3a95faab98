"""The time rule admin page in a real browser: a rule saved through the API shows its conditions
and actions, "Try it" lists the ticket it would act on, and the page is axe-clean at desktop and
phone widths (the screenshot docs/automation.md shows: docs/img/admin/time-rule-edit.png)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from helpline.domains.accounts.models import Role
from tests.browser.conftest import Site

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img" / "admin"
RULE = {
    "name": "Remind pending",
    "conditions": {
        "all": [
            {"field": "status", "operator": "is", "value": "pending"},
            {"field": "hours_since_updated", "operator": "gt", "value": 72},
            {"field": "tags", "operator": "includes_none", "value": ["reminded"]},
        ]
    },
    "actions": [
        {"type": "add_tags", "value": ["reminded"]},
        {"type": "add_note", "value": "Waiting three days for the customer: reminded."},
    ],
}


def test_the_time_rule_page_shows_the_rule_and_tries_it(site: Site, new_page: Any) -> None:
    ws, _slug = site.workspace("Acme Support")
    admin = site.person(Role.admin, name="Avery Admin", workspace_id=ws)
    api = site.api(admin, workspace_id=ws)
    r = api.post("/time-rules", json=RULE)
    assert r.status_code == 201, r.text
    rule = r.json()["id"]
    r = api.post(
        "/tickets",
        json={
            "subject": "Waiting for the customer",
            "body": "Hello",
            "requester": {"email": "nora@example.test"},
        },
    )
    assert r.status_code == 201, r.text
    r = api.patch(f"/tickets/{r.json()['id']}", json={"status": "pending"})
    assert r.status_code == 200, r.text
    api.close()

    tab = new_page()
    tab.sign_in(admin)
    tab.go(f"/admin/time-rules/{rule}")
    assert tab.page.locator("#f-c_field_1").input_value() == "hours_since_updated"
    assert tab.page.locator("#f-a_value_0").input_value() == "reminded"
    tab.check("time-rule-edit")
    tab.page.get_by_role("button", name="Try it (saves nothing)").click()
    tab.page.wait_for_load_state()
    text = " ".join(tab.page.locator("main").inner_text().split())
    # The ticket was updated just now, not three days ago: the rule matches nothing yet, and says
    # what it would do.
    assert "0 of the latest 1000 tickets match now" in text, text[:800]
    assert "would show in its history: “tagged it reminded, added an internal note”" in text, text[:800]
    DOCS_IMG.mkdir(parents=True, exist_ok=True)
    tab.page.set_viewport_size({"width": 1280, "height": 1200})
    tab.page.screenshot(path=str(DOCS_IMG / "time-rule-edit.png"), full_page=False)
    tab.check("time-rule-tried")

    tab.go("/admin/time-rules")
    assert "tagged it reminded, added an internal note" in tab.page.locator("main").inner_text()
    tab.check("time-rules")
