"""Charsets that lie, on messages shaped like real clients' (built as bytes): UTF-8 under a us-ascii
label or none (body, raw 8-bit Subject and From, text beside encoded words), Windows-1252 and
Windows-1251 under us-ascii or no label (detected), UTF-8 with one damaged byte; labels the bytes
fit are kept (ISO-8859-1, Windows-1252, KOI8-R, Shift_JIS, ISO-2022-JP). The parser's cases are
pure functions; the last test goes through storage and processing on SQLite and PostgreSQL.

Windows-1252 under us-ascii and the kept labels already read right before detection came; their
tests are guards that detection does not change them."""

from __future__ import annotations

import base64
from typing import Any

from helpline.domains.accounts.models import Role
from helpline.domains.channels.email.parse import parse
from helpline.domains.channels.email.schemas import InboundPage, InboundRead
from tests.conftest import WS
from tests.integration.email.conftest import deliver

# Thunderbird with "us-ascii" forced for the body and 8-bit headers written raw, as some
# webmails and scripts still send.
THUNDERBIRD_US_ASCII = (
    b"From: =?UTF-8?Q?Zo=C3=AB_M=C3=BCller?= <zoe@customer.test>\r\n"
    b"To: support@acme.test\r\n"
    b"Subject: R\xc3\xa9servation annul\xc3\xa9e pour le caf\xc3\xa9\r\n"
    b"Message-ID: <2f0c1a44-9a1e-4d21-bb1a-5f8ef9e1c0aa@customer.test>\r\n"
    b"Date: Tue, 9 Jan 2024 10:15:00 +0100\r\n"
    b"User-Agent: Mozilla Thunderbird\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=us-ascii; format=flowed\r\n"
    b"Content-Transfer-Encoding: 7bit\r\n"
    b"\r\n"
    b"Bonjour,\r\n\r\nma r\xc3\xa9servation \xc3\xa0 l'h\xc3\xb4tel a \xc3\xa9t\xc3\xa9 annul\xc3\xa9e. "
    b"Pourriez-vous v\xc3\xa9rifier ?\r\n\r\nZo\xc3\xab\r\n"
)


def test_raw_utf8_header_text_beside_encoded_words_and_words_in_the_wrong_charset() -> None:
    raw = (
        b"From: \xd0\x90\xd0\xbd\xd0\xbd\xd0\xb0 =?us-ascii?Q?Kov=C3=A1cs?= <anna@customer.test>\r\n"
        b"To: support@acme.test\r\n"
        b"Subject: \xd0\x97\xd0\xb0\xd0\xba\xd0\xb0\xd0\xb7 =?UTF-8?Q?=E2=84=96?=42 "
        b"=?iso-8859-1?Q?=E0_livrer?=\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nok\r\n"
    )
    m = parse(raw)
    # Text between encoded words stays what it was, not its escaped form; a word that fits its
    # charset (ISO-8859-1 "à") is read in it, one that does not (UTF-8 under us-ascii) as UTF-8.
    assert m.subject == "Заказ №42 à livrer"
    assert m.from_name == "Анна Kovács"


def _plain(body: bytes, content_type: bytes, subject: bytes = b"Question") -> bytes:
    return (
        b"From: Customer <customer@customer.test>\r\nTo: support@acme.test\r\nSubject: " + subject + b"\r\n"
        b"MIME-Version: 1.0\r\n" + content_type + b"Content-Transfer-Encoding: 8bit\r\n\r\n" + body
    )


def test_no_label_with_utf8_or_windows_1251_text() -> None:
    utf8 = "Grüße aus Köln: die Lieferung ist nicht angekommen."
    assert parse(_plain(utf8.encode(), b"Content-Type: text/plain\r\n")).text == utf8
    assert parse(_plain(utf8.encode(), b"")).text == utf8  # no Content-Type at all
    russian = "Здравствуйте! Мой заказ до сих пор не пришёл, хотя оплата прошла неделю назад. Спасибо."
    assert parse(_plain(russian.encode("cp1251"), b"Content-Type: text/plain\r\n")).text == russian


def test_windows_1252_mislabelled_as_us_ascii_is_detected() -> None:
    """A guard, like the two after it: read right before detection came, and must stay so."""
    text = (
        "Bonjour, le café était fermé à 9 h. « Revenez demain », m\u2019a-t-on dit \u2013 naïf,"
        " j\u2019ai attendu."
    )
    body = text.encode("cp1252")
    m = parse(_plain(body, b"Content-Type: text/plain; charset=us-ascii\r\n"))
    assert m.text == text
    m = parse(_plain(b"Un caf\xe9, s'il vous pla\xeet.", b"Content-Type: text/plain; charset=us-ascii\r\n"))
    assert m.text == "Un café, s'il vous plaît."


