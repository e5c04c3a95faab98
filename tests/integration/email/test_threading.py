"""Replies thread onto the right ticket with the headers real clients send; nothing an email says
makes it an agent's message; forged tokens and spoofed agents end up as customers' messages, and
nothing is sent to the customer. CCs and organizations (people)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from helpline.domains.accounts.models import Role
from helpline.domains.channels.email import threading
from helpline.domains.channels.email.models import OutboundMail
from helpline.domains.customers.models import Contact, ContactIdentity
from helpline.domains.tickets.models import Message, Ticket, TicketCC
from tests.conftest import WS, drain
from tests.integration.email.conftest import deliver, mail

outbox = OutboundMail.__table__
tickets = Ticket.__table__
messages = Message.__table__
ccs = TicketCC.__table__
contacts = Contact.__table__
identities = ContactIdentity.__table__

CUSTOMER = "Carla Customer <carla@customer.test>"


async def start(ws: WS, mailbox: dict[str, Any], **kw: Any) -> tuple[dict[str, Any], dict[str, Any], Any]:
    """A customer writes in, an agent answers by the API: (first inbound row, our reply's outbox row,
    agent)."""
    first = await deliver(
        ws.platform, mailbox, mail(to=mailbox["address"], message_id="<orig-1@customer.test>", **kw)
    )
    assert first["outcome"] == "new_ticket", first
    agent = await ws.person(Role.agent)
    async with ws.client(agent) as c:
        r = await c.post(
            f"/tickets/{first['ticket_id']}/messages", json={"body": "Have you tried water?", "public": True}
        )
        assert r.status_code == 201, r.text
    await drain(ws.platform)
    async with ws.platform.db.read() as conn:
        reply = dict(
            (
                await conn.execute(
                    sa.select(outbox).where(
                        outbox.c.ticket_id == first["ticket_id"], outbox.c.kind == "reply"
                    )
                )
            )
            .mappings()
            .one()
        )
    assert reply["state"] == "sent", reply
    return first, reply, agent


async def number_of(ws: WS, ticket_id: int) -> int:
    async with ws.platform.db.read() as conn:
        return int(
            (await conn.execute(sa.select(tickets.c.number).where(tickets.c.id == ticket_id))).scalar_one()
        )


def client_reply(kind: str, *, ours: str, plus: str, base: str, number: int, sender: str = CUSTOMER) -> bytes:
    subject = f"Re: Printer on fire [#{number}]"
    if kind == "thunderbird":
        headers = {
            "In-Reply-To": f"<{ours}>",
            "References": f"<orig-1@customer.test> <{ours}>",
            "User-Agent": "Mozilla Thunderbird",
        }
        to = plus
    elif kind == "outlook":  # Outlook keeps In-Reply-To but often drops References; adds Thread-Index
        headers = {
            "In-Reply-To": f"<{ours}>",
            "Thread-Topic": "Printer on fire",
            "Thread-Index": "AQHZ1234abcd==",
            "X-Mailer": "Microsoft Outlook 16.0",
        }
        to, subject = plus, f"RE: Printer on fire [#{number}]"
    elif kind == "gmail":
        headers = {"In-Reply-To": f"<{ours}>", "References": f"<orig-1@customer.test> <{ours}>"}
        to = f"Support <{plus}>"
    elif kind == "apple":
        headers = {
            "References": f"<orig-1@customer.test> <{ours}>",
            "In-Reply-To": f"<{ours}>",
            "X-Mailer": "Apple Mail (2.3731)",
        }
        to = plus
    elif kind == "outlook-stripped":  # an Exchange relay that dropped the threading headers: Reply-To token
        headers, to = {}, plus
    elif kind == "subject-only":
        headers, to = {}, base
    else:
        raise AssertionError(kind)
    return mail(
        sender=sender,
        to=to,
        subject=subject,
        body="Still burning.\n\n> Have you tried water?\n",
        headers=headers,
    )


@pytest.mark.parametrize(
    "kind", ["thunderbird", "outlook", "gmail", "apple", "outlook-stripped", "subject-only"]
)
async def test_real_client_replies_thread_onto_the_ticket(ws: WS, mailbox: dict[str, Any], kind: str) -> None:
    first, reply, _agent = await start(ws, mailbox)
    plus = threading.reply_address(
        ws.platform.settings.ensure_secret_key(), ws.id, first["ticket_id"], mailbox["address"]
    )
    raw = client_reply(
        kind,
        ours=reply["rfc_message_id"],
        plus=plus,
        base=mailbox["address"],
        number=await number_of(ws, first["ticket_id"]),
    )
    row = await deliver(ws.platform, mailbox, raw)
    assert row["outcome"] == "reply" and row["ticket_id"] == first["ticket_id"], row
    async with ws.platform.db.read() as conn:
        m = (
            (await conn.execute(sa.select(messages).where(messages.c.id == row["message_id"])))
            .mappings()
            .one()
        )
    assert m["author_kind"] == "customer" and m["author_user_id"] is None


async def test_subject_number_from_a_stranger_opens_a_new_ticket(ws: WS, mailbox: dict[str, Any]) -> None:
    first, reply, _ = await start(ws, mailbox)
    raw = client_reply(
        "subject-only",
        ours=reply["rfc_message_id"],
        plus="",
        base=mailbox["address"],
        number=await number_of(ws, first["ticket_id"]),
        sender="mallory@evil.test",
    )
    row = await deliver(ws.platform, mailbox, raw)
    assert row["outcome"] == "new_ticket" and row["ticket_id"] != first["ticket_id"]


async def test_forged_tokens_and_a_spoofed_agent_are_customer_messages_and_nothing_is_sent(
    ws: WS, mailbox: dict[str, Any]
) -> None:
    first, reply, agent = await start(ws, mailbox)
    sent_before = len(ws.platform.mail.sent)
    tid = first["ticket_id"]
    forged_id = f"hl.{tid}.m1.{'0' * 16}@{mailbox['address'].split('@')[1]}"
    forged_plus = mailbox["address"].replace("@", f"+hl{tid}-{'a' * 16}@")
    for raw in (
        # An agent's From with a forged Message-ID token: a new ticket from a "customer" with that address.
        mail(
            sender=agent.email,
            to=forged_plus,
            subject="Refund approved",
            body="We refund you 1000 EUR.",
            headers={"In-Reply-To": f"<{forged_id}>"},
        ),
        # An agent's From with a *valid* token: threads, but as a customer's message; no email goes out.
        mail(
            sender=agent.email,
            to=mailbox["address"],
            subject="Re: Printer on fire",
            body="Refund approved!",
            headers={
                "In-Reply-To": f"<{reply['rfc_message_id']}>",
                "References": f"<{reply['rfc_message_id']}>",
            },
        ),
    ):
        row = await deliver(ws.platform, mailbox, raw)
        assert row["state"] == "processed"
        async with ws.platform.db.read() as conn:
            m = (
                (await conn.execute(sa.select(messages).where(messages.c.id == row["message_id"])))
                .mappings()
                .one()
            )
        assert m["author_kind"] == "customer" and m["author_user_id"] is None
    async with ws.platform.db.read() as conn:
        n_out = (
            await conn.execute(
                sa.select(sa.func.count()).select_from(outbox).where(outbox.c.workspace_id == ws.id)
            )
        ).scalar()
        threaded = (
            await conn.execute(sa.select(messages.c.ticket_id).where(messages.c.id == row["message_id"]))
        ).scalar()
    assert threaded == tid  # the valid token threads ...
    assert n_out == 1  # ... but only the agent's own reply was ever queued: nothing went to the customer
    await drain(ws.platform)
    assert len(ws.platform.mail.sent) == sent_before


async def test_forged_token_alone_opens_a_new_ticket(ws: WS, mailbox: dict[str, Any]) -> None:
    first, _reply, _ = await start(ws, mailbox)
    tid = first["ticket_id"]
    forged_id = f"hl.{tid}.m1.{'f' * 16}@acme.test"
    row = await deliver(
        ws.platform,
        mailbox,
        mail(
            sender="mallory@evil.test",
            to=mailbox["address"],
            subject="Re: hi",
            headers={"In-Reply-To": f"<{forged_id}>"},
        ),
    )
    assert row["outcome"] == "new_ticket" and row["ticket_id"] != tid


async def test_ccs_become_followers_only_when_the_sender_participates(
    ws: WS, mailbox: dict[str, Any]
) -> None:
    first, reply, _ = await start(ws, mailbox, cc="Boss <boss@customer.test>, support@other.test")
    tid = first["ticket_id"]

    async def cc_emails() -> set[str]:
        async with ws.platform.db.read() as conn:
            return {
                r[0]
                for r in await conn.execute(
                    sa.select(identities.c.value)
                    .join(ccs, ccs.c.contact_id == identities.c.contact_id)
                    .where(ccs.c.ticket_id == tid)
                )
            }

    assert await cc_emails() == {"boss@customer.test", "support@other.test"}
    # A stranger replying with a valid token is added to the conversation but may not add people.
    await deliver(
        ws.platform,
        mailbox,
        mail(
            sender="stranger@else.test",
            to=mailbox["address"],
            cc="friend@else.test",
            subject="Re: x",
            headers={"In-Reply-To": f"<{reply['rfc_message_id']}>"},
        ),
    )
    assert "friend@else.test" not in await cc_emails()
    # The requester may.
    await deliver(
        ws.platform,
        mailbox,
        mail(
            sender=CUSTOMER,
            to=mailbox["address"],
            cc="colleague@customer.test",
            subject="Re: x",
            headers={"In-Reply-To": f"<{reply['rfc_message_id']}>"},
        ),
    )
    assert "colleague@customer.test" in await cc_emails()


async def test_sender_matches_a_contact_and_an_organization_by_domain(
    ws: WS, mailbox: dict[str, Any]
) -> None:
    admin = await ws.person(Role.admin)
    async with ws.client(admin) as c:
        r = await c.post("/organizations", json={"name": "Customer Inc", "domains": ["customer.test"]})
        assert r.status_code == 201, r.text
        org_id = r.json()["id"]
        r = await c.post("/contacts", json={"name": "Known Person", "email": "known@customer.test"})
        known_id = r.json()["id"]
    row = await deliver(
        ws.platform, mailbox, mail(sender="Known <KNOWN@customer.test>", to=mailbox["address"])
    )
    new = await deliver(
        ws.platform, mailbox, mail(sender="New Person <new@customer.test>", to=mailbox["address"])
    )
    async with ws.platform.db.read() as conn:
        t1 = (await conn.execute(sa.select(tickets).where(tickets.c.id == row["ticket_id"]))).mappings().one()
        t2 = (await conn.execute(sa.select(tickets).where(tickets.c.id == new["ticket_id"]))).mappings().one()
        c2 = (
            (await conn.execute(sa.select(contacts).where(contacts.c.id == t2["requester_id"])))
            .mappings()
            .one()
        )
    assert t1["requester_id"] == known_id
    assert c2["name"] == "New Person" and c2["organization_id"] == org_id and t2["organization_id"] == org_id
