"""Inbound mail is stored raw before it is parsed; every real-world message is parsed or quarantined
with its reason; the same message twice is one ticket; failed mail can be reprocessed."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from helpline.domains.channels.email import service
from helpline.domains.channels.email.models import InboundMail
from helpline.domains.tickets.models import Attachment, Message, Ticket
from tests.conftest import WS, drain
from tests.integration.email.conftest import DATA, deliver, inbound_row, mail, make_mailbox

inbound_t = InboundMail.__table__
tickets = Ticket.__table__
messages = Message.__table__
attachments = Attachment.__table__


async def test_every_message_of_the_corpus_is_parsed_or_quarantined(sqlite_platform: Any) -> None:
    if not DATA.is_dir():
        pytest.skip(f"the shared email corpus is not at {DATA}")
    from helpline.domains.accounts import service as accounts

    p = sqlite_platform
    async with p.db.transaction() as uow:
        ws_id = await accounts.create_workspace(uow, "Corpus", f"corpus-{uuid.uuid4().hex[:8]}")
    box = await make_mailbox(p, ws_id)
    files = sorted(f for f in DATA.rglob("*") if f.is_file())
    assert len(files) >= 70
    seen: dict[str, int] = {}
    ids: dict[str, int] = {}
    for f in files:
        raw = f.read_bytes()
        got = await service.ingest(p, box, raw, source="api")
        key = service.message_key(raw, service.sha256(raw))[0]
        if got.created:
            seen[key] = got.id
        else:  # a duplicate only when an earlier file had the same Message-ID
            assert seen[key] == got.id, f.name
        ids[f.name] = got.id
    await drain(p)
    async with p.db.read() as conn:
        rows = {
            r["id"]: dict(r)
            for r in (
                await conn.execute(sa.select(inbound_t).where(inbound_t.c.mailbox_id == box["id"]))
            ).mappings()
        }
    assert set(ids.values()) == set(rows)  # none lost
    failed = {name: rows[i]["reason"] for name, i in ids.items() if rows[i]["state"] == "failed"}
    for name, i in ids.items():
        row = rows[i]
        assert row["state"] in ("processed", "failed"), (name, row)
        if row["state"] == "failed":
            assert row["reason"], name
        else:
            assert row["outcome"] in ("new_ticket", "reply", "bounce", "loop", "capped"), (name, row)
            if row["outcome"] in ("new_ticket", "reply"):
                assert row["ticket_id"] and row["message_id"]
    # The two that are not mail at all are quarantined with a reason a person can act on.
    assert "Outlook .msg" in failed["mail_outlook_1"]
    assert "no header fields" in failed["msg_19.txt"]
    assert len(failed) <= 12, failed
    # Bounces never make tickets: msg_16 is a delivery report.
    assert rows[ids["msg_16.txt"]]["outcome"] == "bounce"
    print(f"corpus: {len(files)} files, {len(rows)} distinct messages, {len(failed)} quarantined: {failed}")


async def test_raw_is_stored_before_parsing_and_the_eml_is_kept(ws: WS, mailbox: dict[str, Any]) -> None:
    raw = mail(html='<p>Look <img src="https://tracker.example/p.gif"> <b>now</b></p><script>x()</script>')
    row = await deliver(ws.platform, mailbox, raw)
    assert row["state"] == "processed" and row["outcome"] == "new_ticket"
    assert await ws.platform.storage.get(row["raw_sha256"]) == raw
    async with ws.platform.db.read() as conn:
        t = (await conn.execute(sa.select(tickets).where(tickets.c.id == row["ticket_id"]))).mappings().one()
        m = (
            (await conn.execute(sa.select(messages).where(messages.c.id == row["message_id"])))
            .mappings()
            .one()
        )
    assert t["subject"] == "Printer on fire" and t["channel"] == "email" and t["workspace_id"] == ws.id
    assert m["author_kind"] == "customer" and m["author_contact_id"] == t["requester_id"] and m["public"]
    assert "script" not in m["body_html"] and "<b>now</b>" in m["body_html"]
    # Remote images blocked: the address is kept for an agent who asks, never loaded by itself.
    assert ' src="https://tracker.example' not in m["body_html"]
    assert 'data-remote-src="https://tracker.example/p.gif"' in m["body_html"]
    assert "my printer is on fire" in m["body_text"]


async def test_the_same_message_twice_makes_one_ticket(ws: WS, mailbox: dict[str, Any]) -> None:
    raw = mail()
    first = await service.ingest(ws.platform, mailbox, raw, source="imap")
    again = await service.ingest(ws.platform, mailbox, raw, source="imap")
    assert first.created and not again.created and first.id == again.id
    await drain(ws.platform)
    # ... and after processing, a third delivery (a crash before the IMAP flag) still changes nothing.
    third = await service.ingest(ws.platform, mailbox, raw, source="imap")
    await drain(ws.platform)
    assert not third.created
    async with ws.platform.db.read() as conn:
        n = (
            await conn.execute(
                sa.select(sa.func.count()).select_from(tickets).where(tickets.c.workspace_id == ws.id)
            )
        ).scalar()
    assert n == 1


async def test_attachments_rfc2231_names_and_inline_cid_images(ws: WS, mailbox: dict[str, Any]) -> None:
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"] = "=?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <jurgen@customer.test>"
    msg["To"] = mailbox["address"]
    msg["Subject"] = "=?iso-8859-1?q?Pr=FCfung_der_Rechnung?="
    msg["Message-ID"] = "<cid-test@customer.test>"
    msg.set_content("See the picture.")
    msg.add_alternative('<p>See <img src="cid:pic1@customer.test"></p>', subtype="html")
    html_part = msg.get_payload()[1]
    html_part.add_related(b"\x89PNG fake", maintype="image", subtype="png", cid="<pic1@customer.test>")
    msg.add_attachment(
        b"%PDF-1.4 fake", maintype="application", subtype="pdf", filename="Größe Übersicht.pdf"
    )
    row = await deliver(ws.platform, mailbox, msg.as_bytes())
    assert row["state"] == "processed", row
    async with ws.platform.db.read() as conn:
        t = (await conn.execute(sa.select(tickets).where(tickets.c.id == row["ticket_id"]))).mappings().one()
        m = (
            (await conn.execute(sa.select(messages).where(messages.c.id == row["message_id"])))
            .mappings()
            .one()
        )
        files = (
            (await conn.execute(sa.select(attachments).where(attachments.c.message_id == m["id"])))
            .mappings()
            .all()
        )
    assert t["subject"] == "Prüfung der Rechnung"
    names = {f["filename"]: f for f in files}
    assert "Größe Übersicht.pdf" in names
    png = next(f for f in files if f["content_type"] == "image/png")
    assert f"/api/v1/email/inline/{png['sha256']}" in m["body_html"]


async def test_broken_mail_is_quarantined_and_reprocessed(ws: WS, mailbox: dict[str, Any]) -> None:
    row = await deliver(ws.platform, mailbox, b"this is not mail at all, no headers here\n\nbody")
    assert row["state"] == "failed" and "header" in row["reason"]
    good = await deliver(ws.platform, mailbox, mail(subject="still works"))
    assert good["state"] == "processed"  # one failure blocks nothing
    with pytest.raises(Exception, match="not failed"):
        await service.reprocess(ws.platform, ws.id, good["id"])
    await service.reprocess(ws.platform, ws.id, row["id"])
    assert (await inbound_row(ws.platform, row["id"]))["state"] == "received"
    await drain(ws.platform)
    again = await inbound_row(ws.platform, row["id"])
    assert again["state"] == "failed" and again["attempts"] == 2


async def test_limits_send_mail_to_the_failed_list(ws: WS, mailbox: dict[str, Any]) -> None:
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"] = "x@customer.test"
    msg["Subject"] = "many parts"
    msg.set_content("x")
    for i in range(ws.platform.settings.email_max_parts + 5):
        msg.add_attachment(b"x", maintype="application", subtype="octet-stream", filename=f"{i}.bin")
    row = await deliver(ws.platform, mailbox, msg.as_bytes())
    assert row["state"] == "failed" and "MIME parts" in row["reason"]


async def test_mail_without_a_sender_is_quarantined(ws: WS, mailbox: dict[str, Any]) -> None:
    row = await deliver(ws.platform, mailbox, b"Subject: who am I\r\nMessage-ID: <anon@x>\r\n\r\nhello\r\n")
    assert row["state"] == "failed" and "sender" in row["reason"]
