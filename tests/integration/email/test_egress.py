"""The email channel through the egress guard (ADR 0012): a mailbox's servers may not be internal
addresses. Saving one is refused by its field (API and admin form), rows saved before the guard
existed are refused when connecting (the connection test, the background fetcher, sending, the
OAuth2 token endpoint) without a byte reaching the server, and what a server says never shows on a
page: the connection test cannot read an internal service's banner.

The servers here are local listeners that record every connection and byte (tests/security/
listeners.py); they answer like an IMAP or SMTP server, or like something else entirely, with a
distinctive banner in every line.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from typing import Any

import pytest

from helpline.domains.accounts.models import Role
from helpline.domains.channels.email import imap, oauth2
from helpline.domains.channels.email.connection import test_connection as connection_test
from helpline.domains.channels.email.health import mailbox_health
from helpline.domains.channels.email.imap import ImapConnection, ImapError
from helpline.domains.channels.email.models import Mailbox
from helpline.settings import Settings
from tests.conftest import WS, field_error, problem
from tests.integration.email.conftest import allow, deliver, mail, make_mailbox
from tests.integration.email.test_mailbox_pages import create, form
from tests.integration.email.test_tls_auth import reload, reply
from tests.security.listeners import listening

mailboxes_t = Mailbox.__table__

BANNER = "SECRET-BANNER-7f3a9c"
IMAP_GREETING = f"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] {BANNER}\r\n".encode()
SMTP_GREETING = f"220 {BANNER} ESMTP\r\n".encode()
NOT_MAIL = f"SSH-2.0-OpenSSH_9.6 {BANNER}\r\n".encode()  # what a scan of an internal port reads
INTERNAL = ["127.0.0.1", "169.254.169.254", "0x7f000001", "localhost", "[::1]", "10.0.0.5", "2130706433"]
PUBLIC_NAME = "mail.acme.test"  # does not resolve: checked again when connecting


def chatty(line: bytes) -> bytes | None:
    """Answer like an IMAP or an SMTP server that refuses every login, the banner in every line."""
    text = line.decode("utf-8", "replace").strip()
    word = text.split(" ", 1)[0].upper()
    if word in ("EHLO", "HELO"):
        return f"250-{BANNER}\r\n250 AUTH PLAIN LOGIN\r\n".encode()
    if word == "AUTH":
        return f"535 5.7.8 {BANNER}\r\n".encode()
    if word == "QUIT":
        return f"221 {BANNER}\r\n".encode()
    tag, _, rest = text.partition(" ")
    command = rest.split(" ", 1)[0].upper()
    if command == "CAPABILITY":
        return f"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n{tag} OK {BANNER}\r\n".encode()
    if command in ("LOGIN", "AUTHENTICATE", "LOGOUT"):
        return f"{tag} NO [AUTHENTICATIONFAILED] {BANNER}\r\n".encode()
    return f"500 {BANNER}\r\n".encode()


def address() -> str:
    return f"box-{uuid.uuid4().hex[:8]}@acme.test"


# --- saving ------------------------------------------------------------------------------------


async def test_the_api_refuses_internal_servers_naming_the_field(ws: WS, make_ws: Any) -> None:
    admin = await ws.person(Role.admin)
    async with ws.client(admin) as c:
        for host in INTERNAL:
            for field in ("imap_host", "smtp_host"):
                r = await c.post("/mailboxes", json={"name": "Support", "address": address(), field: host})
                body = problem(r, 422)
                assert body["errors"][0]["field"] == field, (host, body)
                assert "address" in body["errors"][0]["message"] and "HELPLINE_EGRESS_ALLOW" in body["detail"]
        for field, port in (("imap", 6379), ("smtp", 9200)):
            r = await c.post(
                "/mailboxes",
                json={"name": "S", "address": address(), f"{field}_host": PUBLIC_NAME, f"{field}_port": port},
            )
            assert problem(r, 422)["errors"][0]["field"] == f"{field}_port", r.text
        r = await c.post(
            "/mailboxes",
            json={"name": "S", "address": address(), "oauth_token_url": "https://169.254.169.254/token"},
        )
        assert problem(r, 422)["errors"][0]["field"] == "oauth_token_url", r.text

        # A public name on the protocols' ports is saved.
        r = await c.post(
            "/mailboxes",
            json={"name": "S", "address": address(), "imap_host": PUBLIC_NAME, "smtp_host": PUBLIC_NAME},
        )
        assert r.status_code == 201, r.text
        mid = r.json()["id"]
        for change, field in (
            ({"imap_host": "127.0.0.1"}, "imap_host"),
            ({"imap_port": 6379}, "imap_port"),  # over the saved host
            ({"smtp_host": "0x7f000001"}, "smtp_host"),
            ({"smtp_port": 22}, "smtp_port"),
            ({"oauth_token_url": "https://localhost/token"}, "oauth_token_url"),
        ):
            r = await c.patch(f"/mailboxes/{mid}", json=change)
            assert problem(r, 422)["errors"][0]["field"] == field, (change, r.text)
        saved = (await c.get(f"/mailboxes/{mid}")).json()
        assert (saved["imap_host"], saved["imap_port"], saved["smtp_port"]) == (PUBLIC_NAME, 993, 587)

        # The operator allows one internal server: that host:port is saved, nothing more.
        allow(ws.platform.settings, "127.0.0.1", 1143)
        r = await c.patch(f"/mailboxes/{mid}", json={"imap_host": "127.0.0.1", "imap_port": 1143})
        assert r.status_code == 200, r.text
        r = await c.patch(f"/mailboxes/{mid}", json={"imap_port": 993})
        assert problem(r, 422)["errors"][0]["field"] == "imap_host", r.text

    # Another workspace's admin gets 404 for this mailbox, as for one that does not exist, never 422.
    other = await make_ws("Other")
    stranger = await other.person(Role.admin)
    async with other.client(stranger) as c:
        r = await c.patch(f"/mailboxes/{mid}", json={"imap_host": "127.0.0.1"})
        problem(r, 404)
        r = await c.patch("/mailboxes/999999999", json={"imap_host": "127.0.0.1"})
        problem(r, 404)


async def test_the_form_refuses_internal_servers_by_field(ws: WS, console: Any) -> None:
    _, page = await console(Role.admin)
    for host in ("127.0.0.1", "169.254.169.254", "0x7f000001", "localhost"):
        r = await page.post("/admin/mailboxes", form(imap_host=host))
        assert r.status_code == 422, r.text
        assert "address" in field_error(r.text, "imap_host")
        r = await page.post("/admin/mailboxes", form(smtp_host=host))
        assert r.status_code == 422 and "address" in field_error(r.text, "smtp_host")
    r = await page.post("/admin/mailboxes", form(imap_host=PUBLIC_NAME, imap_port="6379"))
    assert r.status_code == 422 and "not one of the IMAP ports" in field_error(r.text, "imap_port")
    mid = await create(page, address=address(), imap_host=PUBLIC_NAME)
    saved = (await reload(ws, mid))["address"]
    r = await page.post(f"/admin/mailboxes/{mid}", form(address=saved, imap_host="169.254.169.254"))
    assert r.status_code == 422 and "cloud metadata" in field_error(r.text, "imap_host")
    assert (await reload(ws, mid))["imap_host"] == PUBLIC_NAME


# --- connecting --------------------------------------------------------------------------------


async def test_the_connection_test_never_shows_what_the_server_said(ws: WS, console: Any) -> None:
    admin = await ws.person(Role.admin)
    _, page = await console(Role.admin)

    async def run(mailbox_id: int) -> tuple[dict[str, Any], str]:
        async with ws.client(admin) as c:
            r = await c.post(f"/mailboxes/{mailbox_id}/test")
            assert r.status_code == 200, r.text
        html = (await page.post(f"/admin/mailboxes/{mailbox_id}/test")).text
        assert "The connection failed." in html
        assert BANNER not in r.text and BANNER not in html, (r.text, html)
        return dict(r.json()), html

    async with (
        listening(IMAP_GREETING, chatty) as imap_srv,
        listening(SMTP_GREETING, chatty) as smtp_srv,
        listening(NOT_MAIL) as other,
    ):
        # A mailbox saved before the guard (or imported): written as it was, not through the API.
        box = await make_mailbox(
            ws.platform,
            ws.id,
            **{f"{p}_host": "127.0.0.1" for p in ("imap", "smtp")},
            imap_port=imap_srv.port,
            smtp_port=smtp_srv.port,
            **{f"{p}_{k}": v for p in ("imap", "smtp") for k, v in (("tls", "none"), ("username", "u"))},
            imap_secret="pw",
            smtp_secret="pw",
        )
        got, _ = await run(box["id"])
        for part in ("imap", "smtp"):
            assert got[part]["state"] == "fail" and "127.0.0.1 is a loopback address" in got[part]["detail"]
        await imap_srv.settled()
        assert imap_srv.connections == smtp_srv.connections == 0  # refused before connecting

        # The operator allows both: the test reaches them and says what failed in its own words.
        allow(ws.platform.settings, "127.0.0.1", imap_srv.port)
        allow(ws.platform.settings, "127.0.0.1", smtp_srv.port)
        got, _ = await run(box["id"])
        assert "authentication failed: the server refused the user name or password" in got["imap"]["detail"]
        assert "authentication failed" in got["smtp"]["detail"] and "(SMTP 535)" in got["smtp"]["detail"]
        await imap_srv.settled()
        await smtp_srv.settled()
        assert b" LOGIN u " in imap_srv.all_received and b"AUTH " in smtp_srv.all_received  # they were asked

        # Something that is not a mail server at all: our sentence, not its banner.
        allow(ws.platform.settings, "127.0.0.1", other.port)
        async with ws.platform.db.transaction() as uow:
            await uow.execute(
                mailboxes_t.update()
                .where(mailboxes_t.c.id == box["id"])
                .values(imap_port=other.port, smtp_port=other.port)
            )
        got, _ = await run(box["id"])
        assert "did not answer like an IMAP server" in got["imap"]["detail"], got
        assert "did not answer like an SMTP server" in got["smtp"]["detail"], got
        await other.settled()
        assert other.connections >= 2  # it was reached


async def test_the_fetcher_refuses_a_name_resolving_to_loopback_without_connecting(ws: WS) -> None:
    """The system's resolver, end to end: ``localhost`` is refused by what it resolves to."""
    async with listening(IMAP_GREETING, chatty) as srv:
        box = await make_mailbox(
            ws.platform,
            ws.id,
            imap_host="localhost",
            imap_port=srv.port,
            imap_tls="none",
            imap_username="u",
            imap_secret="pw",
        )
        with pytest.raises(imap.ImapError, match="localhost resolves to a loopback address"):
            await imap.fetch_once(ws.platform, box)
        stop = threading.Event()
        task = asyncio.create_task(imap.run_fetcher(ws.platform, box["id"], stop, owner="egress-test"))
        try:
            deadline = time.monotonic() + 10
            while not (await reload(ws, box["id"]))["last_error"]:
                assert time.monotonic() < deadline, "the fetcher recorded no error"
                assert not task.done(), task
                await asyncio.sleep(0.05)
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)
        saved = await reload(ws, box["id"])
        assert "localhost resolves to a loopback address" in saved["last_error"], saved["last_error"]
        async with ws.platform.db.read() as conn:
            [health] = [h for h in await mailbox_health(conn, ws.id) if h["id"] == box["id"]]
        assert health["state"] == "fail" and "loopback address" in health["detail"], health
        await srv.settled()
        assert srv.connections == 0


