"""OpenID Connect sign-in through a local provider, on both databases: just-in-time membership with
mapped groups (re-mapped at each sign-in, other groups untouched), linking of existing members, the
cross-workspace refusal that changes nothing, and every protocol check refused on its own (state,
browser binding, nonce, issuer, audience, azp, signature, algorithm, expiry, verified email, PKCE)."""

from __future__ import annotations

import base64
import hashlib
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
import sqlalchemy as sa

from helpline.domains.accounts import service as accounts
from helpline.domains.accounts.models import Role
from tests.conftest import PASSWORD
from tests.integration.sso.conftest import (
    add_oidc,
    approve,
    audit_of,
    browser,
    groups_of,
    identities_t,
    me,
    member_of,
    path_of,
    sessions_t,
    sign_in,
    slug_of,
    snapshot,
    start,
)
from tests.oidc_provider import LocalOidcProvider


async def _group(ws: Any, name: str) -> int:
    async with ws.platform.db.transaction() as uow:
        return await accounts.create_group(uow, ws.id, name)


async def test_first_sign_in_creates_a_member_with_mapped_groups_and_each_sign_in_remaps(
    make_ws, idp, open_browsers
):
    ws = await make_ws()
    admin = await ws.person(Role.admin)
    billing, tech, other = await _group(ws, "Billing"), await _group(ws, "Tech"), await _group(ws, "Other")
    await add_oidc(
        ws,
        admin,
        idp,
        default_role="light-agent",
        group_claim="groups",
        group_map={"hl-billing": billing, "hl-tech": tech},
    )
    slug = await slug_of(ws)
    idp.as_user("sub-new-1", "New.Person@Example.test", name="New Person", groups=["hl-billing", "unrelated"])

    first = browser(ws)
    open_browsers.append(first)
    r = await first.get(path_of(await approve(await start(first, slug, next="/tickets?x=1"))))
    assert r.status_code == 303 and r.headers["location"] == "/tickets?x=1", r.text
    assert "helpline_session" in r.cookies
    who = (await me(first)).json()
    assert (
        who["workspace_id"] == ws.id
        and who["role"] == "light-agent"
        and who["email"] == "new.person@example.test"
    )
    assert who["group_ids"] == [billing]
    created = await member_of(ws.platform, "new.person@example.test", ws.id)
    assert (
        created
        and created["password_hash"] is None
        and created["name"] == "New Person"
        and created["is_active"]
    )
    async with ws.platform.db.read() as conn:
        methods = [
            r[0]
            for r in await conn.execute(
                sa.select(sessions_t.c.method).where(sessions_t.c.user_id == created["id"])
            )
        ]
    assert methods == ["sso"]
    ok = await audit_of(ws.platform, ws.id, "signin.succeeded")
    assert [e["detail"] for e in ok] == [{"method": "sso", "provider": "local", "created": True}]

    # An admin puts them in a group the map does not name: sign-in leaves it alone.
    async with ws.platform.db.transaction() as uow:
        await uow.execute(
            sa.text("INSERT INTO group_members (group_id, user_id) VALUES (:g, :u)"),
            {"g": other, "u": created["id"]},
        )
    idp.as_user("sub-new-1", "new.person@example.test", name="Renamed At Provider", groups=["hl-tech"])
    second = browser(ws)
    open_browsers.append(second)
    r = await sign_in(second, slug)
    assert r.status_code == 303, r.text
    assert await groups_of(ws.platform, created["id"]) == {tech, other}
    again = await member_of(ws.platform, "new.person@example.test", ws.id)
    assert (
        again and again["name"] == "New Person" and again["role"] == "light-agent"
    )  # not changed by the provider
    async with ws.platform.db.read() as conn:
        links = (
            await conn.execute(sa.select(sa.func.count()).where(identities_t.c.user_id == created["id"]))
        ).scalar()
    assert links == 1

    # No group claim at all: every mapped group goes, the others stay.
    idp.as_user("sub-new-1", "new.person@example.test")
    third = browser(ws)
    open_browsers.append(third)
    assert (await sign_in(third, slug)).status_code == 303
    assert await groups_of(ws.platform, created["id"]) == {other}


