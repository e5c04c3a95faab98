"""Privacy requests about a contact: the export holds everything held about them (and nothing of another
workspace), the erasure leaves nothing identifying (text, subjects, identities, files, raw mail, search
hits) while the tickets stay, a file another ticket still uses is kept, the message guards still refuse
ordinary edits, a second erasure changes nothing, and only an admin of the contact's workspace may do
either. Real email ingest, portal reply (the customer's API), internal note, chat, on both databases."""

from __future__ import annotations

import io
import uuid
import zipfile
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from helpline.db.base import Base, utcnow
from helpline.domains.accounts.models import AuditEntry, Membership, Role, User
from helpline.domains.customers import privacy
from helpline.domains.customers.models import Contact, ContactIdentity
from helpline.domains.knowledge import tracking
from helpline.domains.tickets.models import Attachment, Event, Message, Ticket
from tests.conftest import WS, drain, problem
from tests.integration.email.conftest import deliver, make_mailbox

messages = Message.__table__
tickets = Ticket.__table__
attachments = Attachment.__table__
events = Event.__table__
contacts = Contact.__table__
identities = ContactIdentity.__table__
audit_log = AuditEntry.__table__
members = Membership.__table__
users = User.__table__

ORIGIN = "http://shop.test:8080"


def word(prefix: str) -> str:
    """A word that exists nowhere else (letters only: the search tokenizers keep it whole)."""
    return prefix + "".join(chr(ord("a") + int(c, 16) % 26) for c in uuid.uuid4().hex[:10])


def email_with_files(sender: str, to: str, subject: str, body: str, files: list[tuple[str, bytes]]) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="customer.test")
    msg.set_content(body)
    for name, data in files:
        msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return msg.as_bytes()


async def rows(ws: WS, stmt: Any) -> list[dict[str, Any]]:
    async with ws.platform.db.read() as conn:
        return [dict(r) for r in (await conn.execute(stmt)).mappings()]


async def search_hits(api: httpx.AsyncClient, q: str) -> list[int]:
    r = await api.get("/tickets", params={"q": q})
    assert r.status_code == 200, r.text
    return [t["id"] for t in r.json()["items"]]


async def start_chat(ws: WS, admin: Any, *, name: str, email: str, body: str) -> None:
    async with ws.client(admin) as api:
        r = await api.post(
            "/chat/widgets", json={"name": f"Shop {uuid.uuid4().hex[:4]}", "allowed_origins": [ORIGIN]}
        )
        assert r.status_code == 201, r.text
        key = r.json()["key"]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=ws.app), base_url="http://testserver", headers={"Origin": ORIGIN}
    ) as c:
        r = await c.post(
            f"/chat/frame?widget={key}",
            json={
                "frame": {"t": "start", "fields": {"name": name, "email": email}, "body": body, "cid": "c0"}
            },
        )
        assert r.status_code == 200 and r.json()["t"] == "started", r.text


