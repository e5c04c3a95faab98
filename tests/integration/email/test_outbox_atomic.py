"""An agent's reply is queued in the outbox by the transaction that writes it, and nothing sweeps
``messages`` afterwards: the old sweep read its cursor and probed ``email_threads`` for every
message above it after each commit that added one, so in a workspace without email (where it found
nothing to send and its cursor never moved) its cost grew with the database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from helpline.domains.accounts.models import Role
from helpline.domains.accounts.principal import Principal
from helpline.domains.channels.email.models import OutboundMail
from helpline.domains.tickets import queries, service
from helpline.domains.tickets.schemas import MessageCreate
from helpline.platform.models import Job
from tests.conftest import WS
from tests.integration.email.conftest import deliver, mail, make_mailbox

outbox, jobs_t = OutboundMail.__table__, Job.__table__


@contextmanager
def statements(platform: Any) -> Iterator[list[str]]:
    """Every SQL statement the platform's engines send meanwhile."""
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    engines = {id(e.sync_engine): e.sync_engine for e in (platform.db.writer, platform.db.reader)}
    for engine in engines.values():
        event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        for engine in engines.values():
            event.remove(engine, "before_cursor_execute", count)


async def test_writes_in_a_workspace_without_email_barely_touch_email_tables(ws: WS) -> None:
    """Creates and notes read nothing of email; a public reply costs one primary-key probe of
    ``email_threads`` (is the ticket served by a mailbox?), whatever the size of the database."""
    agent = await ws.person(Role.agent)
    async with ws.client(agent) as c:
        with statements(ws.platform) as seen:
            for i in range(10):
                r = await c.post(
                    "/tickets",
                    json={
                        "subject": f"Order {i}",
                        "body": "Where is it?",
                        "requester": {"email": f"c{i}@p.test"},
                    },
                )
                assert r.status_code == 201, r.text
                path = f"/tickets/{r.json()['id']}/messages"
                assert (await c.post(path, json={"body": "Checking.", "public": False})).status_code == 201
                assert (await c.post(path, json={"body": "On its way."})).status_code == 201
    assert len(seen) > 60  # the writes were seen
    touching = [" ".join(s.split()) for s in seen if "email_" in s]
    probe = "SELECT email_threads.mailbox_id FROM email_threads WHERE email_threads.ticket_id ="
    assert len(touching) == 10 and all(s.startswith(probe) for s in touching), touching[:3]


async def test_a_reply_is_in_the_outbox_inside_its_own_transaction(ws: WS) -> None:
    box = await make_mailbox(ws.platform, ws.id)
    first = await deliver(
        ws.platform, box, mail(to=box["address"], sender=f"c-{uuid.uuid4().hex[:6]}@c.test")
    )
    person = await ws.person(Role.agent)
    actor = Principal(
        user_id=person.user_id, workspace_id=ws.id, role=person.role, email=person.email, name="Agent"
    )
    async with ws.platform.db.transaction() as uow:
        ticket = await queries.access_ticket(uow.conn, actor, first["ticket_id"])
        message_id = await service.add_message(
            uow, ws.platform.pubsub, actor, ticket, MessageCreate(body="Queued with me.")
        )
        # Before the commit: the mail and its send job are rows of this very transaction.
        queued = (
            await uow.execute(sa.select(outbox.c.id, outbox.c.kind).where(outbox.c.message_id == message_id))
        ).all()
        assert [r[1] for r in queued] == ["reply"]
        job = (
            await uow.execute(
                sa.select(jobs_t.c.args).where(jobs_t.c.kind == "email.send", jobs_t.c.state == "queued")
            )
        ).all()
        assert {"outbound_id": queued[0][0]} in [r[0] for r in job]
