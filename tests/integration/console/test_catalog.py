"""Tags and custom fields have one set of rules (``tickets.catalog``): the API and the admin pages refuse
the same bodies with the same message on the same field, and rename tags the same way. Each case runs
through both; a rule written twice that drifts fails here."""

from __future__ import annotations

import html
import re
from typing import Any

from helpline.domains.accounts.models import Role
from tests.conftest import field_error, problem

#: (the field as the API takes it, the field at fault, the message), refused alike by both ways in.
REFUSED = [
    ({"key": "tier", "label": "Tier", "type": "dropdown"}, "options", "a dropdown needs at least one option"),
    (
        {"key": "note", "label": "Note", "type": "text", "options": ["a"]},
        "options",
        "only dropdown fields have options",
    ),
    (
        {"key": "size", "label": "Size", "type": "dropdown", "options": ["S", "S"]},
        "options",
        "options must be distinct",
    ),
]


def _form(body: dict[str, Any]) -> dict[str, Any]:
    """The admin page's form for an API body (options one a line, booleans as checkboxes)."""
    form = {k: v for k, v in body.items() if k not in ("options", "required", "customer_visible")}
    form["options"] = "\n".join(body.get("options", []))
    for flag in ("required", "customer_visible"):
        if body.get(flag):
            form[flag] = "on"
    return form


async def test_field_definitions_are_refused_alike_by_the_api_and_the_pages(ws: Any, console: Any) -> None:
    me, page = await console(Role.admin)
    async with ws.client(me) as api:
        for body, field, message in REFUSED:
            refused = problem(await api.post("/custom-fields", json=body), 422)
            assert {"field": field, "message": message} in refused["errors"], refused
            r = await page.post("/admin/fields", _form(body))
            assert r.status_code == 422, r.text
            assert field_error(r.text, field) == message
        assert (await api.get("/custom-fields")).json() == []

        # A key is taken once, whichever way the first one came in.
        plan = {"key": "plan", "label": "Plan", "type": "dropdown", "options": ["Free", "Pro"]}
        assert (await page.post("/admin/fields", _form(plan))).status_code == 303
        taken = problem(await api.post("/custom-fields", json={**plan, "label": "Again"}), 409)
        assert taken["errors"] == [{"field": "key", "message": "taken"}]
        api_made = {"key": "seats", "label": "Seats", "type": "number", "position": 2}
        assert (await api.post("/custom-fields", json=api_made)).status_code == 201
        r = await page.post("/admin/fields", _form({**api_made, "label": "Again"}))
        assert r.status_code == 422 and field_error(r.text, "key") == "taken"

        # Changing the options of a dropdown: the same check, the same message.
        [made] = [f for f in (await api.get("/custom-fields")).json() if f["key"] == "plan"]
        same = problem(await api.patch(f"/custom-fields/{made['id']}", json={"options": ["A", "A"]}), 422)
        assert {"field": "options", "message": "options must be distinct"} in same["errors"]
        r = await page.post(f"/admin/fields/{made['id']}", {"label": "Plan", "options": "A\nA"})
        assert r.status_code == 422 and field_error(r.text, "options") == "options must be distinct"
        fields = {f["key"]: f for f in (await api.get("/custom-fields")).json()}
        assert fields["plan"]["options"] == ["Free", "Pro"] and fields["seats"]["position"] == 2


async def _ticket(api: Any, tags: list[str]) -> int:
    r = await api.post(
        "/tickets", json={"subject": "s", "body": "b", "requester": {"email": "c@x.test"}, "tags": tags}
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def _tags(api: Any, ticket_id: int) -> list[str]:
    return sorted((await api.get(f"/tickets/{ticket_id}")).json()["tags"])


async def test_tags_rename_and_merge_alike_through_the_api_and_the_pages(ws: Any, console: Any) -> None:
    me, page = await console(Role.admin)
    async with ws.client(me) as api:
        both, one = await _ticket(api, ["vip", "gold"]), await _ticket(api, ["vip"])
        r = await api.patch("/tags/vip", json={"name": "gold"})
        assert r.json() == {"name": "gold", "count": 2}
        assert await _tags(api, both) == ["gold"] and await _tags(api, one) == ["gold"]

        both, one = await _ticket(api, ["red", "blue"]), await _ticket(api, ["red"])
        assert (await page.post("/admin/tags/red/rename", {"new_name": "blue"})).status_code == 303
        assert await _tags(api, both) == ["blue"] and await _tags(api, one) == ["blue"]

        # A tag nobody uses: the same refusal and the same sentence.
        missing = problem(await api.patch("/tags/nope", json={"name": "other"}), 404)
        r = await page.post("/admin/tags/nope/rename", {"new_name": "other"})
        shown = re.search(r'<div class="flash error" role="alert">([^<]*)</div>', r.text)
        assert r.status_code == 422 and shown and html.unescape(shown.group(1)) == missing["detail"]

        assert (await api.delete("/tags/gold")).status_code == 204
        assert (await page.post("/admin/tags/blue/delete", {"confirm": "1"})).status_code == 303
        assert (await api.get("/tags")).json() == []


async def test_only_admins_change_the_catalogue_either_way(ws: Any, console: Any) -> None:
    agent, page = await console(Role.agent)
    async with ws.client(agent) as api:
        problem(await api.post("/custom-fields", json={"key": "k", "label": "K", "type": "text"}), 403)
        problem(await api.patch("/tags/vip", json={"name": "gold"}), 403)
    assert (await page.post("/admin/fields", {"key": "k", "label": "K", "type": "text"})).status_code == 403
    assert (await page.post("/admin/tags/vip/rename", {"new_name": "gold"})).status_code == 403