class Story:
    """Carla in workspace A: an email with two files, a portal reply, an internal note about her, a reply
    mailed to her, a chat,
    a ticket she is CC'd on, a help-centre search with her address; and Carla in workspace B."""

    async def build(self, make_ws: Any) -> Story:
        self.a: WS = await make_ws("A")
        self.b: WS = await make_ws("B")
        p = self.a.platform
        self.admin = await self.a.person(Role.admin)
        self.agent = await self.a.person(Role.agent)
        self.admin_b = await self.b.person(Role.admin)
        self.email = f"carla-{uuid.uuid4().hex[:8]}@customer.test"
        self.words = {k: word(k) for k in ("subj", "mail", "portal", "note", "chat")}
        self.passport = b"passport scan " + uuid.uuid4().bytes
        self.shared = b"the shop's logo " + uuid.uuid4().bytes
        box = await make_mailbox(p, self.a.id)
        self.raw = email_with_files(
            f"Carla Customer <{self.email}>",
            box["address"],
            f"Refund {self.words['subj']}",
            f"Hello, about my order: {self.words['mail']}.\n",
            [("passport.pdf", self.passport), ("logo.png", self.shared)],
        )
        row = await deliver(p, box, self.raw)
        assert row["outcome"] == "new_ticket", row
        self.inbound_id, self.t1 = row["id"], row["ticket_id"]
        self.raw_sha = row["raw_sha256"]
        other = await deliver(
            p,
            box,
            email_with_files(
                f"Otto <otto-{uuid.uuid4().hex[:6]}@other.test>",
                box["address"],
                "Logo question",
                "Is this your logo?\n",
                [("logo.png", self.shared)],
            ),
        )
        self.t2 = other["ticket_id"]
        self.carla = await self.a.person(Role.customer, email=self.email, name="Carla Customer")
        self.carla_b = await self.b.person(Role.customer, email=self.email, name="Carla Customer")
        self.contact_id = self.carla.contact_id
        assert self.contact_id is not None
        async with self.a.client(self.carla) as me:
            r = await me.post(
                f"/tickets/{self.t1}/messages", json={"body": f"Any news? {self.words['portal']}"}
            )
            assert r.status_code == 201, r.text
        async with self.a.client(self.agent) as api:
            r = await api.post(
                f"/tickets/{self.t1}/messages",
                json={"body": f"Carla called, {self.words['note']}", "public": False},
            )
            assert r.status_code == 201, r.text
            # A reply mailed to her: its delivery record names her address.
            r = await api.post(f"/tickets/{self.t1}/messages", json={"body": "We are on it."})
            assert r.status_code == 201, r.text
            r = await api.post(
                "/tickets",
                json={
                    "subject": "Team outing",
                    "body": "Who is coming?",
                    "requester": {"email": f"olga-{uuid.uuid4().hex[:6]}@other.test"},
                    "cc_emails": [self.email],
                },
            )
            assert r.status_code == 201, r.text
            self.t3 = r.json()["id"]
        await start_chat(
            self.a, self.admin, name="Carla Customer", email=self.email, body=f"Hi! {self.words['chat']}"
        )
        async with p.db.transaction() as uow:
            await tracking.log_search(
                uow,
                self.a.id,
                f"cancel order {self.email}",
                locale="en",
                source="helpcenter",
                results=0,
                top_article_id=None,
            )
        await drain(p)
        return self

    async def contact_b(self) -> dict[str, Any]:
        (row,) = await rows(self.b, sa.select(contacts).where(contacts.c.id == self.carla_b.contact_id))
        return row


@pytest.fixture
async def story(make_ws: Any) -> Story:
    return await Story().build(make_ws)


async def test_the_export_holds_everything_held_about_the_contact(story: Story) -> None:
    s = story
    async with s.a.client(s.admin) as api:
        r = await api.get(f"/contacts/{s.contact_id}/export")
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/json")
        doc = r.json()
        z = await api.get(f"/contacts/{s.contact_id}/export", params={"format": "zip"})
        assert z.status_code == 200 and z.headers["content-type"] == "application/zip"
    assert doc["format_version"] == privacy.FORMAT_VERSION == 1
    assert doc["workspace"]["id"] == s.a.id
    assert doc["contact"]["id"] == s.contact_id and doc["contact"]["name"] == "Carla Customer"
    assert [(i["kind"], i["value"]) for i in doc["identities"]] == [("email", s.email)]
    # The sign-in account as workspace A knows it, and nothing of workspace B.
    (account,) = doc["accounts"]
    assert (
        account["email"] == s.email
        and account["role"] == "customer"
        and account["user_id"] == s.carla.user_id
    )
    assert str(s.b.id) not in {str(v) for v in account.values()}
    assert s.carla_b.contact_id not in orjson.dumps(doc).decode().split('"id":')  # not a contact of B
    by_id = {t["id"]: t for t in doc["tickets"]}
    assert s.t2 not in by_id  # Otto's ticket shares a file, not a person
    t1 = by_id[s.t1]
    assert t1["relation"] == "requester" and s.words["subj"] in t1["subject"]
    texts = [m["body_text"] for m in t1["messages"]]
    assert any(s.words["mail"] in t for t in texts)
    assert any(s.words["portal"] in t for t in texts)
    note = next(m for m in t1["messages"] if s.words["note"] in m["body_text"])
    assert note["public"] is False and note["by_this_contact"] is False
    first = t1["messages"][0]
    assert first["by_this_contact"] is True and first["channel"] == "email"
    files = {a["filename"]: a for a in first["attachments"]}
    assert set(files) == {"passport.pdf", "logo.png"}
    assert files["passport.pdf"]["size"] == len(s.passport)
    assert files["passport.pdf"]["download"] == f"/api/v1/attachments/{files['passport.pdf']['id']}"
    assert by_id[s.t3]["relation"] == "cc" and all(m["public"] for m in by_id[s.t3]["messages"])
    (chat,) = doc["chats"]
    assert any(s.words["chat"] in m["body_text"] for m in by_id[chat["ticket_id"]]["messages"])
    assert chat["lines"] and chat["lines"][0]["seq"] == 1
    assert [v["email"] for v in doc["chat_visitors"]] == [s.email]
    (mail,) = doc["email"]["inbound"]
    assert mail["id"] == s.inbound_id and mail["raw_sha256"] == s.raw_sha
    assert mail["from_address"] == s.email and mail["download"] == f"/api/v1/email/inbound/{s.inbound_id}/raw"
    assert ["Subject", f"Refund {s.words['subj']}"] in mail["headers"]
    (sent,) = doc["email"]["outbound"]
    assert sent["ticket_id"] == s.t1 and s.email in sent["recipients"]
    assert [q["query"] for q in doc["knowledge"]["searches"]] == [f"cancel order {s.email}"]
    assert doc["portal_sign_in_links"] == [] and doc["satisfaction"] == []

    archive = zipfile.ZipFile(io.BytesIO(z.content))
    names = set(archive.namelist())
    assert orjson.loads(archive.read("contact.json"))["contact"]["id"] == s.contact_id
    assert archive.read(files["passport.pdf"]["file"]) == s.passport
    assert archive.read(mail["file"]) == s.raw
    assert {files["logo.png"]["file"], "contact.json", mail["file"]} <= names

    audit = await rows(
        s.a,
        sa.select(audit_log).where(
            audit_log.c.workspace_id == s.a.id, audit_log.c.action == "contact.exported"
        ),
    )
    assert [(e["target_type"], e["target_id"], e["actor_user_id"]) for e in audit] == [
        ("contact", str(s.contact_id), s.admin.user_id)
    ] * 2
    assert audit[0]["detail"]["messages"] == len([m for t in doc["tickets"] for m in t["messages"]])
    assert s.email not in orjson.dumps([e["detail"] for e in audit]).decode()


