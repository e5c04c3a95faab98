"""Composing on a ticket over the API and the console pages, on SQLite and PostgreSQL: drafts, snooze,
time entries (each with two principals, and two workspaces), the console's New ticket form, @mention
mail, the signature, the history in sentences and the "via" labels."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from helpline.domains.accounts.models import Role
from helpline.domains.tickets.models import TicketSnooze
from helpline.platform import jobs
from tests.conftest import PASSWORD, drain, field_error, problem


def _row(t: dict) -> str:
    """How the ticket's row reads in an inbox list (number and subject of its link)."""
    return f'<span class="number">#{t["number"]}</span> Printer jam'


async def ticket(ws: Any, who: Any, **extra: Any) -> dict[str, Any]:
    body = {"subject": "Printer jam", "body": "It jams.", **extra}
    if "requester_id" not in body:
        body.setdefault("requester", {"email": "cust@example.test"})
    async with ws.client(who) as c:
        r = await c.post("/tickets", json=body)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


#: The composer's "last message I saw" (past every message: no new-message warning).
SEEN = str(2**62)


def later(**kw: float) -> str:
    return (datetime.now(UTC) + timedelta(**kw)).isoformat()


# --- time entries ----------------------------------------------------------------------------------


async def test_time_entries_are_logged_summed_and_kept_to_their_workspace_and_group(ws, make_ws):
    admin = await ws.person(Role.admin, groups=["Billing"])
    maya = await ws.person(Role.agent, groups=["Billing"])
    outsider = await ws.person(Role.agent, groups=["Sales"])
    customer = await ws.person(Role.customer)
    t = await ticket(ws, admin, group_id=ws.groups["Billing"])
    other = await make_ws("Other")
    stranger = await other.person(Role.admin)
    theirs = await ticket(other, stranger)
    url = f"/tickets/{t['id']}/time-entries"
    async with ws.client(maya) as c:
        r = await c.post(url, json={"minutes": 25, "note": "called back"})
        assert r.status_code == 201, r.text
        assert r.json()["minutes"] == 25 and r.json()["user_id"] == maya.user_id
        problem(await c.post(url, json={"minutes": 0}), 422)
        bad = problem(await c.post(url, json={"minutes": "lots"}), 422)
        assert any(e["field"].endswith("minutes") for e in bad["errors"])
        problem(await c.get(f"/tickets/{theirs['id']}/time-entries"), 404)
        problem(await c.post(f"/tickets/{theirs['id']}/time-entries", json={"minutes": 5}), 404)
    async with ws.client(admin) as c:
        assert (await c.post(url, json={"minutes": 20})).status_code == 201
        page = (await c.get(url)).json()
        assert page["total_minutes"] == 45 and [i["minutes"] for i in page["items"]] == [25, 20]
        by_agent = (await c.get("/reports/time?by=agent")).json()["items"]
        assert {i["user_id"]: i["minutes"] for i in by_agent} == {maya.user_id: 25, admin.user_id: 20}
        by_ticket = (await c.get("/reports/time?by=ticket")).json()["items"]
        assert by_ticket == [{"ticket_id": t["id"], "minutes": 45, "entries": 2}]
        problem(await c.get("/reports/time?by=colour"), 422)
    async with ws.client(outsider) as c:  # not in the ticket's group: the ticket does not exist for them
        problem(await c.get(url), 404)
        problem(await c.post(url, json={"minutes": 5}), 404)
        assert (await c.get("/reports/time?by=ticket")).json()["items"] == []
    async with ws.client(customer) as c:
        problem(await c.post(url, json={"minutes": 5}), 404)
    async with other.client(stranger) as c:
        problem(await c.get(url), 404)
        assert (await c.get("/reports/time?by=agent")).json()["items"] == []


# --- drafts ----------------------------------------------------------------------------------------


