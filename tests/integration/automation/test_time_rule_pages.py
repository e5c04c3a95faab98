"""The admin pages of time rules: admins only, the form saves (conditions with the timed fields,
actions with a group), errors show under the input at fault (a rule that would act again and again
is refused under its actions), "Try it" lists the tickets it would act on and saves nothing, the
order moves; SLA policies' pages do not offer the timed fields."""

from __future__ import annotations

import re

from helpline.domains.accounts.models import Role
from tests.conftest import field_error

FORM = {
    "name": "Remind pending",
    "active": "1",
    "c_part_0": "all",
    "c_field_0": "status",
    "c_op_0": "is",
    "c_value_0": "pending",
    "c_part_1": "all",
    "c_field_1": "tags",
    "c_op_1": "includes_none",
    "c_value_1": "reminded",
    "a_type_0": "add_tags",
    "a_target_0": "",
    "a_value_0": "reminded",
}


async def test_agents_get_403_on_time_rule_pages(console):
    _, agent = await console(Role.agent)
    for path in ("/admin/time-rules", "/admin/time-rules/new"):
        assert (await agent.get(path)).status_code == 403, path
    assert (await agent.post("/admin/time-rules/new", FORM)).status_code == 403


async def test_time_rule_form_saves_shows_errors_tries_and_orders(ws, console):
    _, admin = await console(Role.admin, groups=["Billing"])
    page = await admin.get("/admin/time-rules/new")
    assert page.status_code == 200 and '<option value="hours_since_updated">' in page.text
    sla_page = (await admin.get("/admin/sla-policies/new")).text
    assert "hours_since_updated" not in sla_page  # a policy is chosen per change, not as time passes

    bad = await admin.post("/admin/time-rules/new", {**FORM, "a_value_0": "other"})
    assert bad.status_code == 422 and "make one of the conditions" in field_error(bad.text, "actions")
    bad = await admin.post(
        "/admin/time-rules/new",
        {**FORM, "c_field_0": "hours_since_updated", "c_op_0": "gt", "c_value_0": "soon"},
    )
    assert bad.status_code == 422 and "hours" in field_error(bad.text, "c_value_0")

    customer = await ws.person(Role.customer)
    async with ws.client(customer) as c:
        r = await c.post("/tickets", json={"subject": "Waiting on you", "body": "Hi"})
        tid = r.json()["id"]
    async with ws.client(await ws.person(Role.agent)) as c:
        assert (await c.patch(f"/tickets/{tid}", json={"status": "pending"})).status_code == 200
    tried = await admin.post("/admin/time-rules/new", {**FORM, "try": "1"})
    assert tried.status_code == 200 and f'href="/tickets/{tid}"' in tried.text
    assert "1 of the latest 1000 tickets match now" in tried.text
    assert "Each would show in its history: “tagged it reminded”" in tried.text
    assert not re.findall(r'href="/admin/time-rules/\d+"', (await admin.get("/admin/time-rules")).text)

    group = ws.groups["Billing"]
    r = await admin.post(
        "/admin/time-rules/new",
        {**FORM, "a_type_1": "set_group", "a_target_1": f"group:{group}", "a_value_1": ""},
    )
    assert r.status_code == 303, r.text
    rule = int(r.headers["location"].split("?")[0].rsplit("/", 1)[1])
    async with ws.client(await ws.person(Role.admin)) as c:
        got = (await c.get(f"/time-rules/{rule}")).json()
    assert got["actions"] == [
        {"type": "add_tags", "value": ["reminded"]},
        {"type": "set_group", "value": group},
    ]
    assert got["conditions"]["all"][1] == {
        "field": "tags",
        "operator": "includes_none",
        "value": ["reminded"],
    }
    edit = (await admin.get(f"/admin/time-rules/{rule}")).text
    assert f'<option value="group:{group}" selected>' in edit and 'value="reminded"' in edit

    r = await admin.post("/admin/time-rules/new", {**FORM, "name": "Second"})
    second = int(r.headers["location"].split("?")[0].rsplit("/", 1)[1])
    names = lambda html: re.findall(r'href="/admin/time-rules/\d+">([^<]+)</a>', html)  # noqa: E731
    assert names((await admin.get("/admin/time-rules")).text) == ["Remind pending", "Second"]
    assert (await admin.post(f"/admin/time-rules/{second}/move", {"direction": "up"})).status_code == 303
    assert names((await admin.get("/admin/time-rules")).text) == ["Second", "Remind pending"]
    assert (await admin.post(f"/admin/time-rules/{second}/delete", {})).status_code == 303
    assert names((await admin.get("/admin/time-rules")).text) == ["Remind pending"]
