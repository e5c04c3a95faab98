"""The admin pages of schedules and SLA policies: admins only, the forms save, errors show under the
input at fault, the holiday import previews and imports the checked days, the policy order moves."""

from __future__ import annotations

import re

from helpline.domains.accounts.models import Role
from tests.conftest import field_error

WEEKDAYS = {f"{d}_start_0": "09:00" for d in ("mon", "tue", "wed", "thu", "fri")} | {
    f"{d}_end_0": "17:00" for d in ("mon", "tue", "wed", "thu", "fri")
}


async def test_agents_get_403(console):
    _, agent = await console(Role.agent)
    for path in (
        "/admin/schedules",
        "/admin/schedules/new",
        "/admin/sla-policies",
        "/admin/sla-policies/new",
    ):
        assert (await agent.get(path)).status_code == 403, path
    assert (await agent.post("/admin/schedules/new", {"name": "X", "timezone": "UTC"})).status_code == 403


async def test_schedule_form_saves_shows_errors_and_imports_holidays(ws, console):
    _, admin = await console(Role.admin, groups=["Support"])
    page = await admin.get("/admin/schedules/new")
    assert (
        page.status_code == 200 and 'name="mon_start_0"' in page.text and 'for="f-mon_start_0"' in page.text
    )
    bad = await admin.post(
        "/admin/schedules/new",
        {
            "name": "Office",
            "timezone": "Europe/Berlin",
            **WEEKDAYS,
            "mon_start_1": "12:00",
            "mon_end_1": "13:00",
        },
    )
    assert bad.status_code == 422
    assert "overlaps" in field_error(bad.text, "mon_start_1")
    assert 'value="12:00"' in bad.text  # what was typed is shown again
    r = await admin.post(
        "/admin/schedules/new",
        {
            "name": "Office",
            "timezone": "Europe/Berlin",
            **WEEKDAYS,
            "mon_start_1": "18:00",
            "mon_end_1": "24:00",
            "h_name_0": "Company day",
            "h_start_0": "2027-07-01",
            "h_last_0": "2027-07-02",
            "h_on_0": "1",
            "group_ids": str(ws.groups["Support"]),
        },
    )
    assert r.status_code == 303, r.text
    url = r.headers["location"].split("?")[0]
    sid = int(url.rsplit("/", 1)[1])
    async with ws.client(await ws.person(Role.admin)) as c:
        got = (await c.get(f"/schedules/{sid}")).json()
    assert got["body"]["week"]["mon"] == [["09:00", "17:00"], ["18:00", "24:00"]]
    assert got["body"]["holidays"] == [
        {"name": "Company day", "start": "2027-07-01", "end": "2027-07-02", "enabled": True}
    ]
    assert got["group_ids"] == [ws.groups["Support"]] and got["is_default"] is True
    listing = (await admin.get("/admin/schedules")).text
    assert (
        "Office" in listing
        and "Default" in listing
        and "Support" in listing
        and "Tue\u2013Fri 09:00\u201317:00" in listing
    )

    # a holiday whose last day is before its first is refused under that input
    bad = await admin.post(
        url,
        {
            "name": "Office",
            "timezone": "Europe/Berlin",
            **WEEKDAYS,
            "h_name_0": "Oops",
            "h_start_0": "2027-07-05",
            "h_last_0": "2027-07-01",
        },
    )
    assert bad.status_code == 422 and field_error(bad.text, "h_last_0")

    # import: preview DE-BY 2027, uncheck Easter Monday, import the rest
    preview = await admin.get(url, params={"country": "de", "subdiv": "by", "year": "2027"})
    assert preview.status_code == 200
    assert "Good Friday" in preview.text and "Easter Monday" in preview.text
    shown = re.findall(r'name="shown" value="([0-9-]+)"', preview.text)
    assert "2027-03-29" in shown
    r = await admin.client.post(
        f"{url}/holidays/import",
        data={
            "csrf_token": admin.csrf,
            "country": "DE",
            "subdiv": "BY",
            "year": "2027",
            "shown": shown,
            "day": [d for d in shown if d != "2027-03-29"],
        },
    )
    assert r.status_code == 303 and "imported" in r.headers["location"]
    page = (await admin.get(url)).text
    assert 'value="Easter Monday"' in page and "holidays:DE-BY" in page
    async with ws.client(await ws.person(Role.admin)) as c:
        hol = {
            h["start"]: h["enabled"] for h in (await c.get(f"/schedules/{sid}")).json()["body"]["holidays"]
        }
    assert hol["2027-03-26"] is True and hol["2027-03-29"] is False
    bad = await admin.get(url, params={"country": "XX", "year": "2027"})
    assert bad.status_code == 422 and "known" in field_error(bad.text, "country")