async def test_each_agent_reads_and_writes_only_their_own_draft(ws, make_ws):
    maya = await ws.person(Role.agent)
    jonas = await ws.person(Role.agent)
    t = await ticket(ws, maya)
    url = f"/tickets/{t['id']}/draft"
    other = await make_ws("Other")
    stranger = await other.person(Role.admin)
    async with ws.client(maya) as c:
        r = await c.put(url, json={"body": "Dear Nora, half-written", "public": False})
        assert r.status_code == 200 and r.json()["body"] == "Dear Nora, half-written"
        assert (await c.get(url)).json()["public"] is False
    async with ws.client(jonas) as c:
        assert (await c.get(url)).json()["body"] == ""
        assert (await c.put(url, json={"body": "Jonas's own"})).status_code == 200
        assert (await c.delete(url)).status_code == 204
    async with other.client(stranger) as c:
        problem(await c.get(url), 404)
        problem(await c.put(url, json={"body": "overwrite"}), 404)
        problem(await c.delete(url), 404)
    async with ws.client(maya) as c:
        assert (await c.get(url)).json()["body"] == "Dear Nora, half-written"


async def test_the_console_restores_the_draft_and_sending_clears_it(ws, console):
    maya, page = await console(Role.agent)
    t = await ticket(ws, maya)
    r = await page.post(
        f"/tickets/{t['id']}/draft", {"body": "Half a reply", "public": "true", "seen_message_id": SEEN}
    )
    assert r.status_code == 204
    assert "Half a reply</textarea>" in (await page.get(f"/tickets/{t['id']}")).text
    _jonas, other_page = await console(Role.agent)
    assert "Half a reply" not in (await other_page.get(f"/tickets/{t['id']}")).text
    sent = await page.post(
        f"/tickets/{t['id']}/messages",
        {"body": "Half a reply, done", "public": "true", "seen_message_id": SEEN},
    )
    assert sent.status_code == 303
    assert "Half a reply</textarea>" not in (await page.get(f"/tickets/{t['id']}")).text


# --- snooze ----------------------------------------------------------------------------------------


async def test_snooze_hides_from_open_views_and_a_customer_reply_wakes_it(ws, make_ws, console):
    maya, page = await console(Role.agent)
    customer = await ws.person(Role.customer)
    light = await ws.person(Role.light_agent)
    t = await ticket(ws, maya, requester_id=customer.contact_id, assignee_id=maya.user_id)
    url = f"/tickets/{t['id']}/snooze"
    other = await make_ws("Other")
    stranger = await other.person(Role.admin)
    async with other.client(stranger) as c:
        problem(await c.put(url, json={"until": later(days=1)}), 404)
        problem(await c.get(url), 404)
    async with ws.client(light) as c:
        problem(await c.put(url, json={"until": later(days=1)}), 403)
    async with ws.client(maya) as c:
        bad = problem(await c.put(url, json={"until": later(days=-1)}), 422)
        assert bad["errors"][0]["field"] == "until"
        r = await c.put(url, json={"until": later(days=1)})
        assert r.status_code == 200 and r.json()["snoozed"] is True
    mine = (await page.get("/inbox?view=mine")).text
    assert _row(t) not in mine
    snoozed = (await page.get("/inbox?view=snoozed")).text
    assert _row(t) in snoozed and "snoozed until" in snoozed
    assert "Snoozed until" in (await page.get(f"/tickets/{t['id']}")).text
    async with other.client(stranger) as c:
        problem(await c.delete(url), 404)
    async with ws.client(customer) as c:
        assert (await c.post(f"/tickets/{t['id']}/messages", json={"body": "Any news?"})).status_code == 201
    async with ws.client(maya) as c:
        assert (await c.get(url)).json()["snoozed"] is False
    assert _row(t) in (await page.get("/inbox?view=mine")).text
    history = (await page.get(f"/tickets/{t['id']}")).text
    assert "snoozed this until" in history and "The customer replied, so the snooze ended" in history


