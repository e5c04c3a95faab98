"""Signing in: passwords, two-factor codes and recovery codes, throttling, sessions and CSRF."""

from __future__ import annotations

import pyotp

from helpline.domains.accounts.models import Role
from tests.conftest import PASSWORD, problem


async def test_session_sign_in_csrf_and_sign_out_everywhere(ws):
    agent = await ws.person(Role.agent, password=PASSWORD)
    async with ws.client() as browser, ws.client() as other_browser:
        r = await browser.post("/session", json={"email": agent.email, "password": PASSWORD})
        assert r.status_code == 200, r.text
        cookie = r.cookies.get("helpline_session")
        set_cookie = r.headers["set-cookie"].lower()
        assert cookie and "httponly" in set_cookie and "samesite=lax" in set_cookie
        csrf = r.json()["csrf_token"]
        assert (await browser.get("/me")).json()["email"] == agent.email
        # a cookie-authenticated write needs the CSRF header
        problem(await browser.post("/tokens", json={"name": "x"}), 403)
        assert (
            await browser.post("/tokens", json={"name": "x"}, headers={"X-CSRF-Token": csrf})
        ).status_code == 201
        # signing in again rotates the session: the old cookie stops working
        r2 = await browser.post("/session", json={"email": agent.email, "password": PASSWORD})
        assert r2.cookies.get("helpline_session") != cookie
        async with ws.client() as stale:
            stale.cookies.set("helpline_session", cookie)
            problem(await stale.get("/me"), 401)
        await other_browser.post("/session", json={"email": agent.email, "password": PASSWORD})
        assert (await other_browser.get("/me")).status_code == 200
        r = await browser.delete(
            "/session", params={"everywhere": "true"}, headers={"X-CSRF-Token": r2.json()["csrf_token"]}
        )
        assert r.status_code == 204
        problem(await other_browser.get("/me"), 401)


async def test_wrong_password_is_throttled(ws):
    agent = await ws.person(Role.agent, password=PASSWORD)
    async with ws.client() as c:
        for _ in range(ws.platform.settings.login_max_failures):
            problem(await c.post("/session", json={"email": agent.email, "password": "wrong password!"}), 401)
        body = problem(await c.post("/session", json={"email": agent.email, "password": PASSWORD}), 429)
        assert "try again" in body["detail"]
        unknown = problem(
            await c.post("/session", json={"email": "nobody@nowhere.test", "password": "x" * 12}), 429
        )
        assert unknown  # the address is throttled too, whatever the account


async def test_two_factor_with_totp_and_single_use_recovery_codes(ws):
    agent = await ws.person(Role.agent, password=PASSWORD)
    async with ws.client(agent) as c:
        problem(await c.post("/me/2fa"), 403)  # a token alone does not change 2FA
        secret = (await c.post("/me/2fa", json={"password": PASSWORD})).json()["secret"]
        problem(await c.post("/me/2fa/confirm", json={"code": "000000"}), 422)
        codes = (await c.post("/me/2fa/confirm", json={"code": pyotp.TOTP(secret).now()})).json()[
            "recovery_codes"
        ]
        assert len(codes) == 10
    async with ws.client() as c:
        body = problem(await c.post("/session", json={"email": agent.email, "password": PASSWORD}), 401)
        assert body["errors"][0]["field"] == "otp"
        problem(
            await c.post("/session", json={"email": agent.email, "password": PASSWORD, "otp": "123456"}), 401
        )
        ok = await c.post(
            "/session", json={"email": agent.email, "password": PASSWORD, "otp": pyotp.TOTP(secret).now()}
        )
        assert ok.status_code == 200
        assert (
            await c.post("/session", json={"email": agent.email, "password": PASSWORD, "otp": codes[0]})
        ).status_code == 200
        problem(
            await c.post("/session", json={"email": agent.email, "password": PASSWORD, "otp": codes[0]}), 401
        )


async def test_users_and_groups_admin(ws):
    admin = await ws.person(Role.admin)
    async with ws.client(admin) as c:
        g = (await c.post("/groups", json={"name": "Billing"})).json()
        problem(await c.post("/groups", json={"name": "Billing"}), 409)
        u = await c.post(
            "/users",
            json={
                "email": "new.agent@example.test",
                "name": "New",
                "role": "agent",
                "password": "a long enough pw",
                "group_ids": [g["id"]],
            },
        )
        assert u.status_code == 201, u.text
        assert u.json()["group_ids"] == [g["id"]]
        problem(await c.post("/users", json={"email": "new.agent@example.test", "role": "agent"}), 409)
        problem(
            await c.post(
                "/users", json={"email": "short@example.test", "role": "agent", "password": "short"}
            ),
            422,
        )
        r = await c.patch(f"/users/{u.json()['id']}", json={"role": "light-agent", "group_ids": []})
        assert r.json()["role"] == "light-agent" and r.json()["group_ids"] == []
        problem(await c.patch(f"/users/{admin.user_id}", json={"role": "agent"}), 422)
        assert {x["email"] for x in (await c.get("/users")).json()["items"]} >= {
            admin.email,
            "new.agent@example.test",
        }
        assert (await c.patch(f"/groups/{g['id']}", json={"member_ids": [u.json()["id"]]})).json()[
            "member_ids"
        ] == [u.json()["id"]]
        assert (await c.delete(f"/groups/{g['id']}")).status_code == 204
