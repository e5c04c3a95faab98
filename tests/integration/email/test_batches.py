"""Mail that arrives in a burst: a job's messages are processed together, runs of new tickets written
a statement per table. The burst must come out exactly as if each message had come alone: one
ticket each in order, one contact per address, replies within the burst threaded, caps counted,
and one message that fails inside a run failing alone."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import pytest
import sqlalchemy as sa

from helpline.domains.accounts.models import Role
from helpline.domains.channels.email import service
from helpline.domains.channels.email.process import process_batch
from helpline.domains.customers import service as customers
from tests.conftest import WS, drain
from tests.integration.email.conftest import inbound_row, mail


async def burst(ws: WS, box: dict[str, Any], raws: list[bytes]) -> list[dict[str, Any]]:
    """Ingest every message first, then run the jobs once: one ``email.process`` batch."""
    ids = [(await service.ingest(ws.platform, box, raw, source="api")).id for raw in raws]
    await drain(ws.platform)
    return [await inbound_row(ws.platform, i) for i in ids]


async def rows(ws: WS, sql: str, **params: Any) -> list[Any]:
    async with ws.platform.db.read() as conn:
        return list(await conn.execute(sa.text(sql), {"w": ws.id, **params}))


def with_file(sender: str, to: str, subject: str, filename: str) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Message-ID"] = f"<{filename}@customer.test>"
    msg.set_content("see attached")
    msg.add_attachment(filename.encode() * 10, maintype="application", subtype="pdf", filename=filename)
    return msg.as_bytes()


async def test_a_burst_of_new_mail_makes_one_ticket_each_in_order(ws: WS, mailbox: dict[str, Any]) -> None:
    to = mailbox["address"]
    async with ws.platform.db.transaction() as uow:
        org = await customers.create_organization(uow, ws.id, name="Customer Inc", domains=["customer.test"])
        known = await customers.find_or_create_contact(uow, ws.id, email="known@other.test", name="Known")
    raws = [
        mail(sender="Carla <carla@customer.test>", to=to, subject="one"),
        mail(sender="Known <known@other.test>", to=to, subject="two"),
        with_file("Carla <carla@customer.test>", to, "three", "invoice-3.pdf"),
        mail(sender="Dan <dan@new.test>", to=to, subject="four", cc="Eve <eve@new.test>, " + to),
        with_file("Dan <dan@new.test>", to, "five", "invoice-5.pdf"),
    ]
    done = await burst(ws, mailbox, raws)
    assert [r["outcome"] for r in done] == ["new_ticket"] * 5
    tickets = {
        r.id: r
        for r in await rows(
            ws,
            "SELECT id, number, subject, requester_id, organization_id FROM tickets WHERE workspace_id = :w",
        )
    }
    made = [tickets[r["ticket_id"]] for r in done]
    assert [t.subject for t in made] == ["one", "two", "three", "four", "five"]
    assert [t.number for t in made] == sorted(t.number for t in made) and len({t.number for t in made}) == 5
    contact_of = {
        v: c
        for v, c in await rows(
            ws, "SELECT value, contact_id FROM contact_identities WHERE workspace_id = :w AND kind = 'email'"
        )
    }
    assert [t.requester_id for t in made] == [
        contact_of["carla@customer.test"],
        known,
        contact_of["carla@customer.test"],
        contact_of["dan@new.test"],
        contact_of["dan@new.test"],
    ]
    # One contact per address however often it appears; our own address never becomes one.
    assert len(contact_of) == len(set(contact_of.values())) == 4 and to not in contact_of
    assert made[0].organization_id == org and made[1].organization_id is None
    # Each message is the first message of its own ticket and carries its own file.
    for r, t in zip(done, made, strict=True):
        [(ticket_id, author)] = await rows(
            ws, "SELECT ticket_id, author_contact_id FROM messages WHERE id = :m", m=r["message_id"]
        )
        assert (ticket_id, author) == (t.id, t.requester_id)
    files = await rows(
        ws,
        "SELECT a.message_id, a.filename FROM attachments a JOIN messages m ON m.id = a.message_id"
        " WHERE m.workspace_id = :w ORDER BY a.filename",
    )
    assert [(m, f) for m, f in files] == [
        (done[2]["message_id"], "invoice-3.pdf"),
        (done[4]["message_id"], "invoice-5.pdf"),
    ]
    ccs = await rows(ws, "SELECT ticket_id, contact_id FROM ticket_ccs WHERE ticket_id = :t", t=made[3].id)
    assert [(t, c) for t, c in ccs] == [(made[3].id, contact_of["eve@new.test"])]
    threads = await rows(ws, "SELECT ticket_id, mailbox_id FROM email_threads WHERE workspace_id = :w")
    assert sorted(threads) == sorted((t.id, mailbox["id"]) for t in made)


async def test_a_reply_inside_the_burst_threads_onto_the_ticket_made_just_before(
    ws: WS, mailbox: dict[str, Any]
) -> None:
    """The second message answers the first before either was processed: it must find the ticket
    the first one makes in the same batch (and so must a copied person replying to all)."""
    to = mailbox["address"]
    done = await burst(
        ws,
        mailbox,
        [
            mail(
                sender="Carla <carla@customer.test>",
                to=to,
                subject="Printer",
                message_id="<p1@customer.test>",
                cc="Eve <eve@customer.test>",
            ),
            mail(sender="Bob <bob@elsewhere.test>", to=to, subject="Unrelated"),
            mail(
                sender="Carla <carla@customer.test>",
                to=to,
                subject="Re: Printer",
                headers={"In-Reply-To": "<p1@customer.test>", "References": "<p1@customer.test>"},
            ),
            mail(
                sender="Eve <eve@customer.test>",
                to=to,
                subject="Re: Printer",
                headers={"References": "<p1@customer.test>"},
            ),
            mail(sender="Bob <bob@elsewhere.test>", to=to, subject="Unrelated again"),
        ],
    )
    assert [r["outcome"] for r in done] == ["new_ticket", "new_ticket", "reply", "reply", "new_ticket"]
    assert done[2]["ticket_id"] == done[0]["ticket_id"] == done[3]["ticket_id"]
    assert done[2]["reason"] == "threaded by known-id"
    assert len({done[0]["ticket_id"], done[1]["ticket_id"], done[4]["ticket_id"]}) == 3


async def test_the_new_ticket_cap_counts_the_messages_of_the_same_burst(
    ws: WS, mailbox: dict[str, Any]
) -> None:
    ws.platform.settings.email_new_tickets_per_sender_per_hour = 2
    to = mailbox["address"]
    done = await burst(
        ws,
        mailbox,
        [mail(to=to, subject=f"n{i}") for i in range(3)]
        + [mail(sender="other@customer.test", to=to, subject="other")]
        + [mail(to=to, subject="n3")],
    )
    assert [r["outcome"] for r in done] == ["new_ticket", "new_ticket", "capped", "new_ticket", "capped"]
    # The cap also counts what earlier batches made.
    [again] = await burst(ws, mailbox, [mail(sender="other@customer.test", to=to, subject="other 2")])
    assert again["outcome"] == "new_ticket"
    [third] = await burst(ws, mailbox, [mail(sender="other@customer.test", to=to, subject="other 3")])
    assert third["outcome"] == "capped"


@pytest.fixture
async def exploding_messages(ws: WS) -> AsyncIterator[None]:
    """A real database error for any message whose text holds EXPLODE (a trigger), as a disk or
    constraint error would raise in the middle of writing a run."""
    if ws.platform.db.dialect == "sqlite":
        create = [
            "CREATE TRIGGER explode BEFORE INSERT ON messages WHEN NEW.body_text LIKE '%EXPLODE%'"
            " BEGIN SELECT RAISE(ABORT, 'boom: refused by trigger'); END"
        ]
        drop = ["DROP TRIGGER explode"]
    else:
        create = [
            "CREATE FUNCTION explode() RETURNS trigger AS $$ BEGIN IF NEW.body_text LIKE '%EXPLODE%' THEN"
            " RAISE EXCEPTION 'boom: refused by trigger'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER explode BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION explode()",
        ]
        drop = ["DROP TRIGGER explode ON messages", "DROP FUNCTION explode()"]
    async with ws.platform.db.transaction() as uow:
        for sql in create:
            await uow.execute(sa.text(sql))
    try:
        yield
    finally:
        async with ws.platform.db.transaction() as uow:
            for sql in drop:
                await uow.execute(sa.text(sql))


async def test_one_message_failing_inside_a_run_fails_alone(
    ws: WS, mailbox: dict[str, Any], exploding_messages: None
) -> None:
    to = mailbox["address"]
    senders = [f"s{i}@burst.test" for i in range(5)]
    done = await burst(
        ws,
        mailbox,
        [
            mail(sender=s, to=to, subject=f"m{i}", body="EXPLODE\n" if i == 2 else f"fine {i}\n")
            for i, s in enumerate(senders)
        ],
    )
    assert [r["outcome"] for r in done] == ["new_ticket", "new_ticket", "failed", "new_ticket", "new_ticket"]
    assert "boom" in done[2]["reason"] and done[2]["state"] == "failed" and done[2]["ticket_id"] is None
    subjects = sorted(s for (s,) in await rows(ws, "SELECT subject FROM tickets WHERE workspace_id = :w"))
    assert subjects == ["m0", "m1", "m3", "m4"]
    # Nothing of the failed message stays behind: not even the contact made for its sender.
    addresses = {v for (v,) in await rows(ws, "SELECT value FROM contact_identities WHERE workspace_id = :w")}
    assert addresses == {s for i, s in enumerate(senders) if i != 2}


async def test_replies_in_a_burst_reopen_their_tickets_and_tell_the_assignee_once_each(
    ws: WS, mailbox: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    to = mailbox["address"]
    agent = await ws.person(Role.agent)
    first = await burst(
        ws,
        mailbox,
        [
            mail(sender="a@burst.test", to=to, subject="A", message_id="<a1@burst.test>"),
            mail(sender="b@burst.test", to=to, subject="B", message_id="<b1@burst.test>"),
        ],
    )
    ta, tb = first[0]["ticket_id"], first[1]["ticket_id"]
    async with ws.platform.db.transaction() as uow:
        await uow.execute(
            sa.text("UPDATE tickets SET status = 'solved', solved_at = :now, assignee_id = :u WHERE id = :t"),
            {"now": datetime.now(UTC), "u": agent.user_id, "t": ta},
        )
        await uow.execute(sa.text("UPDATE tickets SET status = 'pending' WHERE id = :t"), {"t": tb})
    raws = [
        mail(sender="a@burst.test", to=to, subject="Re: A", headers={"In-Reply-To": "<a1@burst.test>"}),
        mail(sender="c@burst.test", to=to, subject="C"),
        mail(sender="b@burst.test", to=to, subject="Re: B", headers={"References": "<b1@burst.test>"}),
        mail(sender="a@burst.test", to=to, subject="Re: A again", headers={"References": "<a1@burst.test>"}),
    ]
    ids = [(await service.ingest(ws.platform, mailbox, raw, source="api")).id for raw in raws]
    caplog.set_level(logging.ERROR)
    outcomes = await process_batch(ws.platform, ids)
    assert [outcomes[i] for i in ids] == ["reply", "new_ticket", "reply", "reply"]
    assert "together failed" not in caplog.text  # written as a run, not one at a time after a failure
    done = [await inbound_row(ws.platform, i) for i in ids]
    assert [r["ticket_id"] for r in done] == [ta, done[1]["ticket_id"], tb, ta]
    state = {
        t: (status, solved)
        for t, status, solved in await rows(
            ws, "SELECT id, status, solved_at FROM tickets WHERE id IN (:a, :b)", a=ta, b=tb
        )
    }
    assert state == {ta: ("open", None), tb: ("open", None)}
    reopened = await rows(
        ws,
        "SELECT ticket_id FROM events WHERE workspace_id = :w AND kind = 'field_changed'"
        " AND field = 'status'",
    )
    assert sorted(t for (t,) in reopened) == sorted(
        [ta, tb]
    )  # the second reply to A does not reopen it again
    authors = {
        a for (a,) in await rows(ws, "SELECT author_contact_id FROM messages WHERE ticket_id = :t", t=ta)
    }
    assert (
        len(await rows(ws, "SELECT id FROM messages WHERE ticket_id = :t", t=ta)) == 3 and len(authors) == 1
    )
    told = await rows(ws, "SELECT args FROM jobs WHERE kind = 'notify.customer_reply'")
    told_about = sorted((json.loads(a) if isinstance(a, str) else a)["message_id"] for (a,) in told)
    assert told_about == sorted([done[0]["message_id"], done[3]["message_id"]])


async def test_a_burst_is_written_a_statement_per_table(ws: WS, mailbox: dict[str, Any]) -> None:
    """What makes a burst cheap: ten new tickets and two replies take one INSERT into tickets and
    one or two (new tickets, replies) into messages, events and the thread tables, not twelve
    (statements counted on the database connection, not timed)."""
    seen: dict[int, tuple[Any, str]] = {}

    def count(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        seen[id(context)] = (context, statement)

    to = mailbox["address"]
    old = await burst(
        ws,
        mailbox,
        [mail(sender=f"old{i}@burst.test", to=to, message_id=f"<old{i}@burst.test>") for i in range(2)],
    )
    for i in range(10):
        await service.ingest(
            ws.platform, mailbox, mail(sender=f"c{i}@burst.test", to=to, subject=f"b{i}"), source="api"
        )
        if i in (3, 7):  # replies in between join the run
            j = i // 4
            reply = mail(
                sender=f"old{j}@burst.test",
                to=to,
                subject="Re",
                headers={"References": f"<old{j}@burst.test>"},
            )
            await service.ingest(ws.platform, mailbox, reply, source="api")
    engine = ws.platform.db.writer.sync_engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        await drain(ws.platform)
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    inserts = [s.split("(")[0].strip() for _, s in seen.values() if s.lstrip().upper().startswith("INSERT")]
    assert inserts.count("INSERT INTO tickets") == 1, inserts
    for table in ("messages", "events", "email_threads", "email_message_ids"):
        assert inserts.count(f"INSERT INTO {table}") == 2, (table, inserts)
    assert len(await rows(ws, "SELECT id FROM tickets WHERE workspace_id = :w")) == 12
    for r in old:
        assert len(await rows(ws, "SELECT id FROM messages WHERE ticket_id = :t", t=r["ticket_id"])) == 2


async def test_replies_of_several_people_to_one_ticket_in_a_burst_keep_their_order_and_reopen_once(
    ws: WS, mailbox: dict[str, Any]
) -> None:
    """Two participants answer the same solved ticket in one batch, then one of them copies someone
    in: every message lands in arrival order, the ticket is reopened once (not once per reply, from
    a status read before the first reply was written), and the copied person follows the ticket."""
    to = mailbox["address"]
    [first] = await burst(
        ws,
        mailbox,
        [mail(sender="a@burst.test", to=to, cc="b@burst.test", subject="T", message_id="<t1@burst.test>")],
    )
    ticket = first["ticket_id"]
    async with ws.platform.db.transaction() as uow:
        await uow.execute(sa.text("UPDATE tickets SET status = 'solved' WHERE id = :t"), {"t": ticket})
    refs = {"References": "<t1@burst.test>"}
    done = await burst(
        ws,
        mailbox,
        [
            mail(sender="a@burst.test", to=to, subject="Re: T", body="first answer\n", headers=refs),
            mail(sender="b@burst.test", to=to, subject="Re: T", body="second answer\n", headers=refs),
            mail(
                sender="a@burst.test", to=to, cc="c@burst.test", subject="Re: T", body="third\n", headers=refs
            ),
        ],
    )
    assert [r["outcome"] for r in done] == ["reply"] * 3 and {r["ticket_id"] for r in done} == {ticket}
    bodies = [
        b
        for (b,) in await rows(
            ws, "SELECT body_text FROM messages WHERE ticket_id = :t ORDER BY id", t=ticket
        )
    ]
    assert [b.strip() for b in bodies[1:]] == ["first answer", "second answer", "third"]
    reopened = await rows(
        ws,
        "SELECT old FROM events WHERE ticket_id = :t AND kind = 'field_changed' AND field = 'status'",
        t=ticket,
    )
    assert len(reopened) == 1, reopened
    copied = {
        v
        for (v,) in await rows(
            ws,
            "SELECT i.value FROM ticket_ccs c JOIN contact_identities i ON i.contact_id = c.contact_id"
            " WHERE c.ticket_id = :t",
            t=ticket,
        )
    }
    assert copied == {"b@burst.test", "c@burst.test"}
