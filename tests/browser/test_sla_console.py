"""SLAs in the console, in a real browser: the ticket page's SLA block (fulfilled, paused, active),
a countdown that ticks (static/sla.js, forced to a later time) from "in 5 min" to overdue and
"breached", the inbox sorted by next breach; axe-clean, and the screenshots the docs show
(docs/img/console/sla-ticket.png, sla-inbox.png)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from helpline.domains.accounts.models import Role
from helpline.domains.automation.sla import alerts
from tests.browser.conftest import Site
from tests.sla_setup import policy_json, schedule_json

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img" / "console"
TARGETS = {
    "urgent": {"first_reply": {"minutes": 5}, "resolution": {"minutes": 480}},
    "high": {"first_reply": {"minutes": 1}, "resolution": {"minutes": 240}},
    "normal": {
        "first_reply": {"minutes": 60, "warn": 60},
        "requester_wait": {"minutes": 1440},
        "resolution": {"minutes": 2880},
    },
    "low": {"first_reply": {"minutes": 480}},
}


def _sla(api: httpx.Client, tid: int, metrics: int) -> list[dict[str, Any]]:
    """The ticket's targets once the server's job runner has computed them."""
    for _ in range(100):
        sla = api.get(f"/tickets/{tid}").json()["sla"]
        if len(sla) >= metrics:
            return list(sla)
        time.sleep(0.1)
    raise AssertionError(f"no SLA on ticket {tid}")


def test_sla_block_countdown_and_inbox(site: Site, new_page: Any) -> None:
    ws, _slug = site.workspace("Northwind Support")
    admin = site.person(Role.admin, name="Ada Admin", workspace_id=ws)
    staff = site.api(admin, workspace_id=ws)
    assert staff.post("/schedules", json=schedule_json()).status_code == 201
    assert staff.post("/sla-policies", json=policy_json(TARGETS)).status_code == 201

    def ticket(subject: str, priority: str, who: str) -> int:
        customer = site.person(Role.customer, name=who, workspace_id=ws)
        with site.api(customer, workspace_id=ws) as c:
            r = c.post("/tickets", json={"subject": subject, "body": "Could you help, please?"})
            assert r.status_code == 201, r.text
            tid = int(r.json()["id"])
        if priority != "normal":
            assert staff.patch(f"/tickets/{tid}", json={"priority": priority}).status_code == 200
        return tid

    charged = ticket("Card charged twice for one order", "high", "Mia Chen")
    due = datetime.fromisoformat(_sla(staff, charged, 2)[0]["due_at"])
    # The sweep a few minutes after its first reply was due: missed.
    site.run(lambda platform: alerts.sweep(platform, now=due + timedelta(minutes=3)))
    export = ticket("Export to CSV times out", "urgent", "Omar Haddad")
    ticket("Password reset link expired", "normal", "Lena Novak")
    ticket("Question about annual pricing", "low", "Sam Ortiz")
    address = ticket("Change the shipping address", "normal", "Priya Raman")
    r = staff.post(f"/tickets/{address}/messages", json={"body": "Done — which address?", "public": True})
    assert r.status_code == 201, r.text
    assert staff.patch(f"/tickets/{address}", json={"status": "pending"}).status_code == 200
    for _ in range(100):  # the reply fulfils the first reply; pending pauses the requester's wait
        states = {t["metric"]: t["status"] for t in staff.get(f"/tickets/{address}").json()["sla"]}
        if states.get("first_reply") == "fulfilled" and states.get("requester_wait") == "paused":
            break
        time.sleep(0.1)
    _sla(staff, export, 2)

    tab = new_page()
    tab.sign_in(admin)
    DOCS_IMG.mkdir(parents=True, exist_ok=True)

    # The ticket page: fulfilled, paused and running targets, each with its words.
    tab.go(f"/tickets/{address}?view=all&sort=next_breach")
    block = tab.page.get_by_role("region", name="SLA")
    items = block.get_by_role("listitem")
    assert items.count() == 3
    text = " ".join(block.inner_text().split())
    assert "First reply" in text and "fulfilled" in text and "met in" in text
    assert "Requester wait" in text and "paused" in text and "used" in text
    assert "Resolution" in text and "active" in text and "in 1 d 23 h" in text
    tab.page.set_viewport_size({"width": 1280, "height": 900})
    tab.page.screenshot(path=str(DOCS_IMG / "sla-ticket.png"), full_page=False)
    tab.check("sla-ticket")

    # A running first reply five minutes out ticks: later, it is overdue and says "breached".
    tab.go(f"/tickets/{export}")
    first = tab.page.locator('.sla-target[data-metric="first_reply"]')
    countdown = first.locator(".sla-countdown")
    assert countdown.get_attribute("aria-live") == "off"
    before = countdown.inner_text()
    assert before in ("in 5 min", "in 4 min"), before
    assert "active" in first.locator(".sla-badge").inner_text()
    # One tick at a chosen time, read in the same script: the page's own 30-second tick cannot
    # slip in between and put the real time back.
    at = """(ms) => {
        window.helplineSla.tick(Date.now() + ms);
        const t = document.querySelector('.sla-target[data-metric="first_reply"]');
        return [t.querySelector('.sla-countdown').innerText, t.querySelector('.sla-badge').innerText,
                t.querySelector('.sla-timer').className];
    }"""
    later, _badge, _timer = tab.page.evaluate(at, 2 * 60 * 1000)
    assert later in ("in 3 min", "in 2 min"), later
    late, badge, timer = tab.page.evaluate(at, 6 * 60 * 1000)
    assert late in ("1 min overdue", "less than 1 min overdue", "2 min overdue"), late
    assert "breached" in badge and "sla-breached" in timer, (badge, timer)
    tab.page.evaluate("() => window.helplineSla.tick()")  # and back to the real time
    assert countdown.inner_text() == before or countdown.inner_text().startswith("in ")
    tab.check("sla-countdown")

    # The inbox by next breach: soonest first, the missed one marked, the countdowns in the column.
    tab.go("/inbox?view=all&sort=next_breach")
    rows = tab.page.locator("table.ticket-list tbody tr")
    subjects = [rows.nth(i).locator(".subject a").inner_text() for i in range(rows.count())]
    assert subjects[0].endswith("Export to CSV times out"), subjects
    assert subjects[1].endswith("Password reset link expired"), subjects
    column = " ".join(tab.page.locator("td.sla-col").all_inner_texts())
    assert "breached" in column and "in 7 h" in column
    tab.page.screenshot(path=str(DOCS_IMG / "sla-inbox.png"), full_page=False)
    tab.check("sla-inbox")
    # The breached filter from the form.
    tab.page.get_by_text("Filter and sort").click()
    tab.page.get_by_label("SLA").select_option("breached")
    tab.page.get_by_role("button", name="Apply", exact=True).click()
    tab.page.wait_for_load_state()
    assert "sla=breached" in tab.page.url
    subjects = tab.page.locator("table.ticket-list tbody .subject a").all_inner_texts()
    assert len(subjects) == 1 and subjects[0].endswith("Card charged twice for one order"), subjects
    staff.close()
