"""What the webhook tests share: adding a target through the API and reading a delivery log."""

from __future__ import annotations

from typing import Any

from tests.conftest import WS, Person
from tests.integration.webhooks.receiver import Receiver

ALL = ["ticket.created", "ticket.updated", "message.created", "ticket.solved"]


def allow(ws: WS, *receivers: Receiver) -> None:
    """The operator lets Helpline reach the local receivers (loopback is refused otherwise)."""
    ws.platform.settings.egress_allow = ",".join(f"127.0.0.1:{r.port}" for r in receivers)


async def add_target(
    ws: WS, admin: Person, url: str, *, receiver: Receiver | None = None, **body: Any
) -> dict[str, Any]:
    """Create a target through the API; the receiver (if any) is given its secret."""
    async with ws.client(admin) as c:
        r = await c.post(
            "/webhooks", json={"name": body.pop("name", "CRM"), "url": url, "event_types": ALL} | body
        )
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    if receiver is not None:
        receiver.secret = created["secret"]
    return created


async def deliveries(ws: WS, admin: Person, target_id: int) -> list[dict[str, Any]]:
    async with ws.client(admin) as c:
        r = await c.get(f"/webhooks/{target_id}/deliveries")
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items