async def test_the_wake_job_brings_a_ticket_back_when_its_time_comes(ws, console):
    maya, page = await console(Role.agent)
    t = await ticket(ws, maya, assignee_id=maya.user_id)
    r = await page.post(f"/tickets/{t['id']}/snooze", {"for": "1h", "until": ""})
    assert r.status_code == 303
    assert _row(t) not in (await page.get("/inbox?view=mine")).text
    snoozes = TicketSnooze.__table__
    async with ws.platform.db.transaction() as uow:  # an hour passes
        await uow.execute(
            snoozes.update()
            .where(snoozes.c.ticket_id == t["id"])
            .values(until=datetime.now(UTC) - timedelta(seconds=1))
        )
        await jobs.enqueue(uow, "tickets.snooze_wake", {"ticket_id": t["id"]})
    await drain(ws.platform)
    assert _row(t) in (await page.get("/inbox?view=mine")).text
    assert "The snooze ended" in (await page.get(f"/tickets/{t['id']}")).text


async def test_the_snooze_form_names_a_bad_time(ws, console):
    maya, page = await console(Role.agent)
    t = await ticket(ws, maya)
    r = await page.post(f"/tickets/{t['id']}/snooze", {"for": "", "until": "2001-01-01T09:00"})
    assert r.status_code == 422 and "future" in field_error(r.text, "until")


# --- New ticket ------------------------------------------------------------------------------------


async def test_new_ticket_from_the_console_logs_a_phone_call_with_a_note(ws, console):
    maya, page = await console(Role.agent, name="Maya Jensen")
    form = await page.get("/tickets/new")
    assert form.status_code == 200 and 'name="subject"' in form.text
    r = await page.post(
        "/tickets/new",
        {
            "requester_email": "nora@example.test",
            "requester_name": "Nora Berg",
            "channel": "phone",
            "subject": "Called about her invoice",
            "public": "false",
            "body": "Nora called: invoice 2291 is charged twice.",
            "priority": "high",
            "assignee_id": str(maya.user_id),
            "tags": "billing vip",
        },
    )
    assert r.status_code == 303, r.text
    page_html = (await page.get(r.headers["location"])).text
    assert "Called about her invoice" in page_html
    assert "Maya Jensen logged a phone call" in page_html and "added an internal note" in page_html
    async with ws.client(maya) as c:
        tid = int(r.headers["location"].split("/")[2].split("?")[0])
        detail = (await c.get(f"/tickets/{tid}")).json()
        msgs = (await c.get(f"/tickets/{tid}/messages")).json()["items"]
    assert detail["channel"] == "phone" and detail["priority"] == "high"
    assert detail["assignee_id"] == maya.user_id and detail["tags"] == ["billing", "vip"]
    assert msgs[0]["public"] is False and "charged twice" in msgs[0]["body_text"]


async def test_new_ticket_form_re_renders_with_the_field_named_and_keeps_workspaces_apart(
    ws, make_ws, console
):
    _maya, page = await console(Role.agent)
    r = await page.post("/tickets/new", {"requester_email": "nora@example.test", "subject": "", "body": "x"})
    assert r.status_code == 422 and "subject" in field_error(r.text, "subject").lower()
    assert 'value="nora@example.test"' in r.text
    r = await page.post("/tickets/new", {"subject": "No one", "body": "x"})
    assert r.status_code == 422 and field_error(r.text, "requester_email")
    other = await make_ws("Other")
    stranger = await other.person(Role.admin)
    theirs = await ticket(
        other, stranger, requester={"email": "secret@example.test", "name": "Secret Person"}
    )
    r = await page.get(f"/tickets/new?requester_id={theirs['requester_id']}")
    assert "Secret Person" not in r.text
    r = await page.post(
        "/tickets/new", {"requester_id": str(theirs["requester_id"]), "subject": "Sneaky", "body": "x"}
    )
    assert r.status_code == 422 and "Secret Person" not in r.text
    found = await page.get("/tickets/new?contact_q=secret")
    assert "Secret Person" not in found.text
    _light, light_page = await console(Role.light_agent)
    assert (await light_page.get("/tickets/new")).status_code == 403