async def _secrets_left(s: Story) -> list[str]:
    """Every row of workspace A (and the job queue) that still holds one of Carla's secrets."""
    needles = [s.email, "Carla Customer", *s.words.values()]
    found = []
    async with s.a.platform.db.read() as conn:
        for table in Base.metadata.sorted_tables:
            if table.name == "jobs":
                stmt = sa.select(table)
            elif "workspace_id" in table.c:
                stmt = sa.select(table).where(table.c.workspace_id == s.a.id)
            else:
                continue
            for r in (await conn.execute(stmt)).mappings():
                text = repr(dict(r))
                found += [f"{table.name}: {n}" for n in needles if n.lower() in text.lower()]
    return found


async def test_erasing_leaves_nothing_identifying_and_keeps_the_tickets(story: Story) -> None:
    s = story
    p = s.a.platform
    assert await _secrets_left(s)  # the check below can see them
    async with s.a.client(s.admin) as api:
        for w in s.words.values():
            assert await search_hits(api, w), w
        before = await rows(s.a, sa.select(tickets.c.id, tickets.c.number).where(tickets.c.id == s.t1))
        r = await api.post(f"/contacts/{s.contact_id}/erase", json={"confirm": "ERASE"})
        assert r.status_code == 200, r.text
        body = r.json()
        counts = body["counts"]
        assert body["erased_at"] and counts["messages"] == 5 and counts["attachments"] == 2
        assert counts["inbound_emails"] == 1 and counts["identities"] == 1 and counts["memberships"] == 1
        assert counts["search_log"] == 1 and counts.get("accounts_disabled", 0) == 0
        assert counts["outbound_emails"] == 1
        await drain(p)  # the file purge

        # No message text, subject, identity or search hit remains; the tickets and numbers do.
        assert (
            await rows(s.a, sa.select(tickets.c.id, tickets.c.number).where(tickets.c.id == s.t1)) == before
        )
        t1_msgs = await rows(s.a, sa.select(messages).where(messages.c.ticket_id == s.t1))
        assert t1_msgs and all(
            m["body_text"] == privacy.MARKER and m["body_html"] == privacy.MARKER_HTML and m["redacted_at"]
            for m in t1_msgs
        )
        for w in s.words.values():
            assert await search_hits(api, w) == [], w
        assert await search_hits(api, "erased") != []  # the index was rebuilt, not dropped
        assert await _secrets_left(s) == []
        assert await rows(s.a, sa.select(identities).where(identities.c.contact_id == s.contact_id)) == []
        (c,) = await rows(s.a, sa.select(contacts).where(contacts.c.id == s.contact_id))
        assert c["name"] == "" and c["erased_at"] is not None
        # The ticket she was only CC'd on keeps its (someone else's) conversation.
        t3_msgs = await rows(s.a, sa.select(messages).where(messages.c.ticket_id == s.t3))
        assert [m["body_text"] for m in t3_msgs] == ["Who is coming?"]
        # Files: hers are gone, the one Otto's ticket also carries stays; the raw .eml is gone.
        assert not await p.storage.exists(s.raw_sha)
        assert (
            await rows(
                s.a, sa.select(attachments).where(attachments.c.message_id.in_([m["id"] for m in t1_msgs]))
            )
            == []
        )
        (otto_file,) = await rows(
            s.a,
            sa.select(attachments).where(
                attachments.c.message_id.in_(sa.select(messages.c.id).where(messages.c.ticket_id == s.t2))
            ),
        )
        assert await p.storage.get(otto_file["sha256"]) == s.shared
        import hashlib

        assert not await p.storage.exists(hashlib.sha256(s.passport).hexdigest())
        assert (await api.get(f"/email/inbound/{s.inbound_id}/raw")).status_code == 404
        # History keeps the ticket's story without the copies of its subject.
        (created,) = await rows(
            s.a, sa.select(events).where(events.c.ticket_id == s.t1, events.c.kind == "created")
        )
        assert created["new"]["subject"] == privacy.MARKER
        assert await rows(
            s.a, sa.select(events.c.id).where(events.c.ticket_id == s.t1, events.c.kind == "erased")
        )

    # Her sign-in to A is gone; she still signs in to B, where nothing changed.
    async with s.a.client(s.carla) as me:
        assert (await me.get("/me")).status_code == 401
    async with s.b.client(s.carla_b) as me:
        assert (await me.get("/me")).status_code == 200
    b = await s.contact_b()
    assert b["name"] == "Carla Customer" and b["erased_at"] is None
    assert [
        i["value"] for i in await rows(s.b, sa.select(identities).where(identities.c.contact_id == b["id"]))
    ] == [s.email]
    (user,) = await rows(s.a, sa.select(users).where(users.c.id == s.carla.user_id))
    assert user["email"] == s.email and user["is_active"]

    # The audit entry names ids and counts only.
    (entry,) = await rows(
        s.a,
        sa.select(audit_log).where(
            audit_log.c.workspace_id == s.a.id, audit_log.c.action == "contact.erased"
        ),
    )
    assert entry["target_id"] == str(s.contact_id) and entry["actor_user_id"] == s.admin.user_id
    assert entry["detail"] == counts and all(isinstance(v, int) for v in entry["detail"].values())

    # A second erasure is a no-op: nothing changes, nothing more is recorded.
    async with s.a.client(s.admin) as api:
        again = await api.post(f"/contacts/{s.contact_id}/erase", json={"confirm": "ERASE"})
        assert again.status_code == 200 and again.json()["counts"] == {}, again.text
        assert again.json()["erased_at"] == body["erased_at"]
        # The export of an erased contact says so and holds nothing identifying.
        doc = (await api.get(f"/contacts/{s.contact_id}/export")).json()
    assert doc["contact"]["erased_at"] and doc["identities"] == [] and doc["accounts"] == []
    assert all(
        m["body_text"] == privacy.MARKER
        for t in doc["tickets"]
        if t["relation"] == "requester"
        for m in t["messages"]
    )
    assert (
        len(
            await rows(
                s.a,
                sa.select(audit_log.c.id).where(
                    audit_log.c.action == "contact.erased", audit_log.c.workspace_id == s.a.id
                ),
            )
        )
        == 1
    )


