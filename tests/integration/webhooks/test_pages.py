"""The admin pages of webhooks: admins only, the create form shows the secret once and its errors
under the field, the target page shows its delivery log and its buttons work (with CSRF)."""

from __future__ import annotations

import re

from helpline.domains.accounts.models import Role
from tests.conftest import WS, drain, field_error
from tests.integration.webhooks.helpers import allow
from tests.integration.webhooks.receiver import Receiver


async def test_agents_get_403(ws: WS, console) -> None:  # type: ignore[no-untyped-def]
    _, agent = await console(Role.agent)
    assert (await agent.get("/admin/webhooks")).status_code == 403
    form = {"name": "X", "url": "https://a.example/", "event_types": "ticket.created"}
    assert (await agent.post("/admin/webhooks", form)).status_code == 403


async def test_admin_adds_a_target_sees_its_log_and_uses_its_buttons(
    ws: WS,
    console,
    receiver: Receiver,  # type: ignore[no-untyped-def]
) -> None:
    allow(ws, receiver)
    _, admin = await console(Role.admin)
    index = await admin.get("/admin")
    assert 'href="/admin/webhooks"' in index.text
    page = await admin.get("/admin/webhooks")
    assert page.status_code == 200 and "Add a webhook" in page.text and "No webhooks yet" in page.text

    bad = await admin.post(
        "/admin/webhooks", {"name": "CRM", "url": "file:///etc/passwd", "event_types": "ticket.created"}
    )
    assert bad.status_code == 422 and "https://" in field_error(bad.text, "url")
    assert 'value="file:///etc/passwd"' in bad.text  # what was typed is shown again
    assert (
        await admin.post("/admin/webhooks", {"name": "CRM", "url": receiver.url}, csrf=False)
    ).status_code == 403

    made = await admin.post(
        "/admin/webhooks",
        {"name": "CRM", "url": receiver.url, "event_types": ["ticket.created", "ticket.solved"]},
    )
    assert made.status_code == 201, made.text
    secret = re.search(r"<code>(whsec_[A-Za-z0-9+/=]+)</code>", made.text)
    assert secret, "the new secret is shown once"
    receiver.secret = secret.group(1)
    target_id = int(re.search(r'action="/admin/webhooks/(\d+)/test"', made.text).group(1))  # type: ignore[union-attr]

    listed = await admin.get("/admin/webhooks")
    assert "CRM" in listed.text and "Enabled" in listed.text and "whsec_" not in listed.text

    r = await admin.post(f"/admin/webhooks/{target_id}/test")
    assert r.status_code == 303
    await drain(ws.platform)
    assert len(receiver.got) == 1 and receiver.got[0].verified
    shown = await admin.get(f"/admin/webhooks/{target_id}")
    assert shown.status_code == 200 and "webhook.test" in shown.text and "delivered" in shown.text
    assert "whsec_" not in shown.text and secret.group(1)[-4:] in shown.text

    r = await admin.post(f"/admin/webhooks/{target_id}/disable")
    assert r.status_code == 303
    shown = await admin.get(f"/admin/webhooks/{target_id}")
    assert "Disabled" in shown.text and "disabled by an admin" in shown.text
    assert (await admin.post(f"/admin/webhooks/{target_id}/enable")).status_code == 303
    assert "Disabled" not in (await admin.get(f"/admin/webhooks/{target_id}")).text

    rotated = await admin.post(f"/admin/webhooks/{target_id}/rotate")
    new = re.search(r"<code>(whsec_[A-Za-z0-9+/=]+)</code>", rotated.text)
    assert rotated.status_code == 200 and new and new.group(1) != secret.group(1)

    edited = await admin.post(
        f"/admin/webhooks/{target_id}",
        {"name": "CRM 2", "url": "https://u:p@x.example/", "event_types": "ticket.created"},
    )
    assert edited.status_code == 422 and "user name" in field_error(edited.text, "url")
    edited = await admin.post(
        f"/admin/webhooks/{target_id}",
        {"name": "CRM 2", "url": receiver.url, "event_types": "ticket.created"},
    )
    assert edited.status_code == 303 and "CRM 2" in (await admin.get(f"/admin/webhooks/{target_id}")).text

    assert (await admin.post(f"/admin/webhooks/{target_id}/delete")).status_code == 303
    assert (await admin.get(f"/admin/webhooks/{target_id}")).status_code == 404


async def test_another_workspaces_target_page_is_404(make_ws, console) -> None:  # type: ignore[no-untyped-def]
    other = await make_ws("Other")
    admin_other = await other.person("admin")
    async with other.client(admin_other) as c:
        r = await c.post(
            "/webhooks",
            json={"name": "Theirs", "url": "https://a.example/", "event_types": ["ticket.created"]},
        )
        their_id = r.json()["id"]
    _, admin = await console(Role.admin)
    assert (await admin.get(f"/admin/webhooks/{their_id}")).status_code == 404
    for action in ("test", "disable", "enable", "rotate", "delete"):
        assert (await admin.post(f"/admin/webhooks/{their_id}/{action}")).status_code == 404, action
