"""Customer and organization pages of the console over HTTP: list and search, profile with tickets and
timeline, edit, merge; light agents read but do not write; one workspace never sees another's."""

from __future__ import annotations

import re

from helpline.domains.accounts.models import Role

XSS = '<img src=x onerror="window.__xss=1">'


async def _contact(api, **body) -> dict:
    r = await api.post("/contacts", json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def test_list_search_profile_and_timeline(ws, console):
    admin, page = await console(Role.admin)
    api = ws.client(admin)
    org = (
        await api.post("/organizations", json={"name": "Initech " + XSS, "domains": ["initech.test"]})
    ).json()
    ada = await _contact(
        api,
        name="Ada " + XSS,
        email="ada@initech.test",
        tags=["vip"],
        attributes={"plan": "gold"},
        notes="Prefers phone",
    )
    await _contact(api, name="Bob Other", email="bob@elsewhere.test")
    t = (
        await api.post(
            "/tickets",
            json={
                "subject": "Printer on fire",
                "body": "Help, it burns",
                "requester_id": ada["id"],
                "channel": "email",
            },
        )
    ).json()
    assert (
        await api.post(
            f"/tickets/{t['id']}/messages", json={"body": "Internal: check toner", "public": False}
        )
    ).status_code == 201
    assert (await api.patch(f"/tickets/{t['id']}", json={"status": "solved"})).status_code == 200

    r = await page.get("/contacts?q=initech")
    assert r.status_code == 200
    assert "ada@initech.test" in r.text and "bob@elsewhere.test" not in r.text
    assert XSS not in r.text and "&lt;img src=x" in r.text  # names are escaped, never markup

    r = await page.get(f"/contacts/{ada['id']}")
    assert r.status_code == 200
    html = r.text
    for text in (
        "ada@initech.test",
        "Initech",
        "vip",
        "plan",
        "gold",
        "Prefers phone",
        "Printer on fire",
        "Interaction timeline",
        "Opened a ticket",
        "Help, it burns",
        "internal note",
        "check toner",
    ):
        assert text in html, text
    assert XSS not in html
    # Newest first: the status change (solved) comes before the opening of the ticket.
    assert html.index("solved") < html.index("Opened a ticket")

    r = await page.get(f"/organizations/{org['id']}")
    assert r.status_code == 200 and "initech.test" in r.text and "ada@initech.test" in r.text
    assert "Printer on fire" in r.text and XSS not in r.text
    r = await page.get("/organizations?q=initech.test")
    assert r.status_code == 200 and f"/organizations/{org['id']}" in r.text


async def test_cursor_paging_of_contacts(ws, console):
    admin, page = await console(Role.admin)
    api = ws.client(admin)
    for i in range(27):
        await _contact(api, name=f"Pager {i:02d}", email=f"pager{i}@p.test")
    first = await page.get("/contacts?q=Pager")
    rows = re.compile(r'href="/contacts/\d+"')
    assert len(rows.findall(first.text)) == 25
    nxt = re.search(r'href="(/contacts\?q=Pager&amp;cursor=\d+)"', first.text)
    assert nxt, first.text
    second = await page.get(nxt.group(1).replace("&amp;", "&"))
    assert len(rows.findall(second.text)) == 2 and "Pager 26" in second.text
    assert (await page.get("/contacts?cursor=abc")).status_code == 422


async def test_edit_contact_and_errors_rerender_with_422(ws, console):
    admin, page = await console(Role.agent)
    api = ws.client(admin)
    org = (await api.post("/organizations", json={"name": "Globex"})).json()
    c = await _contact(api, name="Carol", email="carol@x.test", attributes={"seats": 5})
    r = await page.get(f"/contacts/{c['id']}/edit")
    assert r.status_code == 200 and "seats: 5" in r.text
    r = await page.post(
        f"/contacts/{c['id']}/edit",
        {
            "name": "Carol Danvers",
            "organization_id": str(org["id"]),
            "tags": "vip, churn-risk",
            "attributes": "seats: 5\nplan: pro",
            "notes": "Call on Mondays",
        },
    )
    assert r.status_code == 303 and r.headers["location"] == f"/contacts/{c['id']}?done=saved"
    got = (await api.get(f"/contacts/{c['id']}")).json()
    assert got["name"] == "Carol Danvers" and got["organization_id"] == org["id"]
    assert got["tags"] == ["churn-risk", "vip"] and got["attributes"] == {"seats": 5, "plan": "pro"}
    assert got["notes"] == "Call on Mondays"
    bad = await page.post(f"/contacts/{c['id']}/edit", {"name": "x" * 300, "tags": ""})
    assert bad.status_code == 422 and 'aria-invalid="true"' in bad.text and "x" * 300 in bad.text
    # A field sent twice (a crafted post) counts once, its last value: never a 500.
    twice = await page.post(
        f"/contacts/{c['id']}/edit",
        {"name": ["A", "Carol Twice"], "tags": ["a", "b"], "organization_id": [str(org["id"])] * 2},
    )
    assert twice.status_code == 303, twice.text
    assert (await api.get(f"/contacts/{c['id']}")).json()["name"] == "Carol Twice"
    # identities: add one, a duplicate is refused on the form
    r = await page.post(f"/contacts/{c['id']}/identities", {"kind": "phone", "identity_value": "+1 555 0100"})
    assert r.status_code == 303
    other = await _contact(api, name="Dup", email="dup@x.test")
    r = await page.post(
        f"/contacts/{other['id']}/identities", {"kind": "phone", "identity_value": "+15550100"}
    )
    assert r.status_code == 409 or r.status_code == 422
    assert "in use" in r.text


async def test_merge_duplicates(ws, console):
    admin, page = await console(Role.admin)
    api = ws.client(admin)
    keep = await _contact(api, name="Erin", email="erin@x.test", tags=["a"])
    dup = await _contact(api, name="Erin (old)", email="erin.old@x.test", tags=["b"])
    t = (
        await api.post("/tickets", json={"subject": "Old ticket", "body": "x", "requester_id": dup["id"]})
    ).json()
    r = await page.get(f"/contacts/{keep['id']}/merge?q=erin.old")
    assert r.status_code == 200 and f'value="{dup["id"]}"' in r.text and f'value="{keep["id"]}"' not in r.text
    r = await page.post(f"/contacts/{keep['id']}/merge", {"source_id": str(dup["id"]), "q": "erin.old"})
    assert r.status_code == 303
    merged = (await api.get(f"/contacts/{keep['id']}")).json()
    assert {i["value"] for i in merged["identities"]} == {"erin@x.test", "erin.old@x.test"}
    assert merged["tags"] == ["a", "b"]
    assert (await api.get(f"/tickets/{t['id']}")).json()["requester_id"] == keep["id"]
    # the duplicate's profile now leads to the kept contact; merging it again is refused on the page
    r = await page.get(f"/contacts/{dup['id']}")
    assert r.status_code == 303 and r.headers["location"] == f"/contacts/{keep['id']}"
    r = await page.post(f"/contacts/{keep['id']}/merge", {"source_id": str(dup["id"])})
    assert r.status_code == 409 and "already merged" in r.text
    r = await page.post(f"/contacts/{keep['id']}/merge", {"source_id": ""})
    assert r.status_code == 422


async def test_light_agent_reads_but_cannot_edit(ws, console):
    admin = await ws.person(Role.admin)
    c = await _contact(ws.client(admin), name="Frank", email="frank@x.test")
    org = (await ws.client(admin).post("/organizations", json={"name": "Hooli"})).json()
    _, light = await console(Role.light_agent)
    r = await light.get(f"/contacts/{c['id']}")
    assert r.status_code == 200 and "Frank" in r.text and f"/contacts/{c['id']}/edit" not in r.text
    for path in (
        f"/contacts/{c['id']}/edit",
        f"/contacts/{c['id']}/merge",
        f"/organizations/{org['id']}/edit",
        "/contacts/new",
        "/organizations/new",
    ):
        assert (await light.get(path)).status_code == 403, path
    r = await light.post(f"/contacts/{c['id']}/edit", {"name": "Hacked"})
    assert r.status_code == 403
    r = await light.post(f"/organizations/{org['id']}/edit", {"name": "Hacked"})
    assert r.status_code == 403
    assert (await ws.client(admin).get(f"/contacts/{c['id']}")).json()["name"] == "Frank"


async def test_customers_never_reach_console_pages(ws, console):
    customer, page = await console(Role.customer)
    for path in ("/contacts", f"/contacts/{customer.contact_id}", "/organizations"):
        r = await page.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/login"), path


async def test_other_workspace_contacts_are_not_found(ws, make_ws, console):
    other = await make_ws("Other Co")
    stranger = await other.person(Role.admin)
    theirs = await _contact(other.client(stranger), name="Secret Sam", email="sam@other.test")
    their_org = (await other.client(stranger).post("/organizations", json={"name": "Secret Org"})).json()
    _, page = await console(Role.admin)
    assert (await page.get(f"/contacts/{theirs['id']}")).status_code == 404
    assert (await page.get(f"/contacts/{theirs['id']}/edit")).status_code == 404
    assert (await page.get(f"/organizations/{their_org['id']}")).status_code == 404
    r = await page.get("/contacts?q=Secret")
    assert "Secret Sam" not in r.text
    r = await page.post(f"/contacts/{theirs['id']}/edit", {"name": "Mine now"})
    assert r.status_code == 404
    mine = await _contact(ws.client(await ws.person(Role.admin)), name="Mine", email="mine@x.test")
    r = await page.post(f"/contacts/{mine['id']}/merge", {"source_id": str(theirs["id"])})
    assert r.status_code == 422 and "not found" in r.text
    assert (await other.client(stranger).get(f"/contacts/{theirs['id']}")).json()["merged_into_id"] is None


async def test_forms_without_csrf_token_are_refused(ws, console):
    admin, page = await console(Role.admin)
    c = await _contact(ws.client(admin), name="Gina", email="gina@x.test")
    r = await page.post(f"/contacts/{c['id']}/edit", {"name": "Changed"}, csrf=False)
    assert r.status_code == 403
    r = await page.post(f"/contacts/{c['id']}/edit", {"name": "Changed", "csrf_token": "forged"}, csrf=False)
    assert r.status_code == 403
    assert (await ws.client(admin).get(f"/contacts/{c['id']}")).json()["name"] == "Gina"


async def test_profile_pages_through_many_tickets(ws, console):
    admin, page = await console(Role.admin)
    api = ws.client(admin)
    c = await _contact(api, name="Busy", email="busy@x.test")
    for i in range(26):
        r = await api.post(
            "/tickets", json={"subject": f"Ticket {i:02d}", "body": "x", "requester_id": c["id"]}
        )
        assert r.status_code == 201
    first = await page.get(f"/contacts/{c['id']}")
    more = re.search(r'href="(/contacts/\d+\?cursor=[^"]+)">More tickets', first.text)
    assert more, first.text
    second = await page.get(more.group(1).replace("&amp;", "&"))
    assert second.status_code == 200
    first_list, second_list = (r.text.split('id="timeline-h"')[0] for r in (first, second))
    assert "Ticket 25" in first_list and "Ticket 00" not in first_list
    assert "Ticket 00" in second_list and "Ticket 25" not in second_list
    assert (await page.get(f"/contacts/{c['id']}?cursor=forged")).status_code == 422