async def test_the_message_guards_allow_one_redaction_and_nothing_else(story: Story) -> None:
    s = story
    async with s.a.client(s.admin) as api:
        assert (
            await api.post(f"/contacts/{s.contact_id}/erase", json={"confirm": "ERASE"})
        ).status_code == 200
    db = s.a.platform.db
    (redacted,) = await rows(s.a, sa.select(messages.c.id).where(messages.c.ticket_id == s.t1).limit(1))
    (plain,) = await rows(s.a, sa.select(messages.c.id).where(messages.c.ticket_id == s.t2).limit(1))
    now = utcnow()
    refused = [
        (plain["id"], {"body_text": "rewritten"}),
        (plain["id"], {"body_html": "<p>rewritten</p>"}),
        (plain["id"], {"public": False}),
        (plain["id"], {"author_kind": "agent"}),
        # A redaction with any other text is not one.
        (plain["id"], {"body_text": "gone", "body_html": privacy.MARKER_HTML, "redacted_at": now}),
        (plain["id"], {"body_text": privacy.MARKER, "body_html": privacy.MARKER_HTML}),  # no redacted_at
        (redacted["id"], {"body_text": "back again"}),
        (redacted["id"], {"redacted_at": None}),
        (redacted["id"], {"redacted_at": now}),
    ]
    for mid, values in refused:
        with pytest.raises(DBAPIError, match="append-only"):
            async with db.transaction() as uow:
                await uow.execute(messages.update().where(messages.c.id == mid).values(**values))
    # Moving a message to another ticket (a merge) is still allowed, and so is exactly one redaction.
    with pytest.raises(RuntimeError, match="roll back"):
        async with db.transaction() as uow:
            await uow.execute(
                messages.update()
                .where(messages.c.id == plain["id"])
                .values(body_text=privacy.MARKER, body_html=privacy.MARKER_HTML, redacted_at=now)
            )
            await uow.execute(messages.update().where(messages.c.id == plain["id"]).values(ticket_id=s.t1))
            raise RuntimeError("roll back")


