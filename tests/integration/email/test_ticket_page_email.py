"""How an email reads on the agent's ticket page (SQLite and PostgreSQL): quoted history folded, remote
images blocked until an agent asks for one message's, the original .eml for agents who can see the
ticket, the SPF/DKIM/DMARC verdicts, and each reply's delivery state with Retry against a real SMTP
server. Agents who cannot see the ticket and customers on the portal get none of it."""

from __future__ import annotations

import re
from contextlib import AsyncExitStack
from typing import Any

import httpx
import sqlalchemy as sa

from helpline.domains.accounts.models import Role
from helpline.domains.channels.email.models import OutboundMail
from helpline.domains.channels.email.send import send_job
from helpline.web.headers import CSP
from tests.conftest import PASSWORD, WS, drain
from tests.integration.email.conftest import deliver, mail, make_mailbox

outbox = OutboundMail.__table__
AUTHSERV = "mx.acme.test"
PIXEL = "https://images.customer.test/track/p.gif?u=carla"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')

GMAIL_HTML = f"""<div dir="ltr">The printer still smokes after the restart.<div><img src="{PIXEL}" width="1" height="1"></div>
<div><br clear="all"><div><div dir="ltr" class="gmail_signature" data-smartmail="gmail_signature"><div dir="ltr">Carla Customer<br>Customer Corp</div></div></div></div></div><br>
<div class="gmail_quote gmail_quote_container"><div dir="ltr" class="gmail_attr">On Mon, Jan 8, 2024 at 10:02 AM Acme Support &lt;<a href="mailto:support@acme.test">support@acme.test</a>&gt; wrote:<br></div>
<blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;border-left:1px solid rgb(204,204,204);padding-left:1ex"><div>Try turning it off and on again.</div></blockquote></div>
"""  # noqa: E501 (Gmail's markup, verbatim)
GMAIL_TEXT = """The printer still smokes after the restart.

--
Carla Customer
Customer Corp

On Mon, Jan 8, 2024 at 10:02 AM Acme Support <support@acme.test> wrote:

> Try turning it off and on again.
"""