async def test_policy_form_saves_shows_errors_and_orders(ws, console):
    _, admin = await console(Role.admin, groups=["Tier 2"])
    page = await admin.get("/admin/sla-policies/new")
    assert page.status_code == 200 and 'name="t_urgent_first_reply_minutes"' in page.text
    form = {
        "name": "VIP",
        "active": "1",
        "c_part_0": "all",
        "c_field_0": "tags",
        "c_op_0": "includes_any",
        "c_value_0": "vip, gold",
        "c_part_1": "any",
        "c_field_1": "priority",
        "c_op_1": "in",
        "c_value_1": "high,urgent",
        "t_urgent_first_reply_minutes": "30",
        "t_urgent_first_reply_business": "calendar",
        "t_urgent_first_reply_warn": "31",
        "x_on_0": "breach",
        "x_metric_0": "",
        "x_action_0": "notify",
        "x_target_0": f"group:{ws.groups['Tier 2']}",
        "x_text_0": "",
    }
    bad = await admin.post("/admin/sla-policies/new", form)
    assert bad.status_code == 422
    assert "at most" in field_error(bad.text, "t_urgent_first_reply_warn")
    bad = await admin.post(
        "/admin/sla-policies/new", {**form, "t_urgent_first_reply_warn": "5", "c_op_1": "contains"}
    )
    assert bad.status_code == 422 and "allowed" in field_error(bad.text, "c_op_1")
    r = await admin.post("/admin/sla-policies/new", {**form, "t_urgent_first_reply_warn": "5"})
    assert r.status_code == 303, r.text
    vip = int(r.headers["location"].split("?")[0].rsplit("/", 1)[1])
    async with ws.client(await ws.person(Role.admin)) as c:
        got = (await c.get(f"/sla-policies/{vip}")).json()
        assert got["conditions"]["all"][0]["value"] == ["vip", "gold"]
        assert got["conditions"]["any"][0]["value"] == ["high", "urgent"]
        assert got["targets"] == {"urgent": {"first_reply": {"minutes": 30, "business": False, "warn": 5}}}
        assert got["escalations"][0]["actions"] == [
            {"type": "notify", "user_ids": [], "group_ids": [ws.groups["Tier 2"]]}
        ]
    edit = (await admin.get(f"/admin/sla-policies/{vip}")).text
    assert 'value="vip, gold"' in edit and 'value="30"' in edit

    r = await admin.post("/admin/sla-policies/new", {"name": "Everyone", "active": "1", "is_fallback": "1"})
    assert r.status_code == 303
    r = await admin.post("/admin/sla-policies/new", {"name": "Second", "active": "1"})
    second = int(r.headers["location"].split("?")[0].rsplit("/", 1)[1])
    names = lambda html: re.findall(r'href="/admin/sla-policies/\d+">([^<]+)</a>', html)  # noqa: E731
    assert names((await admin.get("/admin/sla-policies")).text) == ["VIP", "Second", "Everyone"]
    assert (await admin.post(f"/admin/sla-policies/{second}/move", {"direction": "up"})).status_code == 303
    listing = (await admin.get("/admin/sla-policies")).text
    assert names(listing) == ["Second", "VIP", "Everyone"] and "Fallback" in listing
    assert (await admin.post(f"/admin/sla-policies/{second}/delete")).status_code == 303
    assert names((await admin.get("/admin/sla-policies")).text) == ["VIP", "Everyone"]
