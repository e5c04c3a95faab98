"""Console pages over HTTP (no browser), on SQLite and PostgreSQL: who may open what, CSRF, the
stale-send guard, bulk changes, and that a page never shows another workspace's or group's ticket."""

from __future__ import annotations

import re
from contextlib import aclosing
from typing import Any

import httpx

from helpline.domains.accounts.models import Role
from tests.conftest import PASSWORD


async def browser(ws: Any, person: Any) -> tuple[httpx.AsyncClient, str]:
    """A cookie-holding client signed in as ``person``, and its CSRF token."""
    c = httpx.AsyncClient(transport=httpx.ASGITransport(app=ws.app), base_url="http://testserver")
    r = await c.post("/api/v1/session", json={"email": person.email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return c, r.json()["csrf_token"]


async def ticket(ws: Any, who: Any, **extra: Any) -> dict[str, Any]:
    async with ws.client(who) as c:
        body = {
            "subject": "Printer jam",
            "body": "It jams.",
            "requester": {"email": "cust@example.test"},
            **extra,
        }
        r = await c.post("/tickets", json=body)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_console_needs_a_staff_session(ws):
    customer = await ws.person(Role.customer, password=PASSWORD)
    anon = httpx.AsyncClient(transport=httpx.ASGITransport(app=ws.app), base_url="http://testserver")
    async with anon:
        r = await anon.get("/inbox")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/inbox"
    c, _ = await browser(ws, customer)
    async with aclosing(c):
        r = await c.get("/inbox")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


async def test_agent_outside_the_group_gets_the_same_404_page_as_a_missing_ticket(ws):
    admin = await ws.person(Role.admin, password=PASSWORD, groups=["Billing"])
    outsider = await ws.person(Role.agent, password=PASSWORD, groups=["Sales"])
    t = await ticket(ws, admin, group_id=ws.groups["Billing"])
    c, _ = await browser(ws, outsider)
    async with aclosing(c):
        hidden = await c.get(f"/tickets/{t['id']}")
        missing = await c.get("/tickets/999999999")
        inbox = await c.get("/inbox?view=all")
    assert hidden.status_code == missing.status_code == 404
    assert "text/html" in hidden.headers["content-type"]
    assert "Printer jam" not in hidden.text and "Printer jam" not in inbox.text
    a, _ = await browser(ws, admin)
    async with aclosing(a):
        seen = await a.get(f"/tickets/{t['id']}")
    assert seen.status_code == 200 and "Printer jam" in seen.text


async def test_other_workspace_ticket_is_invisible(ws, make_ws):
    other = await make_ws("Other")
    their_admin = await other.person(Role.admin, password=PASSWORD)
    theirs = await ticket(other, their_admin, subject="Secret merger plans")
    mine = await ws.person(Role.admin, password=PASSWORD)
    c, _ = await browser(ws, mine)
    async with aclosing(c):
        assert (await c.get(f"/tickets/{theirs['id']}")).status_code == 404
        assert "Secret merger" not in (await c.get("/search?q=merger")).text
        assert "Secret merger" not in (await c.get("/inbox?view=all")).text


async def test_forms_without_the_csrf_token_are_refused(ws):
    agent = await ws.person(Role.agent, password=PASSWORD)
    t = await ticket(ws, agent)
    c, csrf = await browser(ws, agent)
    async with aclosing(c):
        r = await c.post(f"/tickets/{t['id']}/messages", data={"body": "hi", "public": "true"})
        assert r.status_code == 403
        r = await c.post(
            f"/tickets/{t['id']}/messages", data={"body": "hi", "public": "true", "csrf_token": "x" * 32}
        )
        assert r.status_code == 403
        r = await c.post(
            f"/tickets/{t['id']}/messages",
            data={"body": "hi", "public": "true", "csrf_token": csrf, "seen_message_id": "999999"},
        )
        assert r.status_code == 303
    async with ws.client(agent) as api:
        bodies = [m["body_text"] for m in (await api.get(f"/tickets/{t['id']}/messages")).json()["items"]]
    assert bodies == ["It jams.", "hi"]


async def test_a_reply_written_over_a_newer_message_is_held_back_until_confirmed(ws):
    agent = await ws.person(Role.agent, password=PASSWORD)
    t = await ticket(ws, agent)
    c, csrf = await browser(ws, agent)
    async with aclosing(c):
        page = await c.get(f"/tickets/{t['id']}")
        seen = re.search(r'name="seen_message_id" value="(\d+)"', page.text).group(1)
        async with ws.client(agent) as api:
            assert (await api.post(f"/tickets/{t['id']}/messages", json={"body": "newer"})).status_code == 201
        r = await c.post(
            f"/tickets/{t['id']}/messages",
            data={"body": "my draft", "public": "true", "csrf_token": csrf, "seen_message_id": seen},
        )
        assert r.status_code == 409
        assert "arrived while you were typing" in r.text and "my draft" in r.text
        r = await c.post(
            f"/tickets/{t['id']}/messages",
            data={
                "body": "my draft",
                "public": "true",
                "csrf_token": csrf,
                "seen_message_id": seen,
                "confirm": "1",
            },
        )
        assert r.status_code == 303


async def test_light_agent_posting_public_gets_an_error_and_nothing_is_sent(ws):
    light = await ws.person(Role.light_agent, password=PASSWORD)
    admin = await ws.person(Role.admin)
    t = await ticket(ws, admin)
    c, csrf = await browser(ws, light)
    async with aclosing(c):
        page = await c.get(f"/tickets/{t['id']}")
        assert page.status_code == 200 and 'name="public" value="false"' in page.text
        assert 'name="public" value="true"' not in page.text  # no "Public reply" choice at all
        r = await c.post(
            f"/tickets/{t['id']}/messages",
            data={"body": "public!", "public": "true", "csrf_token": csrf, "seen_message_id": "999999"},
        )
        assert r.status_code == 403
    async with ws.client(admin) as api:
        assert len((await api.get(f"/tickets/{t['id']}/messages")).json()["items"]) == 1


async def test_properties_form_refuses_a_stale_version_with_412(ws):
    agent = await ws.person(Role.agent, password=PASSWORD)
    t = await ticket(ws, agent)
    c, csrf = await browser(ws, agent)
    async with aclosing(c):
        ok = await c.post(
            f"/tickets/{t['id']}/properties",
            data={"status": "open", "priority": "high", "version": str(t["version"]), "csrf_token": csrf},
        )
        assert ok.status_code == 303
        stale = await c.post(
            f"/tickets/{t['id']}/properties",
            data={"status": "pending", "priority": "low", "version": str(t["version"]), "csrf_token": csrf},
        )
        assert stale.status_code == 412 and "Someone else changed this ticket" in stale.text
    async with ws.client(agent) as api:
        now = (await api.get(f"/tickets/{t['id']}")).json()
    assert (now["status"], now["priority"]) == ("open", "high")


async def test_bulk_changes_only_tickets_the_agent_may_change(ws):
    admin = await ws.person(Role.admin, password=PASSWORD, groups=["Billing"])
    agent = await ws.person(Role.agent, password=PASSWORD, groups=["Sales"])
    theirs = await ticket(ws, admin, group_id=ws.groups["Billing"])
    mine = await ticket(ws, admin, group_id=ws.groups["Sales"])
    c, csrf = await browser(ws, agent)
    async with aclosing(c):
        r = await c.post(
            "/inbox/bulk",
            data={
                "ticket_ids": [str(theirs["id"]), str(mine["id"])],
                "bulk_status": "pending",
                "csrf_token": csrf,
                "back": "/inbox?view=all",
            },
        )
        # The sentence comes back in the session's signed flash cookie, not in the address.
        assert r.status_code == 303 and r.headers["location"] == "/inbox?view=all"
        assert "Updated 1 ticket. 1 failed" in (await c.get(r.headers["location"])).text
    async with ws.client(admin) as api:
        assert (await api.get(f"/tickets/{theirs['id']}")).json()["status"] == "new"
        assert (await api.get(f"/tickets/{mine['id']}")).json()["status"] == "pending"


async def test_saved_views_are_private_or_shared_with_a_group(ws):
    ann = await ws.person(Role.agent, password=PASSWORD, groups=["Billing"])
    bob = await ws.person(Role.agent, password=PASSWORD, groups=["Billing"])
    cat = await ws.person(Role.agent, password=PASSWORD, groups=["Sales"])
    a, csrf = await browser(ws, ann)
    async with aclosing(a):
        r = await a.post(
            "/inbox/views",
            data={
                "name": "Urgent billing",
                "query": "view=all&priority=urgent",
                "share_group": str(ws.groups["Billing"]),
                "csrf_token": csrf,
            },
        )
        assert r.status_code == 303
        r = await a.post(
            "/inbox/views", data={"name": "Just mine", "query": "view=all&status=open", "csrf_token": csrf}
        )
    for who, sees in ((bob, {"Urgent billing"}), (cat, set())):
        c, _ = await browser(ws, who)
        async with aclosing(c):
            page = (await c.get("/inbox")).text
        assert {n for n in ("Urgent billing", "Just mine") if n in page} == sees


async def test_only_your_own_saved_view_can_be_deleted(make_ws):
    """Deleting another person's view, or one of another workspace, answered 303 as if done (nothing
    was deleted): now 404, like a view that does not exist."""
    one, two = await make_ws("One"), await make_ws("Two")
    ann = await one.person(Role.agent, password=PASSWORD)
    bob = await one.person(Role.admin, password=PASSWORD)
    stranger = await two.person(Role.admin, password=PASSWORD)
    a, csrf = await browser(one, ann)
    async with aclosing(a):
        r = await a.post("/inbox/views", data={"name": "Mine", "query": "status=open", "csrf_token": csrf})
        assert r.status_code == 303
        view_id = int(re.findall(r"/inbox/views/(\d+)/delete", (await a.get("/inbox")).text)[0])
        for other, ws in ((bob, one), (stranger, two)):
            c, their_csrf = await browser(ws, other)
            async with aclosing(c):
                theirs = await c.post(f"/inbox/views/{view_id}/delete", data={"csrf_token": their_csrf})
                missing = await c.post("/inbox/views/999999999/delete", data={"csrf_token": their_csrf})
            assert theirs.status_code == missing.status_code == 404
        assert "Mine" in (await a.get("/inbox")).text
        r = await a.post(f"/inbox/views/{view_id}/delete", data={"csrf_token": csrf})
        assert r.status_code == 303 and "Mine" not in (await a.get("/inbox")).text


async def test_bulk_merge_moves_the_selected_tickets_into_one(ws):
    agent = await ws.person(Role.agent, password=PASSWORD)
    target, a, b = [await ticket(ws, agent, subject=f"Dup {i}") for i in range(3)]
    c, csrf = await browser(ws, agent)
    async with aclosing(c):
        r = await c.post(
            "/inbox/bulk",
            data={
                "ticket_ids": [str(a["id"]), str(b["id"]), str(target["id"])],
                "bulk_merge": f"#{target['number']}",
                "csrf_token": csrf,
                "back": "/inbox?view=all",
                "confirm": "1",  # (without it, a confirmation page first)
            },
        )
        assert r.status_code == 303
        assert "Updated 2 tickets." in (await c.get(r.headers["location"])).text
    async with ws.client(agent) as api:
        for source in (a, b):
            got = (await api.get(f"/tickets/{source['id']}")).json()
            assert (got["status"], got["merged_into_id"]) == ("closed", target["id"])
        bodies = [
            m["body_text"] for m in (await api.get(f"/tickets/{target['id']}/messages")).json()["items"]
        ]
    # Their messages moved over, each merge noted.
    assert bodies.count("It jams.") == 3 and sum("was merged into this one" in b for b in bodies) == 2
