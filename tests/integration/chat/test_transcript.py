"""The transcript mailed when a chat ends continues the conversation by email, on SQLite and
PostgreSQL: with a mailbox, it goes out through that mailbox (a real SMTP server, aiosmtpd) with the
ticket's signed Reply-To and a Message-ID of ours, and the customer's reply to it, ingested by the
email channel, lands on the same ticket as the customer's message. Without a mailbox it still goes
out, from HELPLINE_MAIL_FROM, and says that replies do not reach us."""

from __future__ import annotations

import email
import uuid
from email import policy
from typing import Any

import sqlalchemy as sa

from helpline.domains.accounts.models import Role
from helpline.domains.channels.chat import queries, routing, service
from helpline.domains.channels.email import threading
from helpline.domains.channels.email.models import OutboundMail
from helpline.domains.tickets.models import Message, Ticket
from tests.conftest import WS, drain
from tests.integration.email.conftest import deliver, mail, make_mailbox

from .conftest import principal

messages, tickets, outbox = Message.__table__, Ticket.__table__, OutboundMail.__table__


async def chat_that_ends(ws: WS, widget: dict[str, Any], address: str) -> int:
    """A visitor who gave ``address`` chats with an agent, who closes the chat. The ticket."""
    async with ws.platform.db.read() as conn:
        row = await queries.widget_by_key(conn, widget["key"])
    v = await service.resolve(ws.platform, row, None, None, ip=f"10.0.0.{uuid.uuid4().int % 250}")
    await service.start(ws.platform, v, {"name": "Vera", "email": address}, "Where is my order?", "c0")
    assert v.session is not None
    ticket_id = int(v.session["ticket_id"])
    agent = principal(ws, await ws.person(Role.agent))
    await routing.accept(ws.platform, agent, ticket_id)
    await service.agent_send(ws.platform, agent, ticket_id, "a1", "It left the warehouse today.")
    await routing.end(ws.platform, ws.id, ticket_id, agent)
    await drain(ws.platform)
    return ticket_id


async def customer_messages(ws: WS, ticket_id: int) -> list[str]:
    async with ws.platform.db.read() as conn:
        rows = await conn.execute(
            sa.select(messages.c.body_text)
            .where(messages.c.ticket_id == ticket_id, messages.c.author_kind == "customer")
            .order_by(messages.c.id)
        )
        return [str(r[0]) for r in rows]


async def test_a_reply_to_the_transcript_lands_on_the_chat_ticket(
    ws: WS, widget: dict[str, Any], smtp_sink: Any
) -> None:
    ctl, sink = smtp_sink
    box = await make_mailbox(
        ws.platform, ws.id, name="Acme Support", smtp_host=ctl.hostname, smtp_port=ctl.port, smtp_tls="none"
    )
    address = f"vera-{uuid.uuid4().hex[:6]}@customer.test"
    ticket_id = await chat_that_ends(ws, widget, address)

    # The transcript, and only it, went out through the mailbox (the chat's lines were seen live).
    [(mail_from, rcpts, raw)] = sink.messages
    assert mail_from == box["address"] and rcpts == [address]
    sent = email.message_from_bytes(raw, policy=policy.default)
    secret = ws.platform.settings.ensure_secret_key()
    assert sent["Reply-To"] == threading.reply_address(secret, ws.id, ticket_id, box["address"])
    rfc_id = sent["Message-ID"].strip("<>")
    assert threading.verify_message_id(secret, ws.id, rfc_id) == ticket_id
    assert "Acme Support" in sent["From"] and sent["Auto-Submitted"] == "auto-generated"
    text = sent.get_body(("plain",)).get_content()
    assert "Where is my order?" in text and "It left the warehouse today." in text
    assert "reply to this email" in text
    async with ws.platform.db.read() as conn:
        kinds = (
            await conn.execute(
                sa.select(outbox.c.kind, outbox.c.state).where(outbox.c.ticket_id == ticket_id)
            )
        ).all()
        before = (
            await conn.execute(
                sa.select(sa.func.count()).select_from(tickets).where(tickets.c.workspace_id == ws.id)
            )
        ).scalar_one()
    assert [tuple(k) for k in kinds] == [("transcript", "sent")]

    # The customer answers from their mail client: In-Reply-To names the transcript, To is the Reply-To.
    answer = mail(
        sender=f"Vera <{address}>",
        to=sent["Reply-To"],
        subject=f"Re: {sent['Subject']}",
        body="Thanks! Can it go to my office instead?\n",
        headers={"In-Reply-To": sent["Message-ID"], "References": sent["Message-ID"]},
    )
    got = await deliver(ws.platform, box, answer)
    assert got["ticket_id"] == ticket_id, got
    # A client that keeps only the Reply-To (no In-Reply-To, a new subject) threads there too.
    again = mail(sender=address, to=sent["Reply-To"], subject="One more thing", body="And gift-wrap it.\n")
    assert (await deliver(ws.platform, box, again))["ticket_id"] == ticket_id
    found = await customer_messages(ws, ticket_id)
    assert found[0] == "Where is my order?"
    assert any("office instead" in m for m in found) and any("gift-wrap" in m for m in found), found
    async with ws.platform.db.read() as conn:
        after = (
            await conn.execute(
                sa.select(sa.func.count()).select_from(tickets).where(tickets.c.workspace_id == ws.id)
            )
        ).scalar_one()
    assert after == before  # no new ticket

    # The agent answers on the ticket: that goes out by email, threaded under the customer's reply.
    async with ws.client(await ws.person(Role.agent)) as c:
        r = await c.post(
            f"/tickets/{ticket_id}/messages", json={"body": "Done: office it is.", "public": True}
        )
        assert r.status_code == 201, r.text
    await drain(ws.platform)
    assert len(sink.messages) == 2
    follow = email.message_from_bytes(sink.messages[1][2], policy=policy.default)
    assert sink.messages[1][1] == [address] and "office it is" in follow.get_body(("plain",)).get_content()
    assert follow["In-Reply-To"] is not None and sent["Message-ID"] in follow["References"]

    # The transcript job running again (a worker that died before recording it) sends nothing more.
    from helpline.domains.channels.chat.jobs import send_transcripts
    from helpline.domains.channels.chat.models import ChatSession

    sessions = ChatSession.__table__
    async with ws.platform.db.read() as conn:
        sid = (
            await conn.execute(sa.select(sessions.c.id).where(sessions.c.ticket_id == ticket_id))
        ).scalar_one()
    await send_transcripts(ws.platform, [{"session_id": int(sid)}])
    await drain(ws.platform)
    assert len(sink.messages) == 2


async def test_without_a_mailbox_the_transcript_says_replies_do_not_reach_us(
    ws: WS, widget: dict[str, Any]
) -> None:
    address = f"otto-{uuid.uuid4().hex[:6]}@customer.test"
    ticket_id = await chat_that_ends(ws, widget, address)
    [sent] = [m for m in ws.platform.mail.sent if m["To"] == address]
    assert sent["Reply-To"] is None and sent["From"] == ws.platform.settings.mail_from
    secret = ws.platform.settings.ensure_secret_key()
    assert threading.verify_message_id(secret, ws.id, sent["Message-ID"].strip("<>")) == ticket_id
    text = sent.get_content()
    assert "It left the warehouse today." in text and "start a new chat" in text
    assert "reply to this email" not in text