async def test_an_existing_member_is_linked_and_keeps_their_identity(make_ws, idp, open_browsers):
    ws = await make_ws()
    admin = await ws.person(Role.admin)
    agent = await ws.person(Role.agent, password=PASSWORD, name="Agent Original")
    await add_oidc(ws, admin, idp)
    slug = await slug_of(ws)
    before = await snapshot(ws.platform, agent.email)
    idp.as_user("subject-of-agent", agent.email.upper(), name="Someone Else")

    client = browser(ws)
    open_browsers.append(client)
    r = await sign_in(client, slug)
    assert r.status_code == 303, r.text
    who = (await me(client)).json()
    assert who["id"] == agent.user_id and who["workspace_id"] == ws.id and who["role"] == "agent"
    after = await snapshot(ws.platform, agent.email)
    assert after["user"] == before["user"]  # name, password, 2FA: untouched
    assert [i["subject"] for i in after["identities"]] == ["subject-of-agent"]

    # Later, the same address arrives under another subject (the provider gave it to someone new):
    # the account does not follow the address.
    idp.as_user("subject-of-a-newcomer", agent.email)
    other = browser(ws)
    open_browsers.append(other)
    r = await sign_in(other, slug)
    assert r.status_code == 403 and "linked to another identity" in r.text
    assert (await me(other)).status_code == 401
    failed = await audit_of(ws.platform, ws.id, "signin.failed")
    assert failed[-1]["detail"] == {"method": "sso", "provider": "local", "reason": "other_identity"}


async def test_a_person_of_another_workspace_is_refused_and_nothing_of_theirs_changes(
    make_ws, idp, open_browsers
):
    a, b = await make_ws("Workspace A"), await make_ws("Workspace B")
    victim = await a.person(Role.admin, password=PASSWORD, name="Victim Name")
    async with a.platform.db.transaction() as uow:
        secret = await accounts.begin_totp(uow, victim.user_id)
    async with a.platform.db.transaction() as uow:
        await accounts.confirm_totp(uow, victim.user_id, pyotp.TOTP(secret).now())
    b_admin = await b.person(Role.admin)
    await add_oidc(b, b_admin, idp, group_claim="groups", group_map={})
    before = await snapshot(a.platform, victim.email)
    idp.as_user("attacker-chosen", victim.email, name="Evil Rename")

    client = browser(b)
    open_browsers.append(client)
    r = await sign_in(client, await slug_of(b))
    assert r.status_code == 403
    assert "invitation" in r.text and "Workspace B" in r.text and "Workspace A" not in r.text
    assert "helpline_session" not in client.cookies
    assert (await me(client)).status_code == 401
    assert await snapshot(a.platform, victim.email) == before  # password hash, name, 2FA, memberships, groups
    assert await member_of(b.platform, victim.email, b.id) is None
    failed = await audit_of(b.platform, b.id, "signin.failed")
    assert failed[-1]["detail"] == {"method": "sso", "provider": "local", "reason": "not_member"}
    assert failed[-1]["actor_email"] == victim.email

    # A member of both workspaces signed in by B's provider gets a session in B only.
    both = await a.person(Role.agent, password=PASSWORD)
    async with b.platform.db.transaction() as uow:
        await uow.execute(
            sa.text(
                "INSERT INTO memberships (workspace_id, user_id, role, created_at, is_active) "
                "VALUES (:w, :u, 'agent', :t, :a)"
            ),
            {"w": b.id, "u": both.user_id, "t": datetime.now(UTC), "a": True},
        )
    idp.as_user("both-subject", both.email)
    client2 = browser(b)
    open_browsers.append(client2)
    assert (await sign_in(client2, await slug_of(b))).status_code == 303
    assert (await me(client2)).json()["workspace_id"] == b.id


async def test_deactivated_members_disabled_people_and_customers_are_refused(make_ws, idp, open_browsers):
    ws = await make_ws()
    admin = await ws.person(Role.admin)
    gone = await ws.person(Role.agent, password=PASSWORD)
    off = await ws.person(Role.agent, password=PASSWORD)
    customer = await ws.person(Role.customer, password=PASSWORD)
    async with ws.platform.db.transaction() as uow:
        await uow.execute(
            sa.text("UPDATE memberships SET is_active = :f WHERE user_id = :u AND workspace_id = :w"),
            {"f": False, "u": gone.user_id, "w": ws.id},
        )
        await uow.execute(
            sa.text("UPDATE users SET is_active = :f WHERE id = :u"), {"f": False, "u": off.user_id}
        )
    await add_oidc(ws, admin, idp)
    slug = await slug_of(ws)
    for person, reason, words in (
        (gone, "deactivated", "deactivated"),
        (off, "disabled", "disabled"),
        (customer, "customer", "staff"),
    ):
        before = await snapshot(ws.platform, person.email)
        idp.as_user(f"sub-{person.user_id}", person.email)
        client = browser(ws)
        open_browsers.append(client)
        r = await sign_in(client, slug)
        assert r.status_code == 403 and words in r.text, (reason, r.text)
        assert (await me(client)).status_code == 401
        after = await snapshot(ws.platform, person.email)
        assert after == before, reason  # not even linked
        assert (await audit_of(ws.platform, ws.id, "signin.failed"))[-1]["detail"]["reason"] == reason


