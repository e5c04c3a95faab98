"""Sensitive changes need a fresh proof of who is asking: a session or token alone (a stolen cookie, a
leaked token) cannot turn 2FA off, restart it, change the email or password, or mint tokens."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
import pyotp
import sqlalchemy as sa

from helpline.db.base import utcnow
from helpline.domains.accounts.models import User, WebSession
from tests.conftest import drain, problem

PASSWORD = "correct horse battery"


async def _browser_session(ws: Any, email: str, **extra: str) -> tuple[httpx.AsyncClient, str]:
    c = httpx.AsyncClient(transport=httpx.ASGITransport(app=ws.app), base_url="http://testserver/api/v1")
    r = await c.post("/session", json={"email": email, "password": PASSWORD, **extra})
    assert r.status_code == 200, r.text
    return c, r.json()["csrf_token"]


async def _age_sessions(ws: Any, user_id: int) -> None:
    """As if the person signed in an hour ago."""
    sessions = WebSession.__table__
    async with ws.platform.db.transaction() as uow:
        await uow.execute(
            sessions.update()
            .where(sessions.c.user_id == user_id)
            .values(reauth_at=utcnow() - timedelta(hours=1))
        )


async def _totp(ws: Any, user_id: int) -> tuple[bool, str | None]:
    users = User.__table__
    async with ws.platform.db.read() as conn:
        row = (
            await conn.execute(
                sa.select(users.c.totp_enabled, users.c.totp_secret).where(users.c.id == user_id)
            )
        ).one()
    return bool(row[0]), row[1]


async def test_two_factor_cannot_be_switched_off_or_restarted_with_a_session_or_token_alone(ws):
    agent = await ws.person("agent", password=PASSWORD)
    async with ws.client(agent) as api:
        secret = (await api.post("/me/2fa", json={"password": PASSWORD})).json()["secret"]
        await api.post("/me/2fa/confirm", json={"code": pyotp.TOTP(secret).now()})
        # A token alone: refused, for turning off and for restarting set-up.
        body = problem(await api.request("DELETE", "/me/2fa"), 403)
        assert body["errors"][0]["field"] == "password"
        problem(await api.post("/me/2fa"), 403)
        problem(await api.request("DELETE", "/me/2fa", json={"password": PASSWORD}), 403)  # code missing
        problem(
            await api.request("DELETE", "/me/2fa", json={"password": "wrong password", "otp": "000000"}), 403
        )
    assert await _totp(ws, agent.user_id) == (True, secret)
    c, csrf = await _browser_session(ws, agent.email, otp=pyotp.TOTP(secret).now())
    await _age_sessions(ws, agent.user_id)
    h = {"X-CSRF-Token": csrf}
    problem(await c.request("DELETE", "/me/2fa", headers=h), 403)
    # Restarting set-up with a fresh proof keeps 2FA on with the old secret until the new one is confirmed.
    new = await c.post("/me/2fa", headers=h, json={"password": PASSWORD, "otp": pyotp.TOTP(secret).now()})
    assert new.status_code == 200
    assert await _totp(ws, agent.user_id) == (True, secret)
    # With the proof given, the session is fresh for a few minutes: no password needed meanwhile.
    assert (await c.request("DELETE", "/me/2fa", headers=h)).status_code == 204
    assert (await _totp(ws, agent.user_id))[0] is False
    await c.aclose()


async def test_tokens_and_email_changes_need_a_fresh_proof(ws):
    agent = await ws.person("agent", password=PASSWORD)
    async with ws.client(agent) as api:
        problem(await api.post("/tokens", json={"name": "from a token"}), 403)
        problem(await api.patch("/me", json={"email": "new@example.test"}), 403)
        r = await api.post("/tokens", json={"name": "ok", "password": PASSWORD})
        assert r.status_code == 201
        r = await api.patch("/me", json={"email": "new@example.test", "password": PASSWORD})
        assert r.status_code == 200 and r.json()["email"] == "new@example.test"
        # The own name needs nothing more.
        assert (await api.patch("/me", json={"name": "Someone"})).status_code == 200
        problem(await api.post("/me/password", json={"new_password": "another long one"}), 422)
        problem(await api.post("/me/password", json={"password": "nope nope", "new_password": "x" * 12}), 403)
    c, csrf = await _browser_session(ws, "new@example.test")
    h = {"X-CSRF-Token": csrf}
    assert (await c.post("/tokens", headers=h, json={"name": "fresh session"})).status_code == 201
    await _age_sessions(ws, agent.user_id)
    problem(await c.post("/tokens", headers=h, json={"name": "stale session"}), 403)
    await c.aclose()


async def test_an_address_already_in_use_is_refused(ws, make_ws):
    one = await ws.person("agent", password=PASSWORD)
    other = await make_ws()
    two = await other.person("agent")
    async with ws.client(one) as api:
        body = problem(await api.patch("/me", json={"email": two.email, "password": PASSWORD}), 422)
        assert body["errors"][0]["field"] == "email"


async def test_password_reset_mails_are_capped_per_address(ws):
    agent = await ws.person("agent", password=PASSWORD)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=ws.app), base_url="http://testserver"
    ) as c:
        page = await c.get("/password/forgot")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        for _ in range(8):
            r = await c.post("/password/forgot", data={"email": agent.email, "csrf_token": csrf})
            assert r.status_code == 200
    await drain(ws.platform)
    resets = [m for m in ws.platform.mail.sent if m["To"] == agent.email and "Reset" in m["Subject"]]
    assert len(resets) == 5