def test_a_damaged_byte_in_utf8_text_spoils_that_byte_only() -> None:
    text = "Здравствуйте! Профиль, Сообщения, Контакты — ваша деловая сеть."
    body = text.encode() + b" \xd0"  # a character cut in half at the end, as truncating mailers do
    m = parse(_plain(body, b"Content-Type: text/plain; charset=utf-8\r\n"))
    assert m.text == text + " \ufffd"


def test_labels_the_bytes_fit_are_kept() -> None:
    cases = {
        "iso-8859-1": "Grüße aus Köln, Straße 5. Ça coûte 20 francs?",
        "windows-1252": "Preis: 20 € \u2013 \u201eAngebot\u201c gültig.",
        "koi8-r": "Здравствуйте, когда придёт мой заказ? Спасибо.",
        "shift_jis": "お世話になっております。注文の件でご連絡しました。",
    }
    for charset, text in cases.items():
        ctype = f"Content-Type: text/plain; charset={charset}\r\n".encode()
        assert parse(_plain(text.encode(charset), ctype)).text == text, charset
    # ISO-8859-1 bytes that UTF-8 would also accept stay ISO-8859-1: the label fits.
    assert (
        parse(_plain(b"\xc3\xa9t\xc3\xa9", b"Content-Type: text/plain; charset=iso-8859-1\r\n")).text
        == "Ã©tÃ©"
    )


def test_a_japanese_iso_2022_jp_message_is_unchanged() -> None:
    subject = "ご注文の確認"
    body = "いつもお世話になっております。\r\nご注文の商品が届いておりません。ご確認をお願いいたします。\r\n"
    word = base64.b64encode(subject.encode("iso2022_jp")).decode()
    raw = (
        b"From: =?ISO-2022-JP?B?"
        + base64.b64encode("山田太郎".encode("iso2022_jp"))
        + b"?= <taro@customer.jp>\r\n"
        b"To: support@acme.test\r\n"
        b"Subject: =?ISO-2022-JP?B?" + word.encode() + b"?=\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=ISO-2022-JP\r\n"
        b"Content-Transfer-Encoding: 7bit\r\n\r\n" + body.encode("iso2022_jp")
    )
    m = parse(raw)
    assert (m.subject, m.from_name, m.text) == (subject, "山田太郎", body.replace("\r\n", "\n").strip())


async def test_a_mislabelled_message_reads_right_on_its_ticket_and_on_the_failed_list(
    ws: WS, mailbox: dict[str, Any]
) -> None:
    raw = THUNDERBIRD_US_ASCII.replace(b"support@acme.test", mailbox["address"].encode())
    row = await deliver(ws.platform, mailbox, raw)
    assert row["outcome"] == "new_ticket" and row["subject"] == "Réservation annulée pour le café"
    agent = await ws.person(Role.agent)
    async with ws.client(agent) as c:
        ticket = (await c.get(f"/tickets/{row['ticket_id']}")).json()
        [message] = (await c.get(f"/tickets/{row['ticket_id']}/messages")).json()["items"]
        contact = (await c.get(f"/contacts/{ticket['requester_id']}")).json()
    assert ticket["subject"] == "Réservation annulée pour le café"
    assert "ma réservation à l'hôtel a été annulée" in message["body_text"]
    assert contact["name"] == "Zoë Müller"
    # Mail that cannot become a ticket (no sender) shows the same subject on the failed-mail list.
    orphan = raw.replace(b"From: =?UTF-8?Q?Zo=C3=AB_M=C3=BCller?= <zoe@customer.test>\r\n", b"")
    got = await deliver(ws.platform, mailbox, orphan.replace(b"<2f0c1a44", b"<3f0c1a44"))
    assert got["state"] == "failed" and got["subject"] == "Réservation annulée pour le café", got
    async with ws.client(await ws.person(Role.admin)) as c:
        page = (await c.get("/email/inbound", params={"state": "failed"})).json()
    listed = InboundPage.model_validate(page).items  # the documented response is what is sent
    assert set(page["items"][0]) == set(InboundRead.model_fields)
    assert [i.subject for i in listed] == ["Réservation annulée pour le café"]
