"""The inbox's "All tickets" view and its group choices, with two principals: an agent who picks all
groups, another group, or a view shared with another group still sees only the tickets that are
theirs to see (no group, one of their groups, assigned to them), while an admin sees every one."""

from __future__ import annotations

import re
from contextlib import AsyncExitStack
from typing import Any

import httpx

from helpline.domains.accounts.models import Role
from tests.conftest import PASSWORD

HIDDEN = "Billing payroll dispute"
SEEN = ("Sales renewal question", "Ungrouped printer jam", "Billing refund assigned")


async def signed_in(ws: Any, person: Any, stack: AsyncExitStack) -> tuple[httpx.AsyncClient, str]:
    c = await stack.enter_async_context(
        httpx.AsyncClient(transport=httpx.ASGITransport(app=ws.app), base_url="http://testserver")
    )
    r = await c.post("/api/v1/session", json={"email": person.email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return c, r.json()["csrf_token"]


async def _tickets(ws: Any, admin: Any, agent: Any) -> dict[str, int]:
    billing, sales = ws.groups["Billing"], ws.groups["Sales"]
    made: dict[str, int] = {}
    async with ws.client(admin) as api:
        for subject, extra in [
            (HIDDEN, {"group_id": billing}),
            (SEEN[0], {"group_id": sales}),
            (SEEN[1], {}),
            (SEEN[2], {"group_id": billing, "assignee_id": agent.user_id}),
        ]:
            r = await api.post(
                "/tickets",
                json={"subject": subject, "body": "b", "requester": {"email": "c@example.test"}, **extra},
            )
            assert r.status_code == 201, r.text
            made[subject] = r.json()["id"]
    return made


def _all_count(page: str) -> int:
    found = re.search(
        r'href="/inbox\?view=all"[^>]*>\s*<span class="view-name">All tickets</span>\s*<span class="count" '
        r'aria-label="(\d+) tickets"',
        page,
    )
    assert found, "no count on the All tickets view"
    return int(found.group(1))


async def test_an_agent_choosing_all_groups_sees_only_their_tickets(ws):
    admin = await ws.person(Role.admin, password=PASSWORD, groups=["Billing"])
    agent = await ws.person(Role.agent, password=PASSWORD, groups=["Sales"])
    made = await _tickets(ws, admin, agent)
    billing = ws.groups["Billing"]
    async with AsyncExitStack() as stack:
        as_agent, _ = await signed_in(ws, agent, stack)
        as_admin, admin_csrf = await signed_in(ws, admin, stack)
        # the admin shares a view of the Billing group's tickets with the Billing group
        r = await as_admin.post(
            "/inbox/views",
            data={
                "name": "Billing board",
                "query": f"view=all&group_id={billing}",
                "share_group": str(billing),
                "csrf_token": admin_csrf,
            },
        )
        assert r.status_code == 303
        saved = r.headers["location"].split("view=", 1)[1]

        everything = await as_admin.get("/inbox?view=all")
        assert everything.status_code == 200
        assert HIDDEN in everything.text and all(s in everything.text for s in SEEN)
        assert _all_count(everything.text) == 4
        assert HIDDEN in (await as_admin.get(f"/inbox?view={saved}")).text

        page = await as_agent.get("/inbox?view=all")
        assert page.status_code == 200
        assert all(s in page.text for s in SEEN) and HIDDEN not in page.text
        assert _all_count(page.text) == 3  # the count does not give the hidden ticket away either
        assert "Billing queue" not in page.text and "Billing board" not in page.text
        for query in (
            f"view=all&group_id={billing}",  # another group, picked by hand
            f"view=all&group_id={billing}&group_id={ws.groups['Sales']}",
            "view=all&q=payroll",
            "view=recent",
            "view=unassigned",
            "view=all&sort=-created_at&status=new&status=open",
        ):
            r = await as_agent.get(f"/inbox?{query}")
            assert r.status_code == 200 and HIDDEN not in r.text, query
        # the list alone, as the live refresh asks for it
        r = await as_agent.get("/inbox?view=all", headers={"HX-Request": "true", "HX-Target": "ticket-list"})
        assert r.status_code == 200 and SEEN[0] in r.text and HIDDEN not in r.text
        # another group's queue and a view shared with another group are not theirs to open
        assert (await as_agent.get(f"/inbox?view=group:{billing}")).status_code == 404
        assert (await as_agent.get(f"/inbox?view={saved}")).status_code == 404
        # neither is the ticket itself, through the page, search or the API
        assert (await as_agent.get(f"/tickets/{made[HIDDEN]}")).status_code == 404
        assert HIDDEN not in (await as_agent.get("/search?q=payroll")).text
    async with ws.client(agent) as api:
        listed = (await api.get("/tickets", params={"group_id": billing})).json()["items"]
        assert [t["subject"] for t in listed] == [SEEN[2]]


async def test_an_agent_added_to_the_group_sees_its_tickets_at_once(ws):
    admin = await ws.person(Role.admin, password=PASSWORD)
    agent = await ws.person(Role.agent, password=PASSWORD, groups=["Sales"])
    async with ws.platform.db.transaction() as uow:
        from helpline.domains.accounts import service as accounts

        ws.groups["Billing"] = await accounts.create_group(uow, ws.id, "Billing")
    await _tickets(ws, admin, agent)
    async with AsyncExitStack() as stack:
        as_agent, _ = await signed_in(ws, agent, stack)
        assert HIDDEN not in (await as_agent.get("/inbox?view=all")).text
        async with ws.client(admin) as api:
            groups = [ws.groups["Sales"], ws.groups["Billing"]]
            r = await api.patch(f"/users/{agent.user_id}", json={"group_ids": groups})
            assert r.status_code == 200
        page = (await as_agent.get("/inbox?view=all")).text
        assert HIDDEN in page and "Billing queue" in page
        async with ws.client(admin) as api:
            r = await api.patch(f"/users/{agent.user_id}", json={"group_ids": [ws.groups["Sales"]]})
            assert r.status_code == 200
        assert HIDDEN not in (await as_agent.get("/inbox?view=all")).text