# --- mentions, signature, history, via ---------------------------------------------------------------


async def test_a_note_mentioning_a_colleague_mails_them_but_not_one_who_cannot_see_it(ws, console):
    maya, page = await console(Role.agent, name="Maya Jensen", groups=["Billing"])
    jonas = await ws.person(Role.agent, name="Jonas Weber", groups=["Billing"], password=PASSWORD)
    sales = await ws.person(Role.agent, name="Sam Sales", groups=["Sales"], password=PASSWORD)
    t = await ticket(ws, maya, group_id=ws.groups["Billing"])
    html = (await page.get(f"/tickets/{t['id']}")).text
    assert 'data-name="Jonas Weber"' in html and 'data-name="Sam Sales"' not in html
    before = len(ws.platform.mail.sent)
    r = await page.post(
        f"/tickets/{t['id']}/messages",
        {"body": "@Jonas Weber and @Sam Sales: can you check?", "public": "false", "seen_message_id": SEEN},
    )
    assert r.status_code == 303
    await drain(ws.platform)
    told = [(m["To"], m["Subject"]) for m in ws.platform.mail.sent[before:]]
    assert any(to == jonas.email and "Maya Jensen mentioned you" in subj for to, subj in told), told
    assert not any(to == sales.email for to, _ in told)


async def test_the_signature_is_set_on_the_profile_and_added_to_public_replies_only(ws, console):
    maya, page = await console(Role.agent)
    assert (await page.post("/profile/signature", {"signature": "Maya\nHelpline support"})).status_code == 303
    assert "Helpline support</textarea>" in (await page.get("/profile")).text
    t = await ticket(ws, maya)
    assert "Added below public replies" in (await page.get(f"/tickets/{t['id']}")).text
    await page.post(
        f"/tickets/{t['id']}/messages", {"body": "It is fixed.", "public": "true", "seen_message_id": SEEN}
    )
    await page.post(
        f"/tickets/{t['id']}/messages", {"body": "Internal only.", "public": "false", "seen_message_id": SEEN}
    )
    async with ws.client(maya) as c:
        msgs = (await c.get(f"/tickets/{t['id']}/messages")).json()["items"]
    assert msgs[1]["body_text"].endswith("Maya\nHelpline support")
    assert "Helpline support" not in msgs[2]["body_text"]


async def test_history_reads_as_sentences_and_replies_say_how_they_went(ws, console):
    maya, page = await console(Role.agent, name="Maya Jensen")
    jonas = await ws.person(Role.agent, name="Jonas Weber")
    customer = await ws.person(Role.customer, name="Nora Berg")
    t = await ticket(ws, maya, requester_id=customer.contact_id, channel="phone")
    async with ws.client(maya) as c:
        r = await c.patch(
            f"/tickets/{t['id']}",
            json={"assignee_id": jonas.user_id, "priority": "high", "add_tags": ["vip"]},
        )
        assert r.status_code == 200, r.text
        await c.post(f"/tickets/{t['id']}/messages", json={"body": "We are on it.", "public": True})
    async with ws.client(customer) as c:
        await c.post(f"/tickets/{t['id']}/messages", json={"body": "Thanks"})
    html = (await page.get(f"/tickets/{t['id']}")).text
    for line in (
        "Maya Jensen assigned this to Jonas Weber",
        "Maya Jensen changed the priority from normal to high",
        "Maya Jensen added tag vip",
        "Nora Berg replied by API",
    ):
        assert line in html, (line, re.findall(r"<li><time[^>]*>[^<]*</time> · ([^<]*)</li>", html))
    shown = html.split('id="history"')[1].split("</details>")[0]
    assert "message_added" not in shown and "assignee_id" not in shown and "System" not in shown
    # The agent's reply reached Nora in the portal (no mail thread); hers came by the API.
    assert "via portal" in html and "via api" not in html and "via API" in html