async def console(ws: WS, person: Any, stack: AsyncExitStack) -> tuple[httpx.AsyncClient, str]:
    """A cookie-holding client signed in to the console as ``person``, and its CSRF token."""
    c = await stack.enter_async_context(
        httpx.AsyncClient(transport=httpx.ASGITransport(app=ws.app), base_url="http://testserver")
    )
    r = await c.post("/api/v1/session", json={"email": person.email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return c, r.json()["csrf_token"]


async def setup(ws: WS, sink: Any) -> tuple[dict[str, Any], bytes, dict[str, Any]]:
    """A mailbox routing to the Billing group, and a customer's Gmail reply with a quote, a tracking
    pixel and our receiving host's Authentication-Results."""
    ws.platform.settings.email_authserv_id = AUTHSERV
    ctl, _ = sink
    await ws.person(Role.admin, groups=["Billing"])  # makes the group
    box = await make_mailbox(
        ws.platform,
        ws.id,
        name="Acme Support",
        smtp_host=ctl.hostname,
        smtp_port=ctl.port,
        smtp_tls="none",
        group_id=ws.groups["Billing"],
    )
    raw = mail(
        sender="Carla Customer <carla@customer.test>",
        to=box["address"],
        subject="Printer on fire",
        body=GMAIL_TEXT,
        html=GMAIL_HTML,
        headers={
            "Authentication-Results": f"{AUTHSERV}; spf=pass smtp.mailfrom=customer.test;"
            " dkim=fail (bad signature) header.d=customer.test; dmarc=none header.from=customer.test",
        },
    )
    row = await deliver(ws.platform, box, raw)
    assert row["outcome"] == "new_ticket", row
    return box, raw, row


def body_of(page: str, message_id: int) -> str:
    """The HTML of one message of a ticket page (its <li id="m…">)."""
    start = page.index(f'id="m{message_id}"')
    ends = [i for i in (page.find('<li class="message', start), page.find("</ol>", start)) if i > 0]
    return page[start : min(ends)]


async def test_agent_sees_folded_quote_auth_verdicts_and_blocked_images(ws: WS, smtp_sink: Any) -> None:
    _box, raw, row = await setup(ws, smtp_sink)
    tid, mid = row["ticket_id"], row["message_id"]
    agent = await ws.person(Role.agent, password=PASSWORD, groups=["Billing"])
    async with AsyncExitStack() as stack:
        c, _ = await console(ws, agent, stack)
        page = await c.get(f"/tickets/{tid}")
        assert page.status_code == 200, page.text
        assert page.headers["content-security-policy"] == CSP
        html = body_of(page.text, mid)
        # The new text is open; the signature and the quoted history are folded, all of it kept.
        visible, _, folded = html.partition("<details><summary>Show quoted text</summary>")
        assert "The printer still smokes after the restart." in visible
        assert "Try turning it off and on again." not in visible and "Carla Customer<br>" not in visible
        assert "Try turning it off and on again." in folded and "Customer Corp" in folded
        assert "wrote:" in folded and "</details>" in folded
        # The verdicts of our own receiving host, with the failure called out.
        assert 'class="mail-auth failed"' in html
        assert "SPF pass · DKIM fail · DMARC none" in html
        # The tracking pixel is not loaded, and the agent is told why and offered to.
        assert ' src="https://images.customer.test' not in page.text
        assert f'data-remote-src="{PIXEL}"' in html
        assert "Remote images are blocked to protect your privacy" in html
        assert f'href="/tickets/{tid}?images={mid}#m{mid}"' in html
        eml_link = f"/tickets/{tid}/messages/{mid}/original.eml"
        assert f'href="{eml_link}"' in html

        # Asking for this message's pictures: loaded, in this response only, allowed by its policy.
        shown = await c.get(f"/tickets/{tid}?images={mid}")
        assert shown.status_code == 200
        assert ' src="https://images.customer.test/track/p.gif?u=carla"' in body_of(shown.text, mid)
        assert "img-src 'self' data: blob: https:;" in shown.headers["content-security-policy"]
        assert "script-src 'self';" in shown.headers["content-security-policy"]
        assert "Remote images are shown for this message" in shown.text
        # A message id of no picture (or of another ticket) relaxes nothing.
        for other in ("0", "abc", "99999999999999999999999", "²", str(mid + 1000)):
            again = await c.get(f"/tickets/{tid}?images={other}")
            assert again.status_code == 200 and again.headers["content-security-policy"] == CSP
            assert ' src="https://images.customer.test' not in again.text

        # The original, byte for byte, as a download that is never sniffed into a page.
        eml = await c.get(eml_link)
        assert eml.status_code == 200 and eml.content == raw
        assert eml.headers["content-type"].startswith("message/rfc822")
        assert eml.headers["content-disposition"].startswith(f'attachment; filename="message-{mid}.eml"')
        assert eml.headers["x-content-type-options"] == "nosniff"
        # The .eml of a message only through its own ticket.
        other = await ws.person(Role.agent, password=PASSWORD)
        async with ws.client(other) as api:
            r = await api.post(
                "/tickets", json={"subject": "Other", "body": "x", "requester": {"email": "o@p.test"}}
            )
            other_tid = r.json()["id"]
        assert (await c.get(f"/tickets/{other_tid}/messages/{mid}/original.eml")).status_code == 404


async def test_nobody_else_gets_the_eml_or_the_images(ws: WS, make_ws: Any, smtp_sink: Any) -> None:
    customer = await ws.person(Role.customer, email="carla@customer.test", password=PASSWORD)
    _box, raw, row = await setup(ws, smtp_sink)
    tid, mid = row["ticket_id"], row["message_id"]
    eml_link = f"/tickets/{tid}/messages/{mid}/original.eml"
    outsider = await ws.person(Role.agent, password=PASSWORD, groups=["Sales"])
    light = await ws.person(Role.light_agent, password=PASSWORD, groups=["Billing"])
    elsewhere_ws = await make_ws("Other company")
    elsewhere = await elsewhere_ws.person(Role.admin, password=PASSWORD)
    async with AsyncExitStack() as stack:
        # An agent outside the ticket's group, and an admin of another workspace: as if it did not exist.
        for who, home in ((outsider, ws), (elsewhere, elsewhere_ws)):
            c, _ = await console(home, who, stack)
            assert (await c.get(eml_link)).status_code == 404
            shown = await c.get(f"/tickets/{tid}?images={mid}")
            assert shown.status_code == 404 and "images.customer.test" not in shown.text
            assert shown.headers["content-security-policy"] == CSP
        # A light agent who sees the ticket may read the original.
        c, _ = await console(ws, light, stack)
        eml = await c.get(eml_link)
        assert eml.status_code == 200 and eml.content == raw
        # The customer's portal shows their mail folded, with no pictures, no .eml and no verdicts.
        portal = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=ws.app), base_url="http://testserver")
        )
        slug = await _slug(ws)
        login = await portal.get(f"/portal/{slug}/login")
        r = await portal.post(
            f"/portal/{slug}/login",
            data={
                "email": customer.email,
                "password": PASSWORD,
                "csrf_token": TOKEN.search(login.text).group(1),  # type: ignore[union-attr]
            },
        )
        assert r.status_code == 303, r.text
        page = await portal.get(f"/portal/{slug}/requests/{tid}")
        assert page.status_code == 200 and "The printer still smokes" in page.text
        assert page.headers["content-security-policy"] == CSP
        assert ' src="https://images.customer.test' not in page.text
        assert "original.eml" not in page.text and "Show remote images" not in page.text
        assert "DKIM" not in page.text
        assert "<details><summary>Show quoted text</summary>" in page.text
        images = await portal.get(f"/portal/{slug}/requests/{tid}?images={mid}")
        assert ' src="https://images.customer.test' not in images.text
        assert images.headers["content-security-policy"] == CSP
        # The console's download sends a customer to the console's sign-in, with nothing of the mail.
        refused = await portal.get(eml_link)
        assert refused.status_code == 303 and refused.content != raw
        assert refused.headers["location"].startswith("/login")


