"""Triggers on real changes through the API, delivered by the feed: in order, each at most once per
change, checked again until nothing fires (with a cap), two that undo each other stop, a
customer's message and an agent's change told apart, Helpline's own changes not checked, the
trigger named in the history; saving checks every part; admins only, one workspace."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from helpline.domains.automation import triggers
from helpline.domains.tickets.history_text import Names, describe
from tests.conftest import WS, drain, problem


def rule(name: str, conds: list[dict[str, Any]], actions: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": name, "conditions": {"all": conds}, "actions": actions}


def when(field: str, op: str, value: Any = None) -> dict[str, Any]:
    return {"field": field, "operator": op, "value": value}


async def _save(ws: WS, admin: Any, *bodies: dict[str, Any]) -> list[int]:
    ids = []
    async with ws.client(admin) as c:
        for body in bodies:
            r = await c.post("/triggers", json=body)
            assert r.status_code == 201, r.text
            ids.append(int(r.json()["id"]))
    return ids


async def _ticket(ws: WS, customer: Any, subject: str = "Refund please") -> int:
    async with ws.client(customer) as c:
        r = await c.post("/tickets", json={"subject": subject, "body": "I was charged twice."})
        assert r.status_code == 201, r.text
    await drain(ws.platform)
    return int(r.json()["id"])


async def _read(ws: WS, who: Any, tid: int) -> dict[str, Any]:
    async with ws.client(who) as c:
        r = await c.get(f"/tickets/{tid}")
        assert r.status_code == 200, r.text
    return dict(r.json())


async def _history(ws: WS, who: Any, tid: int) -> list[str]:
    async with ws.client(who) as c:
        r = await c.get(f"/tickets/{tid}/events")
    return [describe(e, Names()) for e in r.json()["items"]]


async def test_triggers_fire_in_order_once_per_change_and_again_on_what_they_changed(ws: WS) -> None:
    admin, agent, customer = await ws.person("admin"), await ws.person("agent"), await ws.person("customer")
    await _save(
        ws,
        admin,
        # Second in order, but it matches only once the first has raised the priority.
        rule("Tag urgent ones", [when("priority", "is", "urgent")], [{"type": "add_tags", "value": ["hot"]}]),
        rule(
            "Refunds are urgent",
            [when("update_type", "is", "created"), when("actor", "is", "customer")],
            [{"type": "set_priority", "value": "urgent"}],
        ),
    )
    tid = await _ticket(ws, customer)
    t = await _read(ws, agent, tid)
    assert t["priority"] == "urgent" and t["tags"] == ["hot"]
    history = await _history(ws, agent, tid)
    assert any("Trigger “Refunds are urgent”: set the priority to urgent" in h for h in history), history
    assert any("Trigger “Tag urgent ones”: tagged it hot" in h for h in history), history
    # An agent's later change is a new change, but "created" no longer holds and the tag is there.
    async with ws.client(agent) as c:
        assert (await c.patch(f"/tickets/{tid}", json={"status": "open"})).status_code == 200
    await drain(ws.platform)
    applied = [h for h in await _history(ws, agent, tid) if h.startswith("Trigger")]
    assert len(applied) == 2, applied


async def test_two_triggers_that_undo_each_other_fire_once_each_and_stop(ws: WS) -> None:
    admin, agent, customer = await ws.person("admin"), await ws.person("agent"), await ws.person("customer")
    await _save(
        ws,
        admin,
        rule("Up", [when("priority", "is", "normal")], [{"type": "set_priority", "value": "high"}]),
        rule("Down", [when("priority", "is", "high")], [{"type": "set_priority", "value": "normal"}]),
    )
    tid = await _ticket(ws, customer)
    fired = [h for h in await _history(ws, agent, tid) if h.startswith("Trigger")]
    assert fired == [
        "Trigger “Up”: set the priority to high",
        "Trigger “Down”: set the priority to normal",
    ], fired
    assert (await _read(ws, agent, tid))["priority"] == "normal"


async def test_a_chain_of_triggers_stops_at_the_cap_and_logs_it(ws: WS, caplog: Any) -> None:
    admin, agent, customer = await ws.person("admin"), await ws.person("agent"), await ws.person("customer")
    chain = [
        rule(
            f"Step {i}",
            [when("tags", "includes_all", [f"s{i}"])] if i else [when("comment", "is", "public")],
            [{"type": "add_tags", "value": [f"s{i + 1}"]}],
        )
        for i in range(triggers.CAP + 3)
    ]
    await _save(ws, admin, *chain)
    tid = await _ticket(ws, customer)
    t = await _read(ws, agent, tid)
    fired = [h for h in await _history(ws, agent, tid) if h.startswith("Trigger")]
    assert len(fired) == triggers.CAP and f"s{triggers.CAP}" in t["tags"], fired
    assert f"s{triggers.CAP + 1}" not in t["tags"]
    assert any("hit the cap" in r.getMessage() for r in caplog.records)


async def test_a_customer_reply_fires_what_an_agent_reply_does_not_and_rules_changes_fire_nothing(
    ws: WS,
) -> None:
    admin, agent, customer = await ws.person("admin"), await ws.person("agent"), await ws.person("customer")
    await _save(
        ws,
        admin,
        rule(
            "Customer answered",
            [
                when("update_type", "is", "updated"),
                when("actor", "is", "customer"),
                when("comment", "is", "public"),
            ],
            [
                {"type": "add_tags", "value": ["answered"]},
                {"type": "add_note", "value": "The customer answered."},
            ],
        ),
    )
    tid = await _ticket(ws, customer)
    async with ws.client(agent) as c:
        r = await c.post(f"/tickets/{tid}/messages", json={"body": "Which order?", "public": True})
        assert r.status_code == 201, r.text
    await drain(ws.platform)
    assert "answered" not in (await _read(ws, agent, tid))["tags"]
    async with ws.client(customer) as c:
        r = await c.post(f"/tickets/{tid}/messages", json={"body": "Order 1234"})
        assert r.status_code == 201, r.text
    await drain(ws.platform)
    assert "answered" in (await _read(ws, agent, tid))["tags"]
    # The trigger's own note (Helpline's) fired nothing more: one firing.
    fired = [h for h in await _history(ws, agent, tid) if h.startswith("Trigger")]
    assert len(fired) == 1, fired


async def test_a_trigger_acts_only_in_its_workspace(ws: WS, make_ws: Any) -> None:
    admin, agent, customer = await ws.person("admin"), await ws.person("agent"), await ws.person("customer")
    other = await make_ws("Other desk")
    their_admin, their_customer, their_agent = (
        await other.person("admin"),
        await other.person("customer"),
        await other.person("agent"),
    )
    await _save(
        other,
        their_admin,
        rule("Theirs", [when("comment", "is", "public")], [{"type": "add_tags", "value": ["theirs"]}]),
    )
    mine = await _ticket(ws, customer)
    theirs = await _ticket(other, their_customer)
    assert "theirs" not in (await _read(ws, agent, mine))["tags"]
    assert "theirs" in (await _read(other, their_agent, theirs))["tags"]
    async with ws.client(admin) as c:
        assert (await c.get("/triggers")).json() == []


async def test_saving_a_trigger_checks_every_part_admins_only(ws: WS, make_ws: Any) -> None:
    admin, agent = await ws.person("admin"), await ws.person("agent")
    good = rule("Good", [when("actor", "is", "customer")], [{"type": "add_tags", "value": ["x"]}])
    cases = [
        (rule("A", [when("hours_since_updated", "gt", 3)], good["actions"]), "conditions.all[0].field"),
        (
            rule("B", [when("changed", "includes_any", ["colour"])], good["actions"]),
            "conditions.all[0].value[0]",
        ),
        (rule("C", [when("actor", "is", "robot")], good["actions"]), "conditions.all[0].value"),
        (rule("D", good["conditions"]["all"], [{"type": "set_status", "value": "new"}]), "actions[0].value"),
    ]
    async with ws.client(admin) as c:
        for body, field in cases:
            found = problem(await c.post("/triggers", json=body), 422)
            assert found["errors"][0]["field"] == field, (field, found)
        assert (await c.post("/triggers", json=good)).status_code == 201
        trigger_id = (await c.get("/triggers")).json()[0]["id"]
    async with ws.client(admin) as c:  # and a time rule may not name a change's facts
        bad = rule("T", [when("actor", "is", "customer")], [{"type": "add_tags", "value": ["x"]}])
        found = problem(await c.post("/time-rules", json=bad), 422)
        assert found["errors"][0]["field"] == "conditions.all[0].field"
    async with ws.client(agent) as c:
        problem(await c.post("/triggers", json={**good, "name": "Mine"}), 403)
    other = await make_ws("Other desk")
    async with other.client(await other.person("admin")) as c:
        problem(await c.get(f"/triggers/{trigger_id}"), 404)
        problem(await c.delete(f"/triggers/{trigger_id}"), 404)
    async with ws.platform.db.read() as conn:
        assert (
            await conn.execute(
                sa.select(triggers.triggers_t.c.name).where(triggers.triggers_t.c.id == trigger_id)
            )
        ).scalar() == "Good"
