"""The console's global search over HTTP, on SQLite and PostgreSQL: relevance (a subject match first),
escaped snippets, counts and pages, filters, contacts, organizations and articles, and that an agent
never sees a ticket, a count or a snippet of a ticket outside their groups, nor another workspace's."""

from __future__ import annotations

import re
from typing import Any

from helpline.domains.accounts.models import Role
from tests.conftest import drain
from tests.integration.knowledge.conftest import KB, principal


async def made(ws: Any, who: Any, subject: str, body: str, **extra: Any) -> int:
    async with ws.client(who) as c:
        r = await c.post(
            "/tickets",
            json={"subject": subject, "body": body, "requester": {"email": "cust@example.test"}, **extra},
        )
    assert r.status_code == 201, r.text
    return int(r.json()["number"])


def ticket_links(page: str) -> list[str]:
    """Subjects of the ticket results, in order."""
    return re.findall(r'<a href="/tickets/\d+">#\d+ ([^<]*)</a>', page)


def tab_count(page: str, label: str) -> str:
    found = re.search(label + r' <span class="badge">([\d,+]+)</span>', page)
    assert found, f"no {label} tab"
    return found.group(1)


async def test_a_subject_match_ranks_first_with_a_snippet_count_and_pages(ws, console):
    admin, page = await console(Role.admin)
    await made(ws, admin, "Refund request", "I would like my money back for order 7.")
    for i in range(29):
        await made(
            ws, admin, f"Question {i}", f"Order {i} arrived late, no refund needed, thanks for asking."
        )
    await made(ws, admin, "Printer jam", "Nothing to do with money.")
    await drain(ws.platform)
    r = await page.get("/search?q=refund")
    assert r.status_code == 200
    subjects = ticket_links(r.text)
    assert subjects[0] == "Refund request"  # the oldest, yet first: it is in the subject
    assert len(subjects) == 25 and "Printer jam" not in subjects
    assert tab_count(r.text, "Tickets") == "30"
    assert "Page 1 of 2" in r.text
    assert "<mark>refund</mark>" in r.text.lower()
    second = await page.get("/search?q=refund&tab=tickets&page=2")
    assert len(ticket_links(second.text)) == 5
    assert not set(ticket_links(second.text)) & set(subjects)


async def test_snippets_never_carry_markup_of_their_own(ws, console):
    admin, page = await console(Role.admin)
    await made(ws, admin, "Odd text", "Refund <img src=x onerror=alert(1)> please, refund now.")
    await drain(ws.platform)
    r = await page.get("/search?q=refund")
    assert ticket_links(r.text) == ["Odd text"]
    assert "<img" not in r.text and "onerror=alert" not in r.text.replace("onerror=alert(1)&gt;", "")
    snippet = re.search(r'<p class="snippet">(.*?)</p>', r.text, re.S)
    assert snippet and "<mark>" in snippet.group(1)
    assert re.sub(r"</?mark>", "", snippet.group(1)).count("<") == 0


async def test_filters_narrow_the_tickets_and_bad_dates_are_explained(ws, console):
    admin, page = await console(Role.admin, groups=["Billing"])
    await made(ws, admin, "Invoice wrong", "The invoice total is wrong.", channel="phone")
    await made(ws, admin, "Invoice copy", "Send me an invoice copy.", group_id=ws.groups["Billing"])
    await drain(ws.platform)
    assert tab_count((await page.get("/search?q=invoice")).text, "Tickets") == "2"
    by_channel = await page.get("/search?q=invoice&channel=phone")
    assert ticket_links(by_channel.text) == ["Invoice wrong"]
    by_group = await page.get(f"/search?q=invoice&group_id={ws.groups['Billing']}")
    assert ticket_links(by_group.text) == ["Invoice copy"]
    by_status = await page.get("/search?q=invoice&status=solved")
    assert ticket_links(by_status.text) == [] and "with these filters" in by_status.text
    later = await page.get("/search?q=invoice&created_after=2999-01-01")
    assert ticket_links(later.text) == []
    today = await page.get("/search?q=invoice&created_after=2000-01-01&created_before=2999-12-31")
    assert len(ticket_links(today.text)) == 2
    bad = await page.get("/search?q=invoice&created_after=yesterday&status=nonsense")
    assert bad.status_code == 200
    assert "Enter a date as YYYY-MM-DD." in bad.text and "Choose a status from the list." in bad.text