async def _slug(ws: WS) -> str:
    async with ws.platform.db.read() as conn:
        return str(
            (
                await conn.execute(sa.text("SELECT slug FROM workspaces WHERE id = :i"), {"i": ws.id})
            ).scalar_one()
        )


async def test_delivery_state_per_recipient_and_retry_from_the_page(ws: WS, smtp_sink: Any) -> None:
    _, sink = smtp_sink
    _box, _raw, row = await setup(ws, smtp_sink)
    tid = row["ticket_id"]
    agent = await ws.person(Role.agent, password=PASSWORD, groups=["Billing"])
    light = await ws.person(Role.light_agent, password=PASSWORD, groups=["Billing"])
    outsider = await ws.person(Role.agent, password=PASSWORD, groups=["Sales"])
    async with AsyncExitStack() as stack:
        c, csrf = await console(ws, agent, stack)
        page = await c.get(f"/tickets/{tid}")
        sink.down = True  # the server answers 421 to every recipient: temporary, retried
        r = await c.post(
            f"/tickets/{tid}/messages",
            data={
                "body": "Unplug it and call us.",
                "public": "true",
                "seen_message_id": str(row["message_id"]),
                "csrf_token": csrf,
            },
        )
        assert r.status_code == 303, r.text
        async with ws.platform.db.read() as conn:
            reply_id, out_id = (
                await conn.execute(
                    sa.select(outbox.c.message_id, outbox.c.id).where(outbox.c.ticket_id == tid)
                )
            ).one()
        page = await c.get(f"/tickets/{tid}")
        html = body_of(page.text, reply_id)
        assert "Email: <strong>queued</strong>" in html and "carla@customer.test: pending" in html
        assert "/retry" not in html
        await drain(ws.platform)
        html = body_of((await c.get(f"/tickets/{tid}")).text, reply_id)
        assert "Email: <strong>retrying 1</strong>" in html and "next try" in html
        for _ in range(ws.platform.settings.email_send_max_attempts - 1):
            await send_job(ws.platform, [{"outbound_id": out_id}])
        html = body_of((await c.get(f"/tickets/{tid}")).text, reply_id)
        assert "Email: <strong>failed: gave up after 8 attempts" in html
        assert f'action="/tickets/{tid}/email/{out_id}/retry"' in html and ">Retry<" in html

        # A light agent sees the state but has no Retry, and cannot post one; an outsider gets 404.
        lc, lcsrf = await console(ws, light, stack)
        lhtml = body_of((await lc.get(f"/tickets/{tid}")).text, reply_id)
        assert "failed: gave up" in lhtml and "/retry" not in lhtml
        assert (
            await lc.post(f"/tickets/{tid}/email/{out_id}/retry", data={"csrf_token": lcsrf})
        ).status_code == 403
        oc, ocsrf = await console(ws, outsider, stack)
        assert (
            await oc.post(f"/tickets/{tid}/email/{out_id}/retry", data={"csrf_token": ocsrf})
        ).status_code == 404
        # ... and the API's retry follows the same rules (it is the same service).
        async with ws.client(outsider) as api:
            assert (await api.post(f"/email/outbound/{out_id}/retry")).status_code == 404
        # Without the form's CSRF token, nothing is sent.
        assert (await c.post(f"/tickets/{tid}/email/{out_id}/retry", data={})).status_code == 403

        sink.down = False
        sink.refuse["carla@customer.test"] = "550 5.1.1 no such user"
        r = await c.post(f"/tickets/{tid}/email/{out_id}/retry", data={"csrf_token": csrf})
        assert r.status_code == 303
        assert r.headers["location"] == f"/tickets/{tid}?retried={out_id}#m{reply_id}"
        flashed = await c.get(r.headers["location"])
        assert "Sending again." in body_of(flashed.text, reply_id)
        await drain(ws.platform)
        html = body_of((await c.get(f"/tickets/{tid}")).text, reply_id)
        assert "Email: <strong>failed" in html
        assert "carla@customer.test: failed: 550" in html
        # Fixed at the other end: the second retry goes out.
        del sink.refuse["carla@customer.test"]
        r = await c.post(f"/tickets/{tid}/email/{out_id}/retry", data={"csrf_token": csrf})
        assert r.status_code == 303
        await drain(ws.platform)
        html = body_of((await c.get(f"/tickets/{tid}")).text, reply_id)
        assert "Email: <strong>sent</strong>" in html and "carla@customer.test: sent" in html
        assert "/retry" not in html
        assert [m[1] for m in sink.messages] == [["carla@customer.test"]]
        # Retrying what already went out changes nothing and says where it stands.
        r = await c.post(f"/tickets/{tid}/email/{out_id}/retry", data={"csrf_token": csrf})
        assert r.status_code == 303 and r.headers["location"] == f"/tickets/{tid}?retried={out_id}"
        await drain(ws.platform)
        assert len(sink.messages) == 1


