"""The email channel's admin pages over HTTP: mailboxes with their health (the status page), the
create/edit form (secrets write-only, field errors instead of a 500), the connection test against a
real Dovecot, and the failed-mail list with reprocess and the original .eml. Only admins of the
mailbox's own workspace get in."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from helpline.domains.accounts.models import Role
from helpline.domains.channels.email.models import InboundMail, Mailbox
from tests.conftest import WS, Console, drain, field_error, free_port
from tests.integration.email.conftest import allow, deliver, mail, make_mailbox
from tests.integration.email.dovecot import Dovecot, dovecot  # noqa: F401 - the fixture
from tests.integration.email.test_transports import imap_admin

mailboxes_t = Mailbox.__table__
inbound_t = InboundMail.__table__
XSS = '<img src=x onerror="window.__xss=1">'


def form(**over: Any) -> dict[str, str]:
    """Every field the mailbox form submits, as a browser sends it (blank secrets, ticked boxes "on")."""
    values = {
        "name": "Billing",
        "address": f"billing-{uuid.uuid4().hex[:8]}@acme.test",
        "active": "on",
        "group_id": "",
        "imap_host": "",
        "imap_port": "993",
        "imap_tls": "ssl",
        "imap_username": "",
        "imap_auth": "password",
        "imap_secret": "",
        "imap_folder": "INBOX",
        "imap_move_to": "",
        "smtp_host": "",
        "smtp_port": "587",
        "smtp_tls": "starttls",
        "smtp_username": "",
        "smtp_secret": "",
        "dkim_domain": "",
        "dkim_selector": "",
        "dkim_private_key": "",
        "auto_ack_subject": "",
        "auto_ack_body": "",
        "webhook_secret": "",
    }
    values.update({k: str(v) for k, v in over.items()})
    return values


async def row(ws: WS, mailbox_id: int) -> dict[str, Any] | None:
    async with ws.platform.db.read() as conn:
        found = (
            (await conn.execute(sa.select(mailboxes_t).where(mailboxes_t.c.id == mailbox_id)))
            .mappings()
            .first()
        )
    return dict(found) if found else None


async def create(page: Console, **over: Any) -> int:
    r = await page.post("/admin/mailboxes", form(**over))
    assert r.status_code == 303, r.text
    found = re.fullmatch(r"/admin/mailboxes/(\d+)\?done=created", r.headers["location"])
    assert found, r.headers["location"]
    return int(found.group(1))


async def test_admin_creates_edits_and_deletes_a_mailbox(ws: WS, console: Any) -> None:
    _, admin = await console(Role.admin, groups=["Billing team"])
    r = await admin.get("/admin/mailboxes")
    assert r.status_code == 200 and "No mailboxes yet" in r.text
    assert 'href="/admin/mailboxes"' in r.text and 'href="/admin/email/failed"' in r.text  # admin nav
    r = await admin.get("/admin/mailboxes/new")
    assert r.status_code == 200 and 'for="f-imap_secret"' in r.text and "Create mailbox" in r.text

    address = f"Billing-{uuid.uuid4().hex[:6]}@Acme.test"
    mid = await create(
        admin,
        name="Billing " + XSS,
        address=address,
        group_id=ws.groups["Billing team"],
        imap_host="imap.acme.test",
        imap_username="billing",
        imap_secret="hunter2-imap",
        smtp_host="smtp.acme.test",
        smtp_secret="hunter2-smtp",
        webhook_secret="whsec-1",
        auto_ack="on",
        auto_ack_body="We got it: #{number}",
    )
    saved = await row(ws, mid)
    assert saved is not None
    assert saved["address"] == address.lower() and saved["workspace_id"] == ws.id
    assert saved["imap_secret"] == "hunter2-imap" and saved["smtp_secret"] == "hunter2-smtp"
    assert saved["group_id"] == ws.groups["Billing team"] and saved["auto_ack"] is True
    assert saved["imap_port"] == 993 and saved["smtp_tls"] == "starttls" and not saved["dkim_private_key"]

    page = (await admin.get(f"/admin/mailboxes/{mid}?done=created")).text
    assert "Created." in page
    assert "hunter2" not in page and "whsec-1" not in page
    assert XSS not in page and "Billing &lt;img" in page
    assert re.search(r'id="h-imap_secret"><strong>Set\.</strong>', page)
    assert re.search(r'id="h-dkim_private_key"><strong>Not set\.</strong>', page)
    assert f"/api/v1/mailboxes/{mid}/inbound" in page  # where the webhook posts

    # Saving the form with blank secrets keeps them, and an unchanged IMAP server keeps its place.
    async with ws.platform.db.transaction() as uow:
        await uow.execute(mailboxes_t.update().where(mailboxes_t.c.id == mid).values(imap_last_uid=42))
    r = await admin.post(
        f"/admin/mailboxes/{mid}",
        form(
            name="Billing desk",
            address=address,
            group_id="",
            imap_host="imap.acme.test",
            imap_username="billing",
            smtp_host="smtp.acme.test",
            auto_ack_body="We got it: #{number}",
            imap_port="143",
            imap_tls="starttls",
            clear_webhook_secret="on",
        ),
    )
    assert r.status_code == 303 and r.headers["location"] == f"/admin/mailboxes/{mid}?done=saved", r.text
    saved = await row(ws, mid)
    assert saved is not None
    assert saved["name"] == "Billing desk" and saved["imap_port"] == 143 and saved["imap_tls"] == "starttls"
    assert saved["imap_secret"] == "hunter2-imap" and saved["smtp_secret"] == "hunter2-smtp"
    assert saved["webhook_secret"] == "" and saved["group_id"] is None
    assert saved["auto_ack"] is False  # the box was not ticked
    assert saved["imap_last_uid"] == 42
    # A new secret replaces the old one; another IMAP server starts from the beginning.
    r = await admin.post(
        f"/admin/mailboxes/{mid}",
        form(name="Billing desk", address=address, imap_host="imap2.acme.test", imap_secret="new-imap"),
    )
    assert r.status_code == 303, r.text
    saved = await row(ws, mid)
    assert saved is not None
    assert saved["imap_secret"] == "new-imap" and saved["imap_last_uid"] == 0
    assert saved["smtp_secret"] == "hunter2-smtp" and saved["smtp_host"] == ""

    listing = (await admin.get("/admin/mailboxes")).text
    assert f'href="/admin/mailboxes/{mid}"' in listing and "Billing desk" in listing and "Never" in listing

    # Delete asks for confirmation first.
    r = await admin.post(f"/admin/mailboxes/{mid}/delete", {})
    assert r.status_code == 422 and "Tick the box" in field_error(r.text, "confirm")
    assert await row(ws, mid) is not None
    r = await admin.post(f"/admin/mailboxes/{mid}/delete", {"confirm": "on"})
    assert r.status_code == 303 and r.headers["location"] == "/admin/mailboxes?done=deleted"
    assert await row(ws, mid) is None
    assert (await admin.get(f"/admin/mailboxes/{mid}")).status_code == 404


@pytest.mark.parametrize(
    "over, field, message",
    [
        ({"imap_port": "99999"}, "imap_port", "a port number from 1 to 65535"),
        ({"smtp_port": "abc"}, "smtp_port", "a port number from 1 to 65535"),
        ({"address": "not an address"}, "address", "not an email address"),
        ({"address": "help+desk@acme.test"}, "address", "without +tag"),
        ({"name": ""}, "name", "at least 1 character"),
        ({"name": "nul\x00"}, "name", "U+0000"),
        ({"imap_tls": "maybe"}, "imap_tls", "should match"),
        ({"group_id": "999999999"}, "group_id", "no group"),
        ({"group_id": "x"}, "group_id", "integer"),
        ({"dkim_private_key": "not a key"}, "dkim_private_key", "PEM"),
    ],
)
async def test_bad_input_is_shown_by_its_field(
    ws: WS,
    console: Any,
    over: dict[str, str],
    field: str,
    message: str,
) -> None:
    _, admin = await console(Role.admin)
    r = await admin.post("/admin/mailboxes", form(**over, imap_secret="typed-secret"))
    assert r.status_code == 422, r.text
    assert message in field_error(r.text, field)
    assert "Not saved: check the fields marked below." in r.text
    assert "typed-secret" not in r.text and "type them again" in r.text  # a typed secret is not echoed back
    async with ws.platform.db.read() as conn:
        n = (
            await conn.execute(
                sa.select(sa.func.count()).select_from(mailboxes_t).where(mailboxes_t.c.workspace_id == ws.id)
            )
        ).scalar_one()
    assert n == 0
    # the same rules on the edit form, which keeps the mailbox as it was
    mid = await create(admin)
    before = await row(ws, mid)
    assert before is not None
    r = await admin.post(f"/admin/mailboxes/{mid}", form(**{"address": before["address"], **over}))
    assert r.status_code == 422, r.text
    assert message in field_error(r.text, field)
    assert await row(ws, mid) == before


async def test_an_address_in_use_is_refused_by_its_field(ws: WS, console: Any) -> None:
    _, admin = await console(Role.admin)
    taken = (await make_mailbox(ws.platform, ws.id))["address"]
    r = await admin.post("/admin/mailboxes", form(address=taken))
    assert r.status_code == 422 and "in use" in field_error(r.text, "address")
    mid = await create(admin)
    r = await admin.post(f"/admin/mailboxes/{mid}", form(address=taken))
    assert r.status_code == 422 and "in use" in field_error(r.text, "address")


async def test_connection_test_against_dovecot(
    ws: WS,
    console: Any,
    dovecot: Dovecot,  # noqa: F811
    smtp_sink: Any,
) -> None:
    _, admin = await console(Role.admin)
    folder = f"T{uuid.uuid4().hex[:10]}"
    c = imap_admin(dovecot)
    c.create(f'"{folder}"')
    c.logout()
    ctl, _sink = smtp_sink
    good = {
        "imap_host": dovecot.host,
        "imap_port": dovecot.port,
        "imap_tls": "none",
        "imap_username": dovecot.user,
        "imap_folder": folder,
        "smtp_host": ctl.hostname,
        "smtp_port": ctl.port,
        "smtp_tls": "none",
    }
    mid = await create(admin, **good, imap_secret=dovecot.password)
    r = await admin.post(f"/admin/mailboxes/{mid}/test")
    assert r.status_code == 200, r.text
    result = r.text[r.text.index('id="conn-result"') :]
    assert "The connection works." in result
    assert re.search(r'<dt>IMAP</dt>\s*<dd><span class="badge test-ok">OK</span> logged in, folder', result)
    assert re.search(
        r'<dt>SMTP</dt>\s*<dd><span class="badge test-ok">OK</span> 127\.0\.0\.1:\d+ accepted', result
    )
    assert f'value="{dovecot.password}"' not in r.text
    # htmx sends the same form with its header; the answer carries the same result block
    r = await admin.post(f"/admin/mailboxes/{mid}/test", headers={"HX-Request": "true"})
    assert r.status_code == 200 and "The connection works." in r.text

    # a wrong password
    address = (await row(ws, mid) or {})["address"]
    r = await admin.post(f"/admin/mailboxes/{mid}", form(address=address, **good, imap_secret="wrong"))
    assert r.status_code == 303, r.text
    result = (await admin.post(f"/admin/mailboxes/{mid}/test")).text
    result = result[result.index('id="conn-result"') :]
    assert "The connection failed." in result
    assert re.search(
        r'<dt>IMAP</dt>\s*<dd><span class="badge test-fail">Failed</span> [^<]*authentication failed: '
        r"the server refused the user name or password",
        result,
    )
    assert "test-ok" in result  # SMTP still answers

    # nothing listening on the ports (ports the operator allows, as the servers' were)
    closed = {**good, "imap_port": free_port(), "smtp_port": free_port()}
    allow(ws.platform.settings, dovecot.host, closed["imap_port"])
    allow(ws.platform.settings, ctl.hostname, closed["smtp_port"])
    r = await admin.post(f"/admin/mailboxes/{mid}", form(address=address, **closed))
    assert r.status_code == 303, r.text
    result = (await admin.post(f"/admin/mailboxes/{mid}/test")).text
    result = result[result.index('id="conn-result"') :]
    assert "The connection failed." in result and "test-ok" not in result
    assert len(re.findall(r'<span class="badge test-fail">Failed</span> \S+', result)) == 2

    # no servers at all: both parts say why they were skipped (mail arrives another way)
    r = await admin.post(f"/admin/mailboxes/{mid}", form(address=address))
    assert r.status_code == 303, r.text
    result = (await admin.post(f"/admin/mailboxes/{mid}/test")).text
    result = result[result.index('id="conn-result"') :]
    assert "Nothing to test" in result and result.count("test-skip") == 2
    assert "no IMAP server" in result and "no SMTP server" in result


async def test_failed_list_reprocess_and_eml(ws: WS, console: Any) -> None:
    _, admin = await console(Role.admin)
    box = await make_mailbox(ws.platform, ws.id, name="Support")
    bad = await deliver(ws.platform, box, b"garbage without headers " + XSS.encode() + b"\n")
    good = await deliver(ws.platform, box, mail(to=box["address"], subject="Printer on fire"))
    assert bad["state"] == "failed" and good["state"] == "processed"

    r = await admin.get("/admin/email/failed")
    assert r.status_code == 200
    assert f'id="inbound-{bad["id"]}"' in r.text and f'id="inbound-{good["id"]}"' not in r.text
    assert bad["reason"] and bad["reason"][:30].replace("'", "&#39;") in r.text
    assert f'action="/admin/email/inbound/{bad["id"]}/reprocess"' in r.text
    assert f'href="/api/v1/email/inbound/{bad["id"]}/raw"' in r.text
    assert XSS not in r.text

    # the status page counts it, and links to the list
    listing = (await admin.get("/admin/mailboxes")).text
    assert f'href="/admin/email/failed?state=failed&amp;mailbox_id={box["id"]}"' in listing
    assert "Needs attention" in listing

    # the other states are a filter away; junk in the query is ignored, not a 500
    r = await admin.get("/admin/email/failed", params={"state": "processed"})
    assert f'id="inbound-{good["id"]}"' in r.text and "Printer on fire" in r.text
    assert f'href="/tickets/{good["ticket_id"]}"' in r.text and "Reprocess" not in r.text
    r = await admin.get("/admin/email/failed", params={"state": "all", "mailbox_id": box["id"]})
    assert f'id="inbound-{good["id"]}"' in r.text and f'id="inbound-{bad["id"]}"' in r.text
    for junk in ({"state": "bogus"}, {"mailbox_id": "x"}, {"cursor": "9" * 30}, {"mailbox_id": "0"}):
        r = await admin.get("/admin/email/failed", params=junk)
        assert r.status_code == 200, (junk, r.text)

    # the original bytes download as .eml
    r = await admin.get(f"/api/v1/email/inbound/{bad['id']}/raw")
    assert r.status_code == 200 and r.headers["content-type"].startswith("message/rfc822")
    assert r.content.startswith(b"garbage without headers")
    assert f'filename="message-{bad["id"]}.eml"' in r.headers["content-disposition"]

    # reprocess puts it back in the queue and returns to the list it came from
    back = f"/admin/email/failed?state=failed&mailbox_id={box['id']}"
    r = await admin.post(f"/admin/email/inbound/{bad['id']}/reprocess", {"next": back})
    assert r.status_code == 303 and r.headers["location"] == back + "&done=reprocessed"
    async with ws.platform.db.read() as conn:
        state = (await conn.execute(sa.select(inbound_t.c.state).where(inbound_t.c.id == bad["id"]))).scalar()
    assert state == "received"
    page = (await admin.get(r.headers["location"])).text
    assert "Sent back for processing" in page and f'id="inbound-{bad["id"]}"' not in page
    await drain(ws.platform)  # still garbage: back on the list
    assert f'id="inbound-{bad["id"]}"' in (await admin.get("/admin/email/failed")).text
    # only failed mail is reprocessed; a redirect elsewhere is refused
    r = await admin.post(f"/admin/email/inbound/{good['id']}/reprocess")
    assert r.status_code == 409 and "only failed mail is reprocessed" in r.text
    r = await admin.post(f"/admin/email/inbound/{bad['id']}/reprocess", {"next": "//evil.test/"})
    assert r.status_code == 303 and r.headers["location"] == "/admin/email/failed?done=reprocessed"


async def test_status_page_shows_fetch_errors(ws: WS, console: Any) -> None:
    _, admin = await console(Role.admin)
    box = await make_mailbox(ws.platform, ws.id, imap_host="imap.invalid", imap_username="x")
    quiet = await make_mailbox(ws.platform, ws.id, name="Off", active=False)
    async with ws.platform.db.transaction() as uow:
        await uow.execute(
            mailboxes_t.update()
            .where(mailboxes_t.c.id == box["id"])
            .values(last_error="ImapError: connection refused <b>", last_error_at=sa.func.now())
        )
    listing = (await admin.get("/admin/mailboxes")).text
    assert "Failing" in listing and "ImapError: connection refused &lt;b&gt;" in listing
    assert "Inactive" in listing and quiet["address"] in listing
    page = (await admin.get(f"/admin/mailboxes/{box['id']}")).text
    assert "Failing" in page and "connection refused" in page


@pytest.mark.parametrize("role", [Role.agent, Role.light_agent])
async def test_only_admins_get_in(ws: WS, console: Any, role: Role) -> None:
    _, other = await console(role)
    box = await make_mailbox(ws.platform, ws.id, imap_secret="s3cret")
    bad = await deliver(ws.platform, box, b"garbage\n")
    for path in [
        "/admin/mailboxes",
        "/admin/mailboxes/new",
        f"/admin/mailboxes/{box['id']}",
        "/admin/email/failed",
    ]:
        r = await other.get(path)
        assert r.status_code == 403 and "Only admins" in r.text, path
    for path, data in [
        ("/admin/mailboxes", form(address="sneaky@acme.test")),
        (f"/admin/mailboxes/{box['id']}", form(address=box["address"], name="Taken over")),
        (f"/admin/mailboxes/{box['id']}/test", {}),
        (f"/admin/mailboxes/{box['id']}/delete", {"confirm": "on"}),
        (f"/admin/email/inbound/{bad['id']}/reprocess", {}),
    ]:
        r = await other.post(path, data)
        assert r.status_code == 403, path
    assert (await row(ws, box["id"])) == box
    async with ws.platform.db.read() as conn:
        assert (
            await conn.execute(sa.select(mailboxes_t.c.id).where(mailboxes_t.c.address == "sneaky@acme.test"))
        ).first() is None
        state = (await conn.execute(sa.select(inbound_t.c.state).where(inbound_t.c.id == bad["id"]))).scalar()
    assert state == "failed"
    # the quarantined original is not theirs to download either
    assert (await other.get(f"/api/v1/email/inbound/{bad['id']}/raw")).status_code == 404


async def test_customers_are_sent_to_sign_in_and_forms_need_the_csrf_token(ws: WS, console: Any) -> None:
    _, customer = await console(Role.customer)
    r = await customer.get("/admin/mailboxes")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    _, admin = await console(Role.admin)
    box = await make_mailbox(ws.platform, ws.id)
    for path, data in [
        ("/admin/mailboxes", form()),
        (f"/admin/mailboxes/{box['id']}", form(address=box["address"], name="No token")),
        (f"/admin/mailboxes/{box['id']}/test", {}),
        (f"/admin/mailboxes/{box['id']}/delete", {"confirm": "on"}),
    ]:
        assert (await admin.post(path, data, csrf=False)).status_code == 403, path
        assert (await admin.post(path, {**data, "csrf_token": "wrong"}, csrf=False)).status_code == 403, path
    assert (await row(ws, box["id"])) == box


async def test_an_admin_never_reaches_another_workspace(ws: WS, make_ws: Any, console: Any) -> None:
    other = await make_ws("Other Co")
    theirs = await make_mailbox(ws.platform, other.id, name="Theirs", imap_secret="their-secret")
    their_bad = await deliver(ws.platform, theirs, b"their garbage\n")
    their_good = await deliver(ws.platform, theirs, mail(to=theirs["address"]))
    _, admin = await console(Role.admin)
    mine = await make_mailbox(ws.platform, ws.id, name="Mine")

    assert theirs["address"] not in (await admin.get("/admin/mailboxes")).text
    for params in ({}, {"state": "all"}, {"state": "all", "mailbox_id": theirs["id"]}):
        page = (await admin.get("/admin/email/failed", params=params)).text
        assert (
            f'id="inbound-{their_bad["id"]}"' not in page and f'id="inbound-{their_good["id"]}"' not in page
        )
    assert (await admin.get(f"/admin/mailboxes/{theirs['id']}")).status_code == 404
    for path, data in [
        (f"/admin/mailboxes/{theirs['id']}", form(address=theirs["address"], name="Taken over")),
        (f"/admin/mailboxes/{theirs['id']}/test", {}),
        (f"/admin/mailboxes/{theirs['id']}/delete", {"confirm": "on"}),
        (f"/admin/email/inbound/{their_bad['id']}/reprocess", {}),
    ]:
        r = await admin.post(path, data)
        assert r.status_code == 404, (path, r.text)
        assert "their-secret" not in r.text
    assert (await admin.get(f"/api/v1/email/inbound/{their_bad['id']}/raw")).status_code == 404
    # their address cannot be taken over by creating or renaming a mailbox here either
    r = await admin.post("/admin/mailboxes", form(address=theirs["address"]))
    assert r.status_code == 422 and "in use" in field_error(r.text, "address")
    r = await admin.post(f"/admin/mailboxes/{mine['id']}", form(address=theirs["address"]))
    assert r.status_code == 422
    assert (await row(ws, theirs["id"])) == theirs
    async with ws.platform.db.read() as conn:
        state = (
            await conn.execute(sa.select(inbound_t.c.state).where(inbound_t.c.id == their_bad["id"]))
        ).scalar()
    assert state == "failed"
