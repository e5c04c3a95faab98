"""SAML 2.0 sign-in against a local IdP built with pysaml2's own ``Server``, on both databases: a signed
answer signs in (just-in-time membership, mapped groups) and serves our SP metadata; an unsigned,
tampered, wrong-audience, expired, replayed, unsolicited or transient-subject answer is refused and
changes nothing."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from helpline.domains.accounts import service as accounts
from helpline.domains.accounts.models import Role
from tests.conftest import PASSWORD, WS
from tests.integration.sso.conftest import audit_of, browser, groups_of, me, member_of, slug_of, snapshot
from tests.integration.sso.saml_idp import LocalSamlIdp

EMAIL = "saml.person@example.test"

# pysaml2 writes each certificate it checks a signature with to a temporary file and leaves closing it
# to the garbage collector (a ResourceWarning, off by default outside tests). Collect them within each
# test, where that warning is ignored, so they are not blamed on a later test.
pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


@pytest.fixture(autouse=True)
def _collect_pysaml2_temp_files() -> Iterator[None]:
    yield
    gc.collect()


@pytest.fixture
def saml_idp(tmp_path: Path) -> LocalSamlIdp:
    return LocalSamlIdp(tmp_path / "idp")


class Setup:
    def __init__(self, ws: WS, slug: str, idp: LocalSamlIdp, billing: int) -> None:
        self.ws, self.slug, self.idp, self.billing = ws, slug, idp, billing
        self.clients: list[httpx.AsyncClient] = []

    def client(self) -> httpx.AsyncClient:
        c = browser(self.ws)
        self.clients.append(c)
        return c

    async def start(self, client: httpx.AsyncClient) -> str:
        r = await client.get(f"/sso/{self.slug}/corp/login")
        assert r.status_code == 303, r.text
        location = str(r.headers["location"])
        assert location.startswith(self.idp.sso_url + "?SAMLRequest=")
        return location

    async def post(self, client: httpx.AsyncClient, form: dict[str, str]) -> httpx.Response:
        return await client.post(f"/sso/{self.slug}/corp/acs", data=form)


@pytest.fixture
async def saml(make_ws: Any, saml_idp: LocalSamlIdp) -> AsyncIterator[Setup]:
    ws = await make_ws("SAML Workspace")
    admin = await ws.person(Role.admin)
    async with ws.platform.db.transaction() as uow:
        billing = await accounts.create_group(uow, ws.id, "Billing")
    async with ws.client(admin) as api:
        r = await api.post(
            "/sso-providers",
            json={
                "kind": "saml",
                "name": "Corporate",
                "slug": "corp",
                "idp_metadata": saml_idp.metadata(),
                "group_claim": "groups",
                "group_map": {"hl-billing": billing},
            },
        )
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["idp_entity_id"] == saml_idp.entity_id and created["idp_sso_url"] == saml_idp.sso_url
    slug = await slug_of(ws)
    async with browser(ws) as anon:
        md = await anon.get(f"/sso/{slug}/corp/metadata")
    assert md.status_code == 200 and md.headers["content-type"].startswith("application/samlmetadata+xml")
    assert created["acs_url"] in md.text and created["sp_entity_id"] in md.text
    saml_idp.trust_sp(md.text)
    setup = Setup(ws, slug, saml_idp, billing)
    yield setup
    for c in setup.clients:
        await c.aclose()


async def test_a_signed_answer_signs_in_a_new_member_with_mapped_groups(saml: Setup):
    client = saml.client()
    form = saml.idp.answer(
        await saml.start(client),
        subject="persistent-123",
        attributes={"email": [EMAIL], "name": ["Sam L. Person"], "groups": ["hl-billing", "other"]},
    )
    r = await saml.post(client, form)
    assert r.status_code == 303 and r.headers["location"] == "/inbox", r.text
    who = (await me(client)).json()
    assert who["workspace_id"] == saml.ws.id and who["role"] == "agent" and who["group_ids"] == [saml.billing]
    person = await member_of(saml.ws.platform, EMAIL, saml.ws.id)
    assert person and person["name"] == "Sam L. Person" and person["password_hash"] is None
    ok = await audit_of(saml.ws.platform, saml.ws.id, "signin.succeeded")
    assert ok[-1]["detail"] == {"method": "sso", "provider": "corp", "created": True}

    # Next time, without the group: the mapped group goes.
    again = saml.client()
    form = saml.idp.answer(await saml.start(again), subject="persistent-123", attributes={"email": [EMAIL]})
    assert (await saml.post(again, form)).status_code == 303
    assert await groups_of(saml.ws.platform, person["id"]) == set()


async def test_only_the_answer_signed_is_needed_response_or_assertion(saml: Setup):
    for n, (response, assertion) in enumerate(((True, False), (False, True))):
        client = saml.client()
        form = saml.idp.answer(
            await saml.start(client),
            subject=f"signed-{n}",
            attributes={"email": [f"signed-{n}@example.test"]},
            sign_response=response,
            sign_assertion=assertion,
        )
        assert (await saml.post(client, form)).status_code == 303


async def _refused(saml: Setup, client: httpx.AsyncClient, r: httpx.Response, email: str) -> None:
    assert r.status_code in (400, 403), r.text
    assert "helpline_session" not in r.cookies and (await me(client)).status_code == 401
    async with saml.ws.platform.db.read() as conn:
        count = (
            await conn.execute(sa.text("SELECT count(*) FROM users WHERE email = :e"), {"e": email})
        ).scalar()
    assert count == 0


async def test_unsigned_tampered_wrong_audience_and_transient_answers_are_refused(saml: Setup):
    cases: list[tuple[str, dict[str, Any]]] = [
        ("unsigned", {"sign_response": False, "sign_assertion": False}),
        ("tampered", {"tamper": ("honest@example.test", "forged@example.test")}),
        ("audience", {"audience": "https://other-sp.example.test/metadata"}),
        ("transient", {"transient": True}),
    ]
    acs = f"http://127.0.0.1:8000/sso/{saml.slug}/corp/acs"
    saml.idp.trust_other_sp("https://other-sp.example.test/metadata", acs)
    for label, how in cases:
        client = saml.client()
        form = saml.idp.answer(
            await saml.start(client),
            subject=f"subject-{label}",
            attributes={"email": ["honest@example.test"]},
            **how,
        )
        r = await saml.post(client, form)
        await _refused(saml, client, r, "honest@example.test")
        await _refused(saml, client, r, "forged@example.test")
    failed = await audit_of(saml.ws.platform, saml.ws.id, "signin.failed")
    assert [e["detail"]["reason"] for e in failed] == ["assertion_invalid"] * 3 + ["no_subject"]


async def test_an_expired_assertion_is_refused(saml: Setup):
    client = saml.client()
    form = saml.idp.answer(
        await saml.start(client),
        subject="late-1",
        attributes={"email": ["late@example.test"]},
        minutes_ago=20,  # valid for five minutes from then: NotOnOrAfter was a quarter of an hour ago
    )
    await _refused(saml, client, await saml.post(client, form), "late@example.test")
    failed = await audit_of(saml.ws.platform, saml.ws.id, "signin.failed")
    assert failed[-1]["detail"]["reason"] == "assertion_invalid"


async def test_replayed_and_unsolicited_answers_are_refused(saml: Setup):
    client = saml.client()
    form = saml.idp.answer(
        await saml.start(client), subject="replay-1", attributes={"email": ["replay@example.test"]}
    )
    assert (await saml.post(client, form)).status_code == 303

    # The same answer again, in the same browser: its request was answered already.
    again = await saml.post(client, form)
    assert again.status_code == 400 and "expired" in again.text

    # The old answer against a new request's RelayState: InResponseTo does not match.
    other = saml.client()
    fresh = await saml.start(other)
    relay = dict(x.split("=", 1) for x in fresh.split("?", 1)[1].split("&"))["RelayState"]
    r = await saml.post(other, {"SAMLResponse": form["SAMLResponse"], "RelayState": relay})
    await _refused(saml, other, r, "nobody-new@example.test")
    assert (await me(other)).status_code == 401

    # An answer nobody asked for (IdP-initiated), and one posted from another browser.
    third = saml.client()
    assert (await saml.post(third, {"SAMLResponse": form["SAMLResponse"]})).status_code == 400
    assert (
        await saml.post(third, {"SAMLResponse": form["SAMLResponse"], "RelayState": "made-up"})
    ).status_code == 400
    starter, thief = saml.client(), saml.client()
    form = saml.idp.answer(
        await saml.start(starter), subject="replay-2", attributes={"email": ["thief@example.test"]}
    )
    r = await saml.post(thief, form)
    await _refused(saml, thief, r, "thief@example.test")


async def test_a_person_of_another_workspace_is_refused_by_saml_too(saml: Setup, make_ws: Any):
    other_ws = await make_ws("Elsewhere")
    victim = await other_ws.person(Role.agent, password=PASSWORD, name="Kept Name")
    before = await snapshot(saml.ws.platform, victim.email)
    client = saml.client()
    form = saml.idp.answer(
        await saml.start(client),
        subject="attacker",
        attributes={"email": [victim.email], "name": ["Changed"]},
    )
    r = await saml.post(client, form)
    assert r.status_code == 403 and "invitation" in r.text
    assert await snapshot(saml.ws.platform, victim.email) == before
