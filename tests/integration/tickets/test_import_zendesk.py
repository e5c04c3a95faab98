"""A Zendesk export (``fixtures/zendesk_export.json``, built from the API documentation's examples)
parsed by ``importers.zendesk`` and imported through the API: users, groups and organizations
matched by name and email, comments in order, audits' status changes with their times."""

from __future__ import annotations

from pathlib import Path

from helpline.domains.accounts.models import Role
from helpline.domains.tickets.importers import zendesk
from tests.conftest import WS

FIXTURE = Path(__file__).parent / "fixtures" / "zendesk_export.json"


def test_parsing_maps_zendesk_fields() -> None:
    first, second, third = zendesk.read(FIXTURE)
    assert first["source_id"] == "35436" and first["channel"] == "email"
    assert first["requester"] == {"email": "nora@customer.test", "name": "Nora Lind"}
    assert (first["group"], first["organization"], first["assignee"]) == (
        "Facilities",
        "Printers Anonymous",
        "jonas@helpdesk.test",
    )
    assert [m["author_kind"] for m in first["messages"]] == ["customer", "agent", "agent", "customer"]
    assert [m["public"] for m in first["messages"]] == [True, True, False, True]
    assert first["messages"][3]["channel"] == "web"
    assert [c["status"] for c in first["status_changes"]] == ["pending", "open", "solved"]
    assert second["status"] == "on-hold" and second["channel"] == "phone"
    assert second["messages"][0]["body_text"] == "Left a voicemail about my invoice."
    assert third["created_at"] == "2009-07-24T12:00:00"  # passed on as it is: the import refuses it


async def test_zendesk_export_imports_with_its_history(ws: WS) -> None:
    admin = await ws.person(Role.admin)
    agent = await ws.person(Role.agent, email="jonas@helpdesk.test", name="Jonas", groups=["Facilities"])
    async with ws.client(admin) as c:
        out = (
            await c.post("/imports/tickets", json={"source": "zendesk", "tickets": zendesk.read(FIXTURE)})
        ).json()
        assert (out["created"], out["unchanged"]) == (2, 0)
        assert [(r["index"], r["source_id"]) for r in out["refused"]] == [(2, "35438")]
        tid = out["tickets"][0]["ticket_id"]
        ticket = (await c.get(f"/tickets/{tid}")).json()
        messages = (await c.get(f"/tickets/{tid}/messages")).json()["items"]
        events = (await c.get(f"/tickets/{tid}/events")).json()["items"]
        hold = (await c.get(f"/tickets/{out['tickets'][1]['ticket_id']}")).json()
        again = (
            await c.post("/imports/tickets", json={"source": "zendesk", "tickets": zendesk.read(FIXTURE)})
        ).json()
    assert (ticket["status"], ticket["priority"], ticket["type"]) == ("solved", "high", "incident")
    assert ticket["assignee_id"] == agent.user_id and ticket["group_id"] == ws.groups["Facilities"]
    assert ticket["organization_id"] is not None
    assert [m["author_user_id"] for m in messages[1:3]] == [agent.user_id, agent.user_id]
    assert "<script>" not in messages[1]["body_html"] and "<b>step away</b>" in messages[1]["body_html"]
    assert messages[2]["public"] is False
    statuses = [(e["old"], e["new"], e["created_at"][:16]) for e in events if e["field"] == "status"]
    assert statuses == [
        ("new", "pending", "2009-07-21T08:10"),
        ("pending", "open", "2009-07-22T09:00"),
        ("open", "solved", "2009-07-22T10:30"),
    ]
    assert [e["created_at"] for e in events] == sorted(e["created_at"] for e in events)
    assert hold["status"] == "on-hold" and hold["channel"] == "phone"
    assert (again["created"], again["unchanged"]) == (0, 2)