def _now() -> int:
    return int(time.time())


BAD_TOKENS: dict[str, dict[str, Any]] = {
    "wrong nonce": {"claims": {"nonce": "not-the-one-sent"}},
    "wrong issuer": {"claims": {"iss": "https://evil.example"}},
    "wrong audience": {"claims": {"aud": "another-client"}},
    "audiences without azp": {"claims": {"aud": ["helpline-test-client", "another-client"]}},
    "wrong azp": {"claims": {"azp": "another-client"}},
    "expired": {"claims": {"exp": _now() - 600, "iat": _now() - 1200}},
    "no exp": {"claims": {"exp": None}},
    "issued in the future": {"claims": {"iat": _now() + 3600}},
    "unpublished key": {"sign_with": "other"},
    "hmac with the client secret": {"sign_with": "hs256"},
    "email not verified": {"claims": {"email_verified": False}},
    "no email": {"claims": {"email": None}},
}


@pytest.mark.parametrize("case", sorted(BAD_TOKENS))
async def test_a_bad_id_token_is_refused(case, make_ws, idp: LocalOidcProvider, open_browsers):
    ws = await make_ws()
    admin = await ws.person(Role.admin)
    await add_oidc(ws, admin, idp)
    bad = BAD_TOKENS[case]
    idp.claims = dict(bad.get("claims", {}))
    idp.sign_with = bad.get("sign_with", "key")
    idp.as_user("sub-bad", "would-be@example.test")
    client = browser(ws)
    open_browsers.append(client)
    r = await sign_in(client, await slug_of(ws))
    assert r.status_code in (400, 403), (case, r.status_code, r.text)
    assert "helpline_session" not in r.cookies
    assert (await me(client)).status_code == 401
    assert await member_of(ws.platform, "would-be@example.test", ws.id) is None
    async with ws.platform.db.read() as conn:
        nobody = (
            await conn.execute(sa.text("SELECT count(*) FROM users WHERE email = 'would-be@example.test'"))
        ).scalar()
    assert nobody == 0
    failed = await audit_of(ws.platform, ws.id, "signin.failed")
    assert len(failed) == 1 and failed[0]["detail"]["method"] == "sso"


async def test_state_is_single_use_and_bound_to_the_browser_that_started(make_ws, idp, open_browsers):
    ws = await make_ws()
    admin = await ws.person(Role.admin)
    await add_oidc(ws, admin, idp)
    slug = await slug_of(ws)
    idp.as_user("sub-state", "state@example.test")
    mine = browser(ws)
    open_browsers.append(mine)

    # A state Helpline never issued.
    callback = path_of(await approve(await start(mine, slug)))
    forged = callback.replace("state=", "state=x")
    r = await mine.get(forged)
    assert r.status_code == 400 and "expired" in r.text

    # The callback opened in another browser (a planted link: login CSRF) is refused, and spends it.
    callback = path_of(await approve(await start(mine, slug)))
    theirs = browser(ws)
    open_browsers.append(theirs)
    r = await theirs.get(callback)
    assert r.status_code == 400 and (await me(theirs)).status_code == 401
    assert (await mine.get(callback)).status_code == 400

    # A good one works once; replayed, it is refused.
    callback = path_of(await approve(await start(mine, slug)))
    assert (await mine.get(callback)).status_code == 303
    assert (await mine.get(callback)).status_code == 400
    assert idp.token_requests and len(idp.token_requests) == 1  # refused ones never reached the provider


async def test_pkce_s256_is_sent_and_a_wrong_verifier_fails(make_ws, idp, open_browsers):
    ws = await make_ws()
    admin = await ws.person(Role.admin)
    await add_oidc(ws, admin, idp)
    slug = await slug_of(ws)
    idp.as_user("sub-pkce", "pkce@example.test")
    client = browser(ws)
    open_browsers.append(client)

    url = await start(client, slug)
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert query["code_challenge_method"] == "S256" and "code_verifier" not in query
    assert (await client.get(path_of(await approve(url)))).status_code == 303
    verifier = idp.token_requests[-1]["code_verifier"]
    assert 43 <= len(verifier) <= 128
    assert (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        == query["code_challenge"]
    )

    # The provider saw another challenge than the one for this verifier: the code is refused.
    other = browser(ws)
    open_browsers.append(other)
    idp.as_user("sub-pkce-2", "pkce-2@example.test")
    r = await other.get(path_of(await approve(await start(other, slug), {"code_challenge": "A" * 43})))
    assert r.status_code == 400 and idp.token_errors == ["invalid_grant"]
    assert await member_of(ws.platform, "pkce-2@example.test", ws.id) is None