async def test_replies_are_not_sent_through_an_internal_smtp_server(ws: WS) -> None:
    agent = await ws.person(Role.agent)
    async with listening(SMTP_GREETING, chatty) as srv:
        box = await make_mailbox(
            ws.platform, ws.id, smtp_host="127.0.0.1", smtp_port=srv.port, smtp_tls="none"
        )
        first = await deliver(ws.platform, box, mail(to=box["address"]))
        item = await reply(ws, agent, int(first["ticket_id"]))
        assert item["status"] == "retrying 1", item
        assert "127.0.0.1 is a loopback address" in item["last_error"], item
        await srv.settled()
        assert srv.connections == 0


def token_answer(line: bytes) -> bytes | None:
    if line != b"\r\n":
        return None
    body = json.dumps({"access_token": "ya29.internal", "token_type": "Bearer", "expires_in": 3600})
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    return (head + body).encode()


async def test_the_oauth2_token_endpoint_may_not_be_an_internal_http_server(ws: WS) -> None:
    async with listening(answer=token_answer) as srv:
        for host in ("127.0.0.1", "localhost", "[::1]"):
            box = await make_mailbox(
                ws.platform,
                ws.id,
                smtp_auth="xoauth2",
                smtp_username="mailer",
                oauth_token_url=f"http://{host}:{srv.port}/token",  # accepted before the guard
                oauth_client_id="client",
                oauth_client_secret="client-secret",
                oauth_refresh_token="refresh-token",
            )
            with pytest.raises(oauth2.OAuth2Error, match=r"cannot be used: .*loopback address"):
                await oauth2.bearer(ws.platform, box, "smtp_secret")
        await srv.settled()
        assert srv.connections == 0 and srv.all_received == b""  # the form with the secret never left

        admin = await ws.person(Role.admin)
        async with ws.client(admin) as c:
            r = await c.patch(
                f"/mailboxes/{box['id']}", json={"oauth_token_url": f"http://127.0.0.1:{srv.port}/t"}
            )
            assert problem(r, 422)["errors"][0]["field"] == "oauth_token_url", r.text

        # Allowed by the operator, the same endpoint is asked and answers (the listener works).
        allow(ws.platform.settings, "127.0.0.1", srv.port)
        box = await make_mailbox(
            ws.platform,
            ws.id,
            smtp_auth="xoauth2",
            oauth_token_url=f"http://127.0.0.1:{srv.port}/token",
            oauth_refresh_token="refresh-token",
        )
        assert await oauth2.bearer(ws.platform, box, "smtp_secret") == "ya29.internal"
        assert b"POST /token HTTP/1.1" in srv.all_received