async def test_an_agent_sees_no_ticket_count_or_snippet_outside_their_groups(ws, make_ws, console):
    admin, as_admin = await console(Role.admin, groups=["Billing"])
    _, as_agent = await console(Role.light_agent, groups=["Sales"])
    await made(
        ws, admin, "Billing payroll dispute", "The payroll export is secret.", group_id=ws.groups["Billing"]
    )
    await made(ws, admin, "Sales payroll question", "Which payroll plan?", group_id=ws.groups["Sales"])
    other = await make_ws("Other")
    their_admin = await other.person(Role.admin)
    await made(other, their_admin, "Payroll merger plans", "Other workspace payroll secret.")
    await drain(ws.platform)
    mine = await as_agent.get("/search?q=payroll")
    assert ticket_links(mine.text) == ["Sales payroll question"]
    assert tab_count(mine.text, "Tickets") == "1"
    assert "dispute" not in mine.text and "secret" not in mine.text.lower()
    everything = await as_admin.get("/search?q=payroll")
    assert sorted(ticket_links(everything.text)) == ["Billing payroll dispute", "Sales payroll question"]
    assert tab_count(everything.text, "Tickets") == "2"
    assert "merger" not in everything.text.lower()
    # by number too: the hidden ticket's number finds nothing for the agent
    hidden_number = re.search(r"#(\d+) Billing payroll dispute", everything.text)
    assert hidden_number
    assert "Billing payroll" not in (await as_agent.get(f"/search?q=%23{hidden_number.group(1)}")).text


async def test_contacts_organizations_and_articles_are_found_in_their_tabs(ws, make_ws, console):
    admin, page = await console(Role.admin)
    async with ws.client(admin) as c:
        r = await c.post("/organizations", json={"name": "Zephyr Logistics", "domains": ["zephyr.test"]})
        assert r.status_code == 201, r.text
        r = await c.post("/contacts", json={"name": "Quentin Zephyrson", "email": "q@zephyr.test"})
        assert r.status_code == 201, r.text
    kb = KB(ws, principal(admin, ws))
    await kb.article("Zephyr shipping times", "Zephyr parcels arrive in two days.")
    await kb.article("Internal zephyr notes", "Only for agents: zephyr escalations.", visibility="internal")
    await kb.article("Draft zephyr", "Not published.", publish=False)
    other = await make_ws("Other")
    their_admin = await other.person(Role.admin)
    async with other.client(their_admin) as c:
        await c.post("/contacts", json={"name": "Zelda Zephyr", "email": "z@elsewhere.test"})
    r = await page.get("/search?q=zephyr")
    assert r.status_code == 200
    assert tab_count(r.text, "Tickets") == "0"
    assert tab_count(r.text, "Contacts") == "1"
    assert tab_count(r.text, "Organizations") == "1"
    assert tab_count(r.text, "Articles") == "2"
    # no ticket matched: the first tab with results is shown
    assert "<mark>Zephyr</mark>son" in r.text and "Zelda" not in r.text
    orgs = await page.get("/search?q=zephyr&tab=organizations")
    assert "<mark>Zephyr</mark> Logistics" in orgs.text
    articles = await page.get("/search?q=zephyr&tab=articles")
    assert "Zephyr shipping times" in articles.text and "Internal zephyr notes" in articles.text
    assert "Draft zephyr" not in articles.text


async def test_the_api_searches_the_same_way_for_staff_only(ws, make_ws):
    admin = await ws.person(Role.admin, groups=["Billing"])
    agent = await ws.person(Role.agent, groups=["Sales"])
    customer = await ws.person(Role.customer)
    await made(ws, admin, "Payroll refund", "Refund <b>now</b>.", group_id=ws.groups["Billing"])
    await made(ws, admin, "Sales question", "A refund for our payroll plan?", group_id=ws.groups["Sales"])
    other = await make_ws("Other")
    await made(other, await other.person(Role.admin), "Payroll refund elsewhere", "Refund.")
    await drain(ws.platform)
    async with ws.client(admin) as c:
        r = await c.get("/search", params={"q": "payroll refund"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert [h["title"].split(" ", 1)[1] for h in body["hits"]] == ["Payroll refund", "Sales question"]
        assert body["counts"][0] == {"kind": "tickets", "total": 2, "capped": False}
        assert "<mark>" in body["hits"][0]["snippet"] and "<b>" not in body["hits"][0]["snippet"]
        bad = await c.get("/search", params={"q": "refund", "created_after": "soon"})
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "created_after"
    async with ws.client(agent) as c:
        body = (await c.get("/search", params={"q": "payroll refund"})).json()
        assert [h["title"].split(" ", 1)[1] for h in body["hits"]] == ["Sales question"]
        assert body["counts"][0]["total"] == 1
    async with ws.client(customer) as c:
        assert (await c.get("/search", params={"q": "refund"})).status_code == 403