async def test_only_an_admin_of_the_contacts_workspace_may_export_or_erase(story: Story) -> None:
    s = story
    light = await s.a.person(Role.light_agent)
    export, erase = f"/contacts/{s.contact_id}/export", f"/contacts/{s.contact_id}/erase"
    # Another workspace's admin: exactly like a contact that does not exist.
    async with s.b.client(s.admin_b) as api:
        problem(await api.get(export), 404)
        problem(await api.post(erase, json={"confirm": "ERASE"}), 404)
        missing = problem(await api.get("/contacts/999999999/export"), 404)
        assert missing["title"] == problem(await api.get(export), 404)["title"]
    for who in (s.agent, light, s.carla):
        async with s.a.client(who) as api:
            problem(await api.get(export), 403)
            problem(await api.post(erase, json={"confirm": "ERASE"}), 403)
    async with s.a.client(s.admin) as api:
        bad = problem(await api.post(erase, json={"confirm": "yes"}), 422)
        assert "confirm" in orjson.dumps(bad).decode()
        problem(await api.post(erase, json={}), 422)
    # Nothing changed and nothing was recorded.
    (c,) = await rows(s.a, sa.select(contacts).where(contacts.c.id == s.contact_id))
    assert c["name"] == "Carla Customer" and c["erased_at"] is None
    assert [
        i["value"]
        for i in await rows(s.a, sa.select(identities).where(identities.c.contact_id == s.contact_id))
    ] == [s.email]
    t1 = await rows(s.a, sa.select(messages.c.body_text).where(messages.c.ticket_id == s.t1))
    assert all(m["body_text"] != privacy.MARKER for m in t1)
    assert await s.a.platform.storage.exists(s.raw_sha)
    recorded = await rows(
        s.a,
        sa.select(audit_log).where(
            audit_log.c.workspace_id.in_((s.a.id, s.b.id)),
            audit_log.c.action.in_(("contact.exported", "contact.erased")),
        ),
    )
    assert recorded == []
    # Erasing Carla in B leaves A's Carla as she was (the same person, another workspace).
    async with s.b.client(s.admin_b) as api:
        assert (
            await api.post(f"/contacts/{s.carla_b.contact_id}/erase", json={"confirm": "ERASE"})
        ).status_code == 200
    (c,) = await rows(s.a, sa.select(contacts).where(contacts.c.id == s.contact_id))
    assert c["name"] == "Carla Customer" and c["erased_at"] is None
    async with s.a.client(s.carla) as me:
        assert (await me.get("/me")).status_code == 200


async def test_an_account_with_no_other_workspace_is_disabled_and_loses_its_address(ws: WS) -> None:
    admin = await ws.person(Role.admin)
    email = f"dora-{uuid.uuid4().hex[:8]}@customer.test"
    dora = await ws.person(Role.customer, email=email, password="correct horse battery")
    async with ws.client(dora) as me:
        assert (await me.post("/tickets", json={"subject": "Hello", "body": "Mine"})).status_code == 201
    async with ws.client(admin) as api:
        r = await api.post(f"/contacts/{dora.contact_id}/erase", json={"confirm": "ERASE"})
        assert r.status_code == 200, r.text
        assert r.json()["counts"]["accounts_disabled"] == 1
    (user,) = await rows(ws, sa.select(users).where(users.c.id == dora.user_id))
    assert user["email"] == f"erased-{dora.user_id}@erased.invalid"
    assert user["password_hash"] is None and not user["is_active"] and user["name"] == ""
    assert await rows(ws, sa.select(members).where(members.c.user_id == dora.user_id)) == []
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=ws.app), base_url="http://testserver"
    ) as c:
        r = await c.post("/api/v1/session", json={"email": email, "password": "correct horse battery"})
        assert r.status_code == 401