async def test_client_secret_post_when_basic_is_not_offered(make_ws, idp, open_browsers):
    idp.auth_methods = ["client_secret_post"]
    ws = await make_ws()
    admin = await ws.person(Role.admin)
    await add_oidc(ws, admin, idp)
    idp.as_user("sub-post", "post@example.test")
    client = browser(ws)
    open_browsers.append(client)
    assert (await sign_in(client, await slug_of(ws))).status_code == 303
    assert idp.token_requests[-1]["client_secret"] == idp.client_secret


async def test_a_turned_off_provider_or_a_wrong_discovery_issuer_signs_nobody_in(make_ws, idp, open_browsers):
    ws = await make_ws()
    admin = await ws.person(Role.admin)
    provider = await add_oidc(ws, admin, idp)
    slug = await slug_of(ws)
    client = browser(ws)
    open_browsers.append(client)
    async with ws.client(admin) as api:
        assert (
            await api.patch(f"/sso-providers/{provider['id']}", json={"enabled": False})
        ).status_code == 200
    assert (await client.get(f"/sso/{slug}/local/login")).status_code == 404
    async with ws.client(admin) as api:
        assert (
            await api.patch(f"/sso-providers/{provider['id']}", json={"enabled": True, "slug": "local2"})
        ).status_code == 200
    idp.discovery = {"issuer": "https://impostor.example"}
    r = await client.get(f"/sso/{slug}/local2/login")
    assert r.status_code == 502 and "another issuer" in r.text
    assert not any(req.startswith("POST") for req in idp.requests)


async def test_a_workspaces_provider_cannot_change_an_account_other_workspaces_use(
    make_ws, idp, open_browsers
):
    """B's identity provider can sign a shared person in to B (B's business), but a session it opened
    proves nothing about the person's account: it cannot change their name or email, turn 2FA off
    or mint tokens, which A would observe. Once they belong to B alone, it may."""
    one, two = await make_ws("A Co"), await make_ws("B Co")
    shared = await one.person(Role.agent, password=PASSWORD, name="Shared Person")
    await two.person(Role.agent, email=shared.email)  # also a member of B
    admin_b = await two.person(Role.admin)
    await add_oidc(two, admin_b, idp)
    async with one.client(shared) as api:
        secret = (await api.post("/me/2fa", json={"password": PASSWORD})).json()["secret"]
        await api.post("/me/2fa/confirm", json={"code": pyotp.TOTP(secret).now()})
    before = await snapshot(one.platform, shared.email)
    idp.as_user("b-says-so", shared.email)
    client = browser(two)
    open_browsers.append(client)
    assert (await sign_in(client, await slug_of(two))).status_code == 303
    assert (await client.get("/api/v1/me")).status_code == 200
    token = {"X-CSRF-Token": await _csrf_of(two, client)}
    assert (await client.patch("/api/v1/me", json={"name": "Renamed by B"}, headers=token)).status_code == 403
    assert (
        await client.patch("/api/v1/me", json={"email": "b-owns-this@example.test"}, headers=token)
    ).status_code == 403
    assert (await client.request("DELETE", "/api/v1/me/2fa", headers=token)).status_code == 403
    assert (await client.post("/api/v1/tokens", json={"name": "b"}, headers=token)).status_code == 403
    assert (await snapshot(one.platform, shared.email))["user"] == before["user"]


async def _csrf_of(ws: Any, client: Any) -> str:
    """The CSRF token of the session ``client`` holds (the SSO flow gives it on the console's pages)."""
    from helpline.domains.accounts.models import WebSession
    from helpline.domains.accounts.security import token_hash

    sessions = WebSession.__table__
    cookie = client.cookies.get("helpline_session")
    async with ws.platform.db.read() as conn:
        return str(
            (
                await conn.execute(
                    sa.select(sessions.c.csrf_token).where(sessions.c.token_hash == token_hash(cookie))
                )
            ).scalar()
        )
