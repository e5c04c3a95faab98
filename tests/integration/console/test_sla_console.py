"""SLAs in the agent console: the ticket page's SLA block, the inbox's "Next breach" column, its sort
and its "at risk" / "breached" filters, and the same sort and filters on ``GET /api/v1/tickets``;
scoped by group (two agents) and by workspace."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from helpline.domains.accounts.models import Role
from helpline.domains.automation.models import TicketSlaSummary
from helpline.domains.automation.sla import alerts, engine
from helpline.platform.feed import consumer_lag as lag
from tests.conftest import drain, problem
from tests.sla_setup import configure

sla_t = TicketSlaSummary.__table__
#: First reply in 60 min (warned from the start: at risk at once), resolution in 10 h; urgent
#: tickets get 30 min, low ones 4 h, high ones no target at all.
TARGETS = {
    "normal": {"first_reply": {"minutes": 60, "warn": 60}, "resolution": {"minutes": 600}},
    "urgent": {"first_reply": {"minutes": 30}},
    "low": {"first_reply": {"minutes": 240}},
}


async def _ticket(ws: Any, customer: Any, admin: Any, subject: str, **props: Any) -> int:
    """A ticket a customer writes (its first reply runs), then given ``props`` by an admin."""
    async with ws.client(customer) as c:
        r = await c.post("/tickets", json={"subject": subject, "body": "Help, please."})
        assert r.status_code == 201, r.text
        tid = int(r.json()["id"])
    if props:
        async with ws.client(admin) as a:
            r = await a.patch(f"/tickets/{tid}", json=props)
            assert r.status_code == 200, r.text
    await _settle(ws)
    return tid


async def _settle(ws: Any) -> None:
    """Drain until the SLA engine has every ticket event (on PostgreSQL a drain may return while a
    row waits for an older transaction to end). Other consumers in the database (a feed test's own)
    are not waited for: nothing here runs them."""
    for _ in range(50):
        await drain(ws.platform)
        async with ws.platform.db.read() as conn:
            behind = await lag(conn)
        if not any(c.behind for c in behind if c.consumer == engine.CONSUMER):
            return
        await asyncio.sleep(0.05)


async def _sla(ws: Any, admin: Any, tid: int) -> list[dict[str, Any]]:
    async with ws.client(admin) as a:
        r = await a.get(f"/tickets/{tid}")
    return list(r.json()["sla"])


def _sla_block(html: str) -> str:
    found = re.search(r'<section class="side-section sla-block".*?</section>', html, re.S)
    assert found, "no SLA block on the ticket page"
    return found.group(0)


def _target(block: str, metric: str) -> str:
    found = re.search(rf'<li class="sla-target" data-metric="{metric}">.*?</li>', block, re.S)
    assert found, f"no {metric} target shown"
    return re.sub(r"\s+", " ", found.group(0))


def _subjects(html: str) -> list[str]:
    return re.findall(r'<span class="number">#\d+</span> ([^<]+)</a>', html)


async def test_the_ticket_page_shows_a_running_first_reply_target(ws, console):
    await configure(ws, targets=TARGETS)
    admin, page = await console(Role.admin)
    customer = await ws.person(Role.customer)
    tid = await _ticket(ws, customer, admin, "Printer on fire")
    (first, _resolution) = await _sla(ws, admin, tid)
    due = datetime.fromisoformat(first["due_at"])

    html = (await page.get(f"/tickets/{tid}")).text
    block = _sla_block(html)
    row = _target(block, "first_reply")
    assert "First reply" in row
    # Warned from the start (a 60-minute margin): "at risk", in words and by icon, not colour alone.
    assert '<span class="sla-word">at risk</span>' in row and "sla-warn" in row
    # The exact due time as a <time> the countdown reads, and the countdown beside it, not announced.
    iso = due.isoformat().replace("+00:00", "Z")
    assert re.search(rf'<time datetime="{re.escape(iso[:19])}[^"]*">', row), row
    assert re.search(r'<span class="sla-countdown" aria-live="off">in (59|60) min</span>', row), row
    assert (
        "data-sla-timer" in row
        and f'data-sla-warn="{datetime.fromisoformat(first["warn_at"]).isoformat()}"' in row
    )
    resolution = _target(block, "resolution")
    assert '<span class="sla-word">active</span>' in resolution and "in 9 h 59 min" in resolution
    assert "target 10 h (business time)" in resolution
    assert "static/sla.js" in html


async def test_a_breached_target_shows_breached_and_paused_or_met_ones_say_so(ws, console):
    await configure(ws, targets=TARGETS)
    admin, page = await console(Role.admin)
    customer = await ws.person(Role.customer)
    tid = await _ticket(ws, customer, admin, "Late answer")
    first = (await _sla(ws, admin, tid))[0]
    due = datetime.fromisoformat(first["due_at"])
    assert await alerts.sweep(ws.platform, now=due + timedelta(minutes=5)) >= 1

    row = _target(_sla_block((await page.get(f"/tickets/{tid}")).text), "first_reply")
    assert '<span class="sla-word">breached</span>' in row and "sla-breached" in row
    assert "data-sla-breached" in row and "overdue" in row

    # An agent's public reply stops it: the page says it was missed (and by how much), not a countdown.
    async with ws.client(admin) as a:
        r = await a.post(f"/tickets/{tid}/messages", json={"body": "Sorry for the wait.", "public": True})
        assert r.status_code == 201, r.text
        await _settle(ws)
        row = _target(_sla_block((await page.get(f"/tickets/{tid}")).text), "first_reply")
        assert '<span class="sla-word">breached</span>' in row and "missed by" in row
        assert "data-sla-timer" not in row
        r = await a.patch(f"/tickets/{tid}", json={"status": "solved"})
        assert r.status_code == 200, r.text
    await _settle(ws)
    block = _sla_block((await page.get(f"/tickets/{tid}")).text)
    resolution = _target(block, "resolution")
    assert '<span class="sla-word">fulfilled</span>' in resolution and "met in less than 1 min" in resolution


async def test_next_breach_sort_and_sla_filters_in_the_inbox_and_the_api(ws, console):
    await configure(ws, targets=TARGETS)
    admin, page = await console(Role.admin)
    customer = await ws.person(Role.customer)
    late = await _ticket(ws, customer, admin, "Late ticket", priority="urgent")
    low = await _ticket(ws, customer, admin, "Low ticket", priority="low")
    normal = await _ticket(ws, customer, admin, "Normal ticket")
    high = await _ticket(ws, customer, admin, "High ticket without target", priority="high")
    urgent = await _ticket(ws, customer, admin, "Urgent ticket", priority="urgent")
    # "Normal" is warned from the start (a 60-minute margin): at risk, and it stays at risk after
    # the drains' sweeps have fired that warning.
    at_risk = (await page.get("/inbox?view=all&sla=at_risk")).text
    assert _subjects(at_risk) == ["Normal ticket"]
    assert '<option value="at_risk" selected>At risk</option>' in at_risk
    # The ticket page keeps the filtered list beside the ticket.
    beside = (await page.get(f"/tickets/{normal}?view=all&sla=at_risk")).text
    assert _subjects(beside) == ["Normal ticket"]
    async with ws.client(admin) as a:
        r = await a.get("/tickets", params={"sla": "at_risk", "sort": "next_breach"})
        assert [t["id"] for t in r.json()["items"]] == [normal]
    due = datetime.fromisoformat((await _sla(ws, admin, late))[0]["due_at"])
    # The sweep at its due time marks "Late" breached (the others, made after it, are due later).
    await alerts.sweep(ws.platform, now=due)

    html = (await page.get("/inbox?view=all&sort=next_breach")).text
    # Soonest running due first; "Late" has no running target left (its only one is missed) and the
    # high ticket has none at all: both last, by id.
    assert _subjects(html) == [
        "Urgent ticket",
        "Normal ticket",
        "Low ticket",
        "Late ticket",
        "High ticket without target",
    ]
    assert '<th scope="col" class="hide-narrow sla-col">Next breach</th>' in html
    assert '<option value="next_breach" selected>Next breach</option>' in html
    # The ticket links carry the list (sort and filter) like the other list parameters.
    assert f'href="/tickets/{urgent}?view=all&amp;sort=next_breach"' in html

    breached = (await page.get("/inbox?view=all&sla=breached")).text
    assert _subjects(breached) == ["Late ticket"]
    assert '<option value="breached" selected>Breached</option>' in breached
    assert f'href="/tickets/{late}?view=all&amp;sla=breached"' in breached
    assert "target missed" in breached

    async with ws.client(admin) as a:
        r = await a.get("/tickets", params={"sort": "next_breach"})
        assert [t["id"] for t in r.json()["items"]] == [urgent, normal, low, late, high]
        # Page by page, one ticket at a time, through the tickets with no due time too.
        seen, cursor = [], None
        for _ in range(6):
            params: dict[str, Any] = {"sort": "next_breach", "limit": 1}
            if cursor:
                params["cursor"] = cursor
            r = await a.get("/tickets", params=params)
            assert r.status_code == 200, r.text
            seen += [t["id"] for t in r.json()["items"]]
            cursor = r.json()["next_cursor"]
            if not cursor:
                break
        assert seen == [urgent, normal, low, late, high]
        r = await a.get("/tickets", params={"sort": "-next_breach"})
        assert [t["id"] for t in r.json()["items"]] == [high, late, low, normal, urgent]
        r = await a.get("/tickets", params={"sla": "breached"})
        assert [t["id"] for t in r.json()["items"]] == [late]
        body = problem(await a.get("/tickets", params={"sla": "soon"}), 422)
        assert any(e["field"] == "sla" for e in body["errors"]), body
        body = problem(await a.get("/tickets", params={"sort": "next_breaches"}), 422)
        assert any(e["field"] == "sort" for e in body["errors"]), body
    # A bad value in the console is ignored, not an error page.
    assert (await page.get("/inbox?view=all&sla=soon")).status_code == 200


async def test_sla_lists_show_only_what_the_agent_may_see_in_their_workspace(ws, make_ws, console):
    await configure(ws, targets=TARGETS)
    admin, admin_page = await console(Role.admin, groups=["Billing"])
    agent, agent_page = await console(Role.agent, groups=["Sales"])
    customer = await ws.person(Role.customer)
    billing = await _ticket(ws, customer, admin, "Billing dispute", group_id=ws.groups["Billing"])
    sales = await _ticket(ws, customer, admin, "Sales question", group_id=ws.groups["Sales"])
    other = await make_ws("Other Co")
    await configure(other, targets=TARGETS)
    other_admin = await other.person(Role.admin)
    foreign = await _ticket(other, await other.person(Role.customer), other_admin, "Other workspace ticket")
    due = datetime.fromisoformat((await _sla(ws, admin, billing))[0]["due_at"])
    await alerts.sweep(ws.platform, now=due + timedelta(hours=1))

    for query in ("sla=breached", "sla=at_risk", "sort=next_breach"):
        mine = _subjects((await agent_page.get(f"/inbox?view=all&{query}")).text)
        everyone = _subjects((await admin_page.get(f"/inbox?view=all&{query}")).text)
        assert "Billing dispute" not in mine and "Other workspace ticket" not in everyone, query
        if query != "sla=at_risk":  # the sweep an hour late breached both; neither is at risk now
            assert mine == ["Sales question"], query
            assert sorted(everyone) == ["Billing dispute", "Sales question"], query
    async with ws.client(agent) as c:
        r = await c.get("/tickets", params={"sla": "breached"})
        assert [t["id"] for t in r.json()["items"]] == [sales]
    async with ws.client(admin) as c:
        r = await c.get("/tickets", params={"sla": "breached", "sort": "next_breach"})
        assert sorted(t["id"] for t in r.json()["items"]) == sorted([billing, sales])
        assert foreign not in [t["id"] for t in r.json()["items"]]
    # Customers never see SLA: the filter and the sort are refused, naming the parameter.
    async with ws.client(customer) as c:
        body = problem(await c.get("/tickets", params={"sla": "breached"}), 403)
        assert body["errors"][0]["field"] == "sla"
        body = problem(await c.get("/tickets", params={"sort": "next_breach"}), 403)
        assert body["errors"][0]["field"] == "sort"


async def test_a_ticket_stays_at_risk_after_the_sweep_warned(ws, console):
    await configure(ws, targets=TARGETS)
    admin, page = await console(Role.admin)
    customer = await ws.person(Role.customer)
    tid = await _ticket(ws, customer, admin, "Warned ticket")
    async with ws.client(admin) as a:
        r = await a.get("/tickets", params={"sla": "at_risk"})
        assert [t["id"] for t in r.json()["items"]] == [tid]  # warned from the start
        warn = datetime.fromisoformat((await _sla(ws, admin, tid))[0]["warn_at"])
        # The warning fires (the drains' sweeps may already have fired it: once either way).
        await alerts.sweep(ws.platform, now=warn + timedelta(seconds=1))
        async with ws.platform.db.read() as conn:
            warned = await conn.execute(
                sa.text("SELECT count(*) FROM sla_events WHERE ticket_id = :t AND kind = 'warn'"), {"t": tid}
            )
            assert warned.scalar() == 1
        r = await a.get("/tickets", params={"sla": "at_risk"})
        assert [t["id"] for t in r.json()["items"]] == [tid]
    assert _subjects((await page.get("/inbox?view=all&sla=at_risk")).text) == ["Warned ticket"]


async def test_a_saved_view_keeps_the_sla_filter_and_the_next_breach_sort(ws, console):
    await configure(ws, targets=TARGETS)
    admin, page = await console(Role.admin)
    customer = await ws.person(Role.customer)
    await _ticket(ws, customer, admin, "Low ticket", priority="low")
    await _ticket(ws, customer, admin, "Normal ticket")
    await _ticket(ws, customer, admin, "Urgent ticket", priority="urgent")
    r = await page.post(
        "/inbox/views", data={"name": "Soonest", "query": "view=all&sort=next_breach&sla=bogus"}
    )
    assert r.status_code == 303, r.text
    soonest = (await page.get(r.headers["location"])).text
    assert _subjects(soonest) == ["Urgent ticket", "Normal ticket", "Low ticket"]
    assert '<option value="next_breach" selected>Next breach</option>' in soonest
    r = await page.post("/inbox/views", data={"name": "At risk", "query": "view=all&sla=at_risk"})
    assert r.status_code == 303, r.text
    view = r.headers["location"]
    assert _subjects((await page.get(view)).text) == ["Normal ticket"]
    # What the view shows is the filter's, not a copy: a new ticket at risk joins it.
    await _ticket(ws, customer, admin, "Second normal ticket")
    assert _subjects((await page.get(view)).text) == ["Second normal ticket", "Normal ticket"]