async def test_connection_test_of_a_mailbox_saved_with_a_metadata_address(ws: WS) -> None:
    box = await make_mailbox(ws.platform, ws.id, imap_host="169.254.169.254", imap_port=80, smtp_host="::1")
    got = await connection_test(ws.platform, await reload(ws, box["id"]))
    assert "169.254.169.254 is a cloud metadata address" in got["imap"]["detail"], got
    assert "::1 is a loopback address" in got["smtp"]["detail"], got


@pytest.mark.parametrize("tls", ["none", "starttls", "ssl"])
async def test_the_imap_session_itself_is_guarded(tls: str) -> None:
    """Not only the fetcher's early check: the session's own socket refuses (before TLS starts)."""
    settings = Settings(secret_key="egress-tests")
    async with listening(IMAP_GREETING, chatty) as srv:
        box = {
            "id": 1,
            "imap_host": "127.0.0.1",
            "imap_port": srv.port,
            "imap_tls": tls,
            "imap_auth": "password",
            "imap_username": "u",
            "imap_secret": "pw",
            "imap_folder": "INBOX",
        }
        with pytest.raises(ImapError, match=r"127\.0\.0\.1 is a loopback address"):
            await asyncio.to_thread(ImapConnection, box, 5, settings=settings)
        await srv.settled()
        assert srv.connections == 0
        allow(settings, "127.0.0.1", srv.port)  # allowed, the session reaches the server
        with pytest.raises(ImapError, match=r"STARTTLS failed|TLS failed|authentication failed") as caught:
            await asyncio.to_thread(ImapConnection, box, 5, settings=settings)
        assert BANNER not in str(caught.value)
        await srv.settled()
        assert srv.connections == 1
