"""The admin pages of business hours and SLA policies, in a real browser, on the configuration
``helpline demo`` sets up (``helpline.demo.sla``): the schedule with its lunch break and the
country's holidays, the Enterprise policy with its condition, targets and escalations. Axe-clean,
and the screenshots the docs show (docs/img/admin/schedule-edit.png, sla-policy-edit.png)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from helpline.demo import sla as demo_sla
from helpline.demo.texts import CUSTOM_FIELDS, GROUPS
from helpline.domains.accounts.models import Role
from tests.browser.conftest import Site

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img" / "admin"


def test_schedule_and_policy_pages_on_the_demo_configuration(site: Site, new_page: Any) -> None:
    ws, _slug = site.workspace("Acme Support", settings={"timezone": demo_sla.DEMO_TIMEZONE})
    admin = site.person(Role.admin, name="Avery Admin", workspace_id=ws)
    api = site.api(admin, workspace_id=ws)
    teams = []
    for name, description in GROUPS.items():
        r = api.post("/groups", json={"name": name, "description": description})
        assert r.status_code == 201, r.text
        teams.append(int(r.json()["id"]))
    for position, (key, label, kind, options, visible) in enumerate(CUSTOM_FIELDS):
        field = {"key": key, "label": label, "type": kind, "options": options, "position": position}
        r = api.post("/custom-fields", json={**field, "customer_visible": visible})
        assert r.status_code == 201, r.text
    now = datetime.now(UTC)
    body = demo_sla.schedule_body(demo_sla.DEMO_TIMEZONE, now)
    r = api.post("/schedules", json={"name": demo_sla.SCHEDULE, "body": body, "is_default": True})
    assert r.status_code == 201, r.text
    schedule_id = r.json()["id"]
    ids = []
    for policy in demo_sla.policies(teams):
        r = api.post("/sla-policies", json=policy)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    api.close()

    tab = new_page()
    tab.sign_in(admin)
    DOCS_IMG.mkdir(parents=True, exist_ok=True)

    tab.go(f"/admin/schedules/{schedule_id}")
    text = " ".join(tab.page.locator("main").inner_text().split())
    assert demo_sla.SCHEDULE in text and "Europe/Berlin" in text, text[:500]
    assert "Christmas Day" in text, text[:2000]
    assert tab.page.locator('input[value="12:30"]').count() >= 5
    tab.page.set_viewport_size({"width": 1280, "height": 1400})
    tab.page.screenshot(path=str(DOCS_IMG / "schedule-edit.png"), full_page=False)
    tab.check("schedule-edit")

    tab.go(f"/admin/sla-policies/{ids[0]}")
    text = " ".join(tab.page.locator("main").inner_text().split())
    assert "Enterprise plan" in text and "Enterprise" in text
    assert "sla-breached" in (tab.page.locator("main").inner_html()), text[:2000]
    tab.page.set_viewport_size({"width": 1280, "height": 1400})
    tab.page.screenshot(path=str(DOCS_IMG / "sla-policy-edit.png"), full_page=False)
    tab.check("sla-policy-edit")
