"""Passkeys over HTTP, on both databases: the registration and sign-in ceremonies driven by a software
authenticator (``soft_authenticator.py``) through the same endpoints the browser uses, and every rule
around them: origin, single-use challenges, signature counters, whose passkey is whose, fresh proof."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pyotp
import sqlalchemy as sa

from helpline.db.base import utcnow
from helpline.domains.accounts.models import AuditEntry, PasskeyCredential, Role, WebSession
from helpline.domains.accounts.passkeys import relying_party
from tests.conftest import PASSWORD, problem
from tests.integration.accounts.soft_authenticator import SoftAuthenticator, b64url

audit_log, credentials, sessions = AuditEntry.__table__, PasskeyCredential.__table__, WebSession.__table__


def browser(ws: Any) -> httpx.AsyncClient:
    """A client that keeps cookies like a browser, at the site's root (pages and /api/v1 both)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=ws.app), base_url="http://testserver")


def authenticator(ws: Any, **kw: Any) -> SoftAuthenticator:
    return SoftAuthenticator(relying_party(ws.platform.settings).origin, **kw)


async def signed_in(c: httpx.AsyncClient, person: Any) -> str:
    """Sign ``c`` in with a password (a fresh proof); the session's CSRF token."""
    r = await c.post("/api/v1/session", json={"email": person.email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return str(r.json()["csrf_token"])


async def add_passkey(
    c: httpx.AsyncClient, csrf: str, auth: SoftAuthenticator, name: str = "Laptop", **kw: Any
) -> httpx.Response:
    r = await c.post("/api/v1/me/passkeys/options", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200, r.text
    answer = auth.create(r.json()["publicKey"], **kw)
    return await c.post(
        "/api/v1/me/passkeys", json={"name": name, "credential": answer}, headers={"X-CSRF-Token": csrf}
    )


async def passkey_options(c: httpx.AsyncClient, path: str = "/login/passkey/options") -> tuple[str, dict]:
    """The sign-in page's double-submit token, and the options ``passkeys.js`` would fetch."""
    if not c.cookies.get("helpline_csrf"):
        assert (await c.get("/login")).status_code == 200
    token = c.cookies["helpline_csrf"]
    r = await c.post(path, headers={"X-CSRF-Token": token})
    assert r.status_code == 200, r.text
    return token, r.json()["publicKey"]


async def post_answer(
    c: httpx.AsyncClient, token: str, answer: Any, path: str = "/login/passkey", **form: str
) -> httpx.Response:
    data = {"csrf_token": token, "credential": json.dumps(answer), "next": "/inbox", **form}
    return await c.post(path, data=data)


async def passkey_sign_in(c: httpx.AsyncClient, auth: SoftAuthenticator, **kw: Any) -> httpx.Response:
    token, options = await passkey_options(c)
    return await post_answer(c, token, auth.get(options, **kw))


async def audit_rows(ws: Any, action: str) -> list[Any]:
    async with ws.platform.db.read() as conn:
        return list(
            await conn.execute(
                sa.select(audit_log).where(audit_log.c.action == action).order_by(audit_log.c.id)
            )
        )


def refused(r: httpx.Response, text: str, status: int = 401) -> None:
    assert r.status_code == status, (r.status_code, r.text[:500])
    assert "helpline_session" not in r.cookies
    assert text in r.text, r.text[r.text.find("<main") :][:600]


async def test_register_then_sign_in_with_the_passkey(ws):
    agent = await ws.person(Role.agent, password=PASSWORD)
    auth = authenticator(ws)
    async with browser(ws) as c:
        csrf = await signed_in(c, agent)
        r = await add_passkey(c, csrf, auth, name="  Work   laptop ")
        assert r.status_code == 201, r.text
        created = r.json()
        assert created["name"] == "Work laptop" and created["transports"] == ["internal"]
        listed = (await c.get("/api/v1/me/passkeys")).json()
        assert [p["id"] for p in listed] == [created["id"]] and listed[0]["last_used_at"] is None
        # the page's card lists it too
        card = await c.get("/profile/passkeys", headers={"HX-Request": "true"})
        assert "Work laptop" in card.text and "Add a passkey" in card.text
        renamed = await c.post(
            f"/profile/passkeys/{created['id']}/rename",
            data={"csrf_token": csrf, "name": "Desk"},
            headers={"HX-Request": "true"},
        )
        assert (
            renamed.status_code == 200
            and "The passkey is renamed." in renamed.text
            and "Desk" in renamed.text
        )
    added = await audit_rows(ws, "passkey.added")
    assert [
        (a.actor_user_id, a.workspace_id, a.target_id) for a in added if a.actor_user_id == agent.user_id
    ] == [(agent.user_id, ws.id, str(created["id"]))]

    async with browser(ws) as c:
        r = await passkey_sign_in(c, auth)
        assert r.status_code == 303 and r.headers["location"] == "/inbox", r.text
        me = (await c.get("/api/v1/me")).json()
        assert (me["id"], me["workspace_id"]) == (agent.user_id, ws.id)
        async with ws.platform.db.read() as conn:
            method, reauth_at = (
                await conn.execute(
                    sa.select(sessions.c.method, sessions.c.reauth_at)
                    .where(sessions.c.user_id == agent.user_id)
                    .order_by(sessions.c.id.desc())
                )
            ).first()
            stored = (
                await conn.execute(sa.select(credentials).where(credentials.c.id == created["id"]))
            ).one()
        assert method == "passkey" and reauth_at is not None
        assert stored.sign_count == 1 and stored.last_used_at is not None
    ok = [a for a in await audit_rows(ws, "signin.succeeded") if a.actor_user_id == agent.user_id]
    assert ok and ok[-1].detail == {"method": "passkey"} and ok[-1].workspace_id == ws.id


async def test_a_customer_lands_in_the_portal_and_a_named_workspace_is_respected(ws, make_ws):
    other = await make_ws("Other desk")
    agent = await ws.person(Role.agent, password=PASSWORD)
    async with other.platform.db.transaction() as uow:
        from helpline.domains.accounts.models import Membership

        await uow.execute(
            Membership.__table__.insert().values(workspace_id=other.id, user_id=agent.user_id, role="admin")
        )
        slug = (
            await uow.execute(sa.text("SELECT slug FROM workspaces WHERE id = :i"), {"i": other.id})
        ).scalar()
    auth = authenticator(ws)
    async with browser(ws) as c:
        assert (await add_passkey(c, await signed_in(c, agent), auth)).status_code == 201
    async with browser(ws) as c:
        token, options = await passkey_options(c)
        r = await post_answer(c, token, auth.get(options), workspace=slug)
        assert r.status_code == 303, r.text
        assert (await c.get("/api/v1/me")).json()["workspace_id"] == other.id
    customer = await ws.person(Role.customer, password=PASSWORD)
    mine = authenticator(ws)
    async with browser(ws) as c:
        assert (await add_passkey(c, await signed_in(c, customer), mine)).status_code == 201
    async with browser(ws) as c:
        r = await passkey_sign_in(c, mine)
        assert r.status_code == 303 and r.headers["location"] == "/portal"


async def test_answers_for_another_origin_or_rp_id_are_refused(ws):
    agent = await ws.person(Role.agent, password=PASSWORD)
    auth = authenticator(ws)
    async with browser(ws) as c:
        csrf = await signed_in(c, agent)
        phished = authenticator(ws)
        body = problem(await add_passkey(c, csrf, phished, origin="https://helpline.evil.example"), 422)
        assert body["errors"][0]["field"] == "credential" and "origin" in body["detail"]
        problem(await add_passkey(c, csrf, phished, rp_id="evil.example"), 422)
        assert (await c.get("/api/v1/me/passkeys")).json() == []
        assert (await add_passkey(c, csrf, auth)).status_code == 201
    async with browser(ws) as c:
        # a phishing page relays our options and the person's authenticator answers for its origin
        refused(await passkey_sign_in(c, auth, origin="https://helpline.evil.example"), "did not verify")
        refused(await passkey_sign_in(c, auth, rp_id="evil.example"), "did not verify")
        assert (await passkey_sign_in(c, auth)).status_code == 303
    failed = [a for a in await audit_rows(ws, "signin.failed") if a.actor_user_id == agent.user_id]
    assert len(failed) == 2 and all(a.detail["method"] == "passkey" for a in failed)


async def test_a_challenge_is_used_once_and_only_by_the_browser_that_asked(ws):
    agent = await ws.person(Role.agent, password=PASSWORD)
    auth = authenticator(ws)
    async with browser(ws) as c:
        csrf = await signed_in(c, agent)
        r = await c.post("/api/v1/me/passkeys/options", headers={"X-CSRF-Token": csrf})
        answer = auth.create(r.json()["publicKey"])
        created = await c.post(
            "/api/v1/me/passkeys", json={"name": "", "credential": answer}, headers={"X-CSRF-Token": csrf}
        )
        assert created.status_code == 201 and created.json()["name"] == "Passkey"
        again = await c.post(
            "/api/v1/me/passkeys", json={"name": "", "credential": answer}, headers={"X-CSRF-Token": csrf}
        )
        assert "already used" in problem(again, 422)["detail"]

    async with browser(ws) as c:
        token, options = await passkey_options(c)
        handle = c.cookies["helpline_passkey"]
        answer = auth.get(options)
        # another browser (without this one's challenge cookie) cannot use the answer
        async with browser(ws) as thief:
            await thief.get("/login")
            refused(
                await post_answer(thief, thief.cookies["helpline_csrf"], answer),
                "expired or was already used",
            )
            thief_token, _ = await passkey_options(thief)  # its own challenge is not the one signed
            refused(await post_answer(thief, thief_token, answer), "did not verify")
        assert (await post_answer(c, token, answer)).status_code == 303
        # the same answer again, with the challenge's cookie put back: the challenge is spent
        c.cookies.set("helpline_passkey", handle, domain="testserver.local", path="/login")
        refused(await post_answer(c, token, answer), "expired or was already used")


async def test_a_counter_that_goes_back_is_refused_unless_it_is_always_zero(ws):
    agent = await ws.person(Role.agent, password=PASSWORD)
    auth, never_counts = authenticator(ws), authenticator(ws, counter_step=0)
    async with browser(ws) as c:
        csrf = await signed_in(c, agent)
        assert (await add_passkey(c, csrf, auth)).status_code == 201
        assert (await add_passkey(c, csrf, never_counts, name="Old key")).status_code == 201
    async with browser(ws) as c:
        assert (await passkey_sign_in(c, auth, sign_count=5)).status_code == 303
        # a copy of the key still at 3 (or at 5, the same count again): a clone
        refused(await passkey_sign_in(c, auth, sign_count=3), "counter went backwards")
        refused(await passkey_sign_in(c, auth, sign_count=5), "counter went backwards")
        assert (await passkey_sign_in(c, auth, sign_count=6)).status_code == 303
        # an authenticator that always says 0 is not a clone
        for _ in range(2):
            assert (await passkey_sign_in(c, never_counts)).status_code == 303
    reasons = [
        a.detail["reason"] for a in await audit_rows(ws, "signin.failed") if a.actor_user_id == agent.user_id
    ]
    assert len(reasons) == 2 and all("backwards" in r for r in reasons)
    async with ws.platform.db.read() as conn:
        counts = sorted(
            (
                await conn.execute(
                    sa.select(credentials.c.sign_count).where(credentials.c.user_id == agent.user_id)
                )
            ).scalars()
        )
    assert counts == [0, 6]


async def test_a_passkey_is_its_owners_only(ws, make_ws):
    """Two people in two workspaces: neither lists, renames or removes the other's passkeys, nobody
    registers someone else's credential again, and a passkey signs in only its own person."""
    other_ws = await make_ws("Elsewhere")
    alice = await ws.person(Role.admin, password=PASSWORD)
    bob = await other_ws.person(Role.admin, password=PASSWORD)
    alice_key, bob_key = authenticator(ws), authenticator(ws)
    async with browser(ws) as a, browser(ws) as b:
        a_csrf, b_csrf = await signed_in(a, alice), await signed_in(b, bob)
        r = await a.post("/api/v1/me/passkeys/options", headers={"X-CSRF-Token": a_csrf})
        alice_answer = alice_key.create(r.json()["publicKey"])
        alice_pk = (
            await a.post(
                "/api/v1/me/passkeys",
                json={"name": "A", "credential": alice_answer},
                headers={"X-CSRF-Token": a_csrf},
            )
        ).json()
        assert (await add_passkey(b, b_csrf, bob_key, name="B")).status_code == 201
        # Bob replays Alice's registration answer under his own fresh challenge: refused
        await b.post("/api/v1/me/passkeys/options", headers={"X-CSRF-Token": b_csrf})
        replay = {"name": "x", "credential": alice_answer}
        problem(await b.post("/api/v1/me/passkeys", json=replay, headers={"X-CSRF-Token": b_csrf}), 422)
        # a rogue authenticator answering Bob's own options with Alice's credential id: taken
        r = await add_passkey(
            b, b_csrf, SoftAuthenticator(bob_key.origin), credential_id=alice_key.credentials[0].id
        )
        assert "registered already" in problem(r, 409)["detail"]
        assert [p["name"] for p in (await b.get("/api/v1/me/passkeys")).json()] == ["B"]
        assert [p["name"] for p in (await a.get("/api/v1/me/passkeys")).json()] == ["A"]
        headers = {"X-CSRF-Token": b_csrf}
        problem(
            await b.patch(f"/api/v1/me/passkeys/{alice_pk['id']}", json={"name": "mine"}, headers=headers),
            404,
        )
        problem(await b.delete(f"/api/v1/me/passkeys/{alice_pk['id']}", headers=headers), 404)
        page = await b.post(f"/profile/passkeys/{alice_pk['id']}/remove", data={"csrf_token": b_csrf})
        assert page.status_code == 404
        async with ws.client(bob.token) as api:
            problem(await api.delete(f"/me/passkeys/{alice_pk['id']}"), 404)
    assert await _names(ws, alice.user_id) == ["A"]

    async with browser(ws) as c:
        # Alice's key claiming to be Bob (the user handle it sends): refused
        refused(
            await passkey_sign_in(c, alice_key, user_handle=bob.user_id.to_bytes(8, "big")),
            "belongs to another account",
        )
        assert (await passkey_sign_in(c, alice_key)).status_code == 303
        assert (await c.get("/api/v1/me")).json()["id"] == alice.user_id


async def _names(ws: Any, user_id: int) -> list[str]:
    async with ws.platform.db.read() as conn:
        return list(
            (
                await conn.execute(sa.select(credentials.c.name).where(credentials.c.user_id == user_id))
            ).scalars()
        )


async def test_adding_and_removing_need_a_fresh_sign_in(ws):
    agent = await ws.person(Role.agent, password=PASSWORD)
    auth = authenticator(ws)
    async with ws.client(agent) as api:  # an API token alone, however new
        body = problem(await api.post("/me/passkeys/options"), 403)
        assert body["errors"][0]["field"] == "session"
    async with browser(ws) as c:
        csrf = await signed_in(c, agent)
        pk = (await add_passkey(c, csrf, auth)).json()
        async with ws.client(agent) as api:
            problem(await api.delete(f"/me/passkeys/{pk['id']}"), 403)
            assert (await api.patch(f"/me/passkeys/{pk['id']}", json={"name": "Renamed"})).json()[
                "name"
            ] == "Renamed"
        async with ws.platform.db.transaction() as uow:
            await uow.execute(
                sessions.update()
                .where(sessions.c.user_id == agent.user_id)
                .values(reauth_at=utcnow() - timedelta(minutes=6))
            )
        headers = {"X-CSRF-Token": csrf}
        body = problem(await c.post("/api/v1/me/passkeys/options", headers=headers), 403)
        assert "sign in again" in body["detail"]
        problem(await c.delete(f"/api/v1/me/passkeys/{pk['id']}", headers=headers), 403)
        page = await c.post(f"/profile/passkeys/{pk['id']}/remove", data={"csrf_token": csrf})
        assert page.status_code == 403 and "sign in again" in page.text
        card = await c.get("/profile/passkeys", headers={"HX-Request": "true"})
        assert "confirm it is you" in card.text and "Add a passkey" not in card.text
        # signing in again is the fresh proof
        csrf = await signed_in(c, agent)
        r = await c.post(f"/profile/passkeys/{pk['id']}/remove", data={"csrf_token": csrf})
        assert r.status_code == 303 and r.headers["location"] == "/profile/passkeys?done=removed"
        assert (await c.get("/api/v1/me/passkeys")).json() == []
    removed = [a for a in await audit_rows(ws, "passkey.removed") if a.actor_user_id == agent.user_id]
    assert [a.target_id for a in removed] == [str(pk["id"])]


async def test_a_passkey_instead_of_the_code_after_the_password(ws):
    agent = await ws.person(Role.agent, password=PASSWORD)
    other = await ws.person(Role.agent, password=PASSWORD)
    auth, others = authenticator(ws), authenticator(ws)
    async with browser(ws) as c:
        csrf = await signed_in(c, agent)
        secret = (await c.post("/api/v1/me/2fa", headers={"X-CSRF-Token": csrf})).json()["secret"]
        await c.post(
            "/api/v1/me/2fa/confirm", json={"code": pyotp.TOTP(secret).now()}, headers={"X-CSRF-Token": csrf}
        )
        assert (await add_passkey(c, await _signed_in_2fa(c, agent, secret), auth)).status_code == 201
    async with browser(ws) as c:
        assert (await add_passkey(c, await signed_in(c, other), others)).status_code == 201

    async with browser(ws) as c:
        # without a right password first, there is no second step to take
        await c.get("/login")
        r = await c.post("/login/code/passkey/options", headers={"X-CSRF-Token": c.cookies["helpline_csrf"]})
        assert r.status_code == 401
        token = c.cookies["helpline_csrf"]
        page = await c.post("/login", data={"csrf_token": token, "email": agent.email, "password": PASSWORD})
        assert page.status_code == 200 and "Use a passkey instead" in page.text
        _, options = await passkey_options(c, "/login/code/passkey/options")
        assert [d["id"] for d in options["allowCredentials"]] == [b64url(auth.credentials[0].id)]
        # someone else's passkey does not finish this person's sign-in
        answer = others.get(options, credential=others.credentials[0])
        refused(await post_answer(c, token, answer, "/login/code/passkey"), "belongs to another account")
        _, options = await passkey_options(c, "/login/code/passkey/options")
        r = await post_answer(c, token, auth.get(options), "/login/code/passkey")
        assert r.status_code == 303 and r.headers["location"] == "/inbox", r.text
        assert (await c.get("/api/v1/me")).json()["id"] == agent.user_id
    ok = [a for a in await audit_rows(ws, "signin.succeeded") if a.actor_user_id == agent.user_id]
    assert ok[-1].detail == {"method": "password", "second_factor": "passkey"}


async def _signed_in_2fa(c: httpx.AsyncClient, person: Any, secret: str) -> str:
    r = await c.post(
        "/api/v1/session", json={"email": person.email, "password": PASSWORD, "otp": pyotp.TOTP(secret).now()}
    )
    assert r.status_code == 200, r.text
    return str(r.json()["csrf_token"])


async def test_with_two_factor_on_a_passkey_alone_must_verify_the_person(ws):
    agent = await ws.person(Role.agent, password=PASSWORD)
    presence_only = authenticator(ws, user_verifying=False)
    async with browser(ws) as c:
        csrf = await signed_in(c, agent)
        assert (await add_passkey(c, csrf, presence_only)).status_code == 201
        async with browser(ws) as before_2fa:
            assert (await passkey_sign_in(before_2fa, presence_only)).status_code == 303
        secret = (await c.post("/api/v1/me/2fa", headers={"X-CSRF-Token": csrf})).json()["secret"]
        await c.post(
            "/api/v1/me/2fa/confirm", json={"code": pyotp.TOTP(secret).now()}, headers={"X-CSRF-Token": csrf}
        )
    async with browser(ws) as c:
        refused(await passkey_sign_in(c, presence_only), "use the passkey as the second step")


async def test_malformed_answers_are_4xx_never_500(ws):
    agent = await ws.person(Role.agent, password=PASSWORD)
    async with browser(ws) as c:
        csrf = await signed_in(c, agent)
        headers = {"X-CSRF-Token": csrf}
        await c.post("/api/v1/me/passkeys/options", headers=headers)
        for bad in (
            {},
            {
                "id": "x",
                "rawId": "x",
                "type": "public-key",
                "response": {"clientDataJSON": "%%%", "attestationObject": "AA"},
            },
        ):
            await c.post("/api/v1/me/passkeys/options", headers=headers)
            body = problem(
                await c.post("/api/v1/me/passkeys", json={"credential": bad}, headers=headers), 422
            )
            assert body["errors"][0]["field"] == "credential"
        body = problem(await c.post("/api/v1/me/passkeys", json={"name": "x"}, headers=headers), 422)
        assert body["errors"][0]["field"] == "credential"
        body = problem(
            await c.post("/api/v1/me/passkeys", json={"name": "x" * 121, "credential": {}}, headers=headers),
            422,
        )
        assert body["errors"][0]["field"] == "name"
        problem(await c.patch("/api/v1/me/passkeys/99999999", json={"name": "x"}, headers=headers), 404)
    async with browser(ws) as c:
        for raw in (
            "not json",
            json.dumps({"id": "A" * 5000}),
            json.dumps([1, 2]),
            json.dumps({"id": "abc", "response": 5}),
        ):
            token, _ = await passkey_options(c)
            r = await c.post("/login/passkey", data={"csrf_token": token, "credential": raw})
            assert r.status_code == 401, (raw, r.status_code)
        # without the page's CSRF token, no options
        c.cookies.clear()
        assert (await c.post("/login/passkey/options")).status_code == 403
