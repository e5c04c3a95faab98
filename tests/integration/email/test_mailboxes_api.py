"""Mailbox administration over the API (admins only, secrets write-only), the failed-mail list and
.eml download, and mailbox health as `helpline check` reports it."""

from __future__ import annotations

from typing import Any

from helpline.domains.accounts.models import Role
from helpline.domains.channels.email.health import mailbox_health
from helpline.domains.channels.email.models import Mailbox
from tests.conftest import WS, problem
from tests.integration.email.conftest import deliver, mail

mailboxes_t = Mailbox.__table__


async def test_mailbox_crud_is_admin_only_and_secrets_are_write_only(ws: WS) -> None:
    admin, agent = await ws.person(Role.admin), await ws.person(Role.agent)
    body = {
        "name": "Billing",
        "address": f"Billing-{ws.id}@Acme.test",
        "imap_host": "imap.acme.test",
        "imap_username": "billing",
        "imap_secret": "hunter2-imap",
        "smtp_secret": "hunter2-smtp",
        "webhook_secret": "whsec",
        "auto_ack": True,
        "auto_ack_body": "We got it: #{number}",
    }
    async with ws.client(agent) as c:
        problem(await c.post("/mailboxes", json=body), 403)
        problem(await c.get("/mailboxes"), 403)
    async with ws.client(admin) as c:
        r = await c.post("/mailboxes", json=body)
        assert r.status_code == 201, r.text
        item = r.json()
        assert item["address"] == f"billing-{ws.id}@acme.test"
        assert "hunter2" not in r.text and item["imap_secret_set"] and item["smtp_secret_set"]
        assert not item["dkim_private_key_set"]
        problem(await c.post("/mailboxes", json=body), 409)
        problem(await c.post("/mailboxes", json={**body, "address": "a+tag@acme.test"}), 422)
        problem(await c.post("/mailboxes", json={**body, "address": "x@acme.test", "imap_tls": "maybe"}), 422)
        mid = item["id"]
        r = await c.patch(f"/mailboxes/{mid}", json={"imap_folder": "Support", "smtp_secret": None})
        assert r.status_code == 200 and r.json()["imap_folder"] == "Support", r.text
        listed = (await c.get("/mailboxes")).json()
        assert [m["id"] for m in listed] == [mid] and "hunter2" not in str(listed)
        assert (await c.delete(f"/mailboxes/{mid}")).status_code == 204
        problem(await c.get(f"/mailboxes/{mid}"), 404)


async def test_failed_list_reprocess_and_eml_download(ws: WS, mailbox: dict[str, Any]) -> None:
    admin, agent = await ws.person(Role.admin), await ws.person(Role.agent)
    bad = await deliver(ws.platform, mailbox, b"garbage without headers\n")
    good = await deliver(ws.platform, mailbox, mail(to=mailbox["address"]))
    async with ws.client(admin) as c:
        r = await c.get("/email/inbound", params={"state": "failed"})
        assert r.status_code == 200 and [i["id"] for i in r.json()["items"]] == [bad["id"]], r.text
        assert r.json()["items"][0]["reason"]
        r = await c.get(f"/email/inbound/{good['id']}/raw")
        assert r.status_code == 200 and r.headers["content-type"].startswith("message/rfc822")
        assert b"Printer on fire" in r.content
        assert (await c.post(f"/email/inbound/{bad['id']}/reprocess")).status_code == 202
        problem(await c.post(f"/email/inbound/{good['id']}/reprocess"), 409)
    async with ws.client(agent) as c:
        problem(await c.post(f"/email/inbound/{bad['id']}/reprocess"), 403)
        # Agents see mail that reached a ticket they may see, not the quarantine.
        assert (await c.get(f"/email/inbound/{good['id']}")).status_code == 200
        problem(await c.get(f"/email/inbound/{bad['id']}"), 404)


async def test_health_reports_backlog_failures_and_fetch_errors(ws: WS, mailbox: dict[str, Any]) -> None:
    await deliver(ws.platform, mailbox, b"garbage\n")
    async with ws.platform.db.transaction() as uow:
        await uow.execute(
            mailboxes_t.update()
            .where(mailboxes_t.c.id == mailbox["id"])
            .values(imap_host="imap.invalid", last_error="ImapError: connection refused")
        )
    async with ws.platform.db.read() as conn:
        [h] = await mailbox_health(conn, ws.id)
    assert h["state"] == "fail" and h["failed_24h"] == 1
    assert "last good fetch never" in h["detail"] and "connection refused" in h["detail"]


async def test_patching_the_same_imap_server_keeps_the_fetch_position(ws: WS) -> None:
    import sqlalchemy as sa

    admin = await ws.person(Role.admin)
    body = {"name": "Help", "address": f"help-{ws.id}@acme.test", "imap_host": "imap.acme.test"}
    body |= {"imap_username": "help", "imap_folder": "INBOX"}

    async def position() -> tuple[Any, int]:
        async with ws.platform.db.read() as conn:
            row = (
                await conn.execute(
                    sa.select(mailboxes_t.c.imap_uidvalidity, mailboxes_t.c.imap_last_uid).where(
                        mailboxes_t.c.id == mid
                    )
                )
            ).one()
        return row[0], int(row[1])

    async with ws.client(admin) as c:
        mid = (await c.post("/mailboxes", json=body)).json()["id"]
        async with ws.platform.db.transaction() as uow:
            await uow.execute(
                mailboxes_t.update()
                .where(mailboxes_t.c.id == mid)
                .values(imap_uidvalidity=7, imap_last_uid=42)
            )
        # The whole form sent again (same server, folder and user): mail already fetched is not fetched again.
        r = await c.patch(f"/mailboxes/{mid}", json={**body, "name": "Help desk"})
        assert r.status_code == 200, r.text
        assert await position() == (7, 42)
        # Another folder is another mailbox on the server: its UIDs start over.
        r = await c.patch(f"/mailboxes/{mid}", json={"imap_folder": "Support"})
        assert r.status_code == 200, r.text
        assert await position() == (None, 0)
