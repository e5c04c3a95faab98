"""A contact's privacy actions on the console: admins download the ZIP and erase after typing the
confirmation word; agents see neither and are refused; the erased profile says so."""

from __future__ import annotations

import io
import uuid
import zipfile

import orjson

from helpline.domains.accounts.models import Role
from helpline.domains.customers import privacy
from tests.conftest import field_error


async def test_admin_downloads_the_zip_and_erases_after_confirming(ws, console):
    admin, page = await console(Role.admin)
    email = f"erin-{uuid.uuid4().hex[:8]}@customer.test"
    async with ws.client(admin) as api:
        c = (await api.post("/contacts", json={"name": "Erin Example", "email": email})).json()
        t = (
            await api.post(
                "/tickets", json={"subject": "Lost parcel", "body": "Where is it?", "requester_id": c["id"]}
            )
        ).json()

    profile = await page.get(f"/contacts/{c['id']}")
    assert profile.status_code == 200
    assert (
        f'action="/contacts/{c["id"]}/export"' in profile.text
        and f"/contacts/{c['id']}/erase" in profile.text
    )

    r = await page.post(f"/contacts/{c['id']}/export")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    assert "attachment" in r.headers["content-disposition"]
    doc = orjson.loads(zipfile.ZipFile(io.BytesIO(r.content)).read("contact.json"))
    assert doc["identities"][0]["value"] == email and doc["tickets"][0]["subject"] == "Lost parcel"
    assert (await page.post(f"/contacts/{c['id']}/export", csrf=False)).status_code == 403

    form = await page.get(f"/contacts/{c['id']}/erase")
    assert form.status_code == 200 and "Type ERASE to confirm" in form.text
    wrong = await page.post(f"/contacts/{c['id']}/erase", {"confirm": "erase please"})
    assert wrong.status_code == 422 and "ERASE" in field_error(wrong.text, "confirm")
    async with ws.client(admin) as api:
        assert (await api.get(f"/contacts/{c['id']}")).json()["erased_at"] is None

    done = await page.post(f"/contacts/{c['id']}/erase", {"confirm": "ERASE"})
    assert done.status_code == 303 and done.headers["location"] == f"/contacts/{c['id']}?done=erased"
    after = await page.get(done.headers["location"])
    assert (
        "The customer&#39;s data is erased." in after.text or "The customer's data is erased." in after.text
    )
    assert (
        "Erased at the customer" in after.text
        and email not in after.text
        and "Erin Example" not in after.text
    )
    async with ws.client(admin) as api:
        msgs = (await api.get(f"/tickets/{t['id']}/messages")).json()["items"]
    assert [m["body_text"] for m in msgs] == [privacy.MARKER]


async def test_agents_see_no_privacy_actions_and_are_refused(ws, console):
    admin = await ws.person(Role.admin)
    async with ws.client(admin) as api:
        c = (
            await api.post("/contacts", json={"name": "Finn", "email": f"finn-{uuid.uuid4().hex[:6]}@x.test"})
        ).json()
    for role in (Role.agent, Role.light_agent):
        _, page = await console(role)
        profile = await page.get(f"/contacts/{c['id']}")
        assert profile.status_code == 200 and "/erase" not in profile.text and "/export" not in profile.text
        assert (await page.post(f"/contacts/{c['id']}/export")).status_code == 403
        assert (await page.get(f"/contacts/{c['id']}/erase")).status_code == 403
        assert (await page.post(f"/contacts/{c['id']}/erase", {"confirm": "ERASE"})).status_code == 403
    async with ws.client(admin) as api:
        assert (await api.get(f"/contacts/{c['id']}")).json()["name"] == "Finn"