async def test_the_page_reads_the_mail_of_all_its_messages_in_one_query(ws: WS, smtp_sink: Any) -> None:
    box, _raw, row = await setup(ws, smtp_sink)
    tid = row["ticket_id"]
    agent = await ws.person(Role.agent, password=PASSWORD, groups=["Billing"])
    for n in range(3):  # more mail on the same ticket (a reply to the first), and agent replies
        more = await deliver(
            ws.platform,
            box,
            mail(
                sender="Carla Customer <carla@customer.test>",
                to=box["address"],
                subject="Re: Printer on fire",
                body=f"More smoke {n}.",
                headers={"In-Reply-To": f"<{row['message_key']}>"},
            ),
        )
        assert more["ticket_id"] == tid, more
    seen: dict[int, tuple[Any, str]] = {}

    def count(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        # An event heard through two engines is one statement; the context is kept so that its id
        # cannot be reused by a later statement (which would overwrite this one).
        seen[id(context)] = (context, statement)

    db = ws.platform.db
    engines = {db.writer.sync_engine, db.reader.sync_engine}
    async with AsyncExitStack() as stack:
        c, csrf = await console(ws, agent, stack)
        for n in range(2):
            r = await c.post(
                f"/tickets/{tid}/messages",
                data={"body": f"Reply {n}", "public": "true", "confirm": "1", "csrf_token": csrf},
            )
            assert r.status_code == 303
        await drain(ws.platform)
        for e in engines:
            sa.event.listen(e, "before_cursor_execute", count)
        try:
            page = await c.get(f"/tickets/{tid}")
        finally:
            for e in engines:
                sa.event.remove(e, "before_cursor_execute", count)
    assert page.status_code == 200
    assert page.text.count("original.eml") == 4 and page.text.count("Email: <strong>") == 2
    mail_reads = [s for _, s in seen.values() if "email_inbound" in s or "email_outbound" in s]
    assert len(mail_reads) == 1, mail_reads


async def test_retry_from_a_page_of_another_ticket_is_404(make_ws: Any) -> None:
    """The page's Retry named the ticket in its address but never checked it: an email of one ticket
    was sent again through the page of any other (even another workspace's, which then 404'd)."""
    one, two = await make_ws("One"), await make_ws("Two")
    box = await make_mailbox(one.platform, one.id, smtp_host="127.0.0.1", smtp_port=9, smtp_tls="none")
    row = await deliver(one.platform, box, mail(to=box["address"]))
    agent = await one.person(Role.agent, password=PASSWORD)
    async with one.client(agent) as api:
        assert (
            await api.post(f"/tickets/{row['ticket_id']}/messages", json={"body": "Hi"})
        ).status_code == 201
        other = (
            await api.post("/tickets", json={"subject": "s", "body": "b", "requester": {"email": "o@x.test"}})
        ).json()
    async with two.client(await two.person(Role.agent)) as api:
        theirs = (
            await api.post("/tickets", json={"subject": "s", "body": "b", "requester": {"email": "o@x.test"}})
        ).json()
    await drain(one.platform)  # the send fails (nothing listens on port 9): the email is retrying

    async def state() -> tuple[Any, ...]:
        async with one.platform.db.read() as conn:
            return tuple(
                (
                    await conn.execute(
                        sa.select(
                            outbox.c.id, outbox.c.state, outbox.c.attempts, outbox.c.next_attempt_at
                        ).where(outbox.c.ticket_id == row["ticket_id"])
                    )
                ).one()
            )

    before = await state()
    out_id = before[0]
    assert before[1] == "retrying"
    async with AsyncExitStack() as stack:
        c, csrf = await console(one, agent, stack)
        for tid in (other["id"], theirs["id"], 999999999):
            r = await c.post(f"/tickets/{tid}/email/{out_id}/retry", data={"csrf_token": csrf})
            assert r.status_code == 404, (tid, r.status_code)
        assert await state() == before
        r = await c.post(f"/tickets/{row['ticket_id']}/email/{out_id}/retry", data={"csrf_token": csrf})
        assert r.status_code == 303 and (await state())[1] == "queued"
