"""A person's identity is theirs; a workspace holds only their membership (docs/adr/0011). An admin
of one workspace changes nothing another workspace can observe: not a password, a name, an active
flag, sessions or tokens. Adding someone who already has an account is an invitation they accept."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from helpline.db.base import utcnow
from helpline.domains.accounts.models import Invitation, Role, User
from tests.conftest import drain, problem

PASSWORD = "correct horse battery"
THEIRS = "attacker chose this 1"


def _browser(ws: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=ws.app), base_url="http://testserver")


async def _sign_in(ws: Any, email: str, password: str, workspace: str | None = None) -> httpx.Response:
    async with _browser(ws) as c:
        body: dict[str, Any] = {"email": email, "password": password}
        if workspace:
            body["workspace"] = workspace
        return await c.post("/api/v1/session", json=body)


async def _identity(ws: Any, user_id: int) -> dict[str, Any]:
    users = User.__table__
    async with ws.platform.db.read() as conn:
        row = (await conn.execute(sa.select(users).where(users.c.id == user_id))).mappings().one()
    return dict(row)


def _invitation_link(ws: Any, email: str) -> str:
    sent = [m for m in ws.platform.mail.sent if m["To"] == email and "invited" in m["Subject"]]
    assert sent, "no invitation was mailed"
    found = re.search(r"/invitations/(\S+)", sent[-1].get_content())
    assert found
    return found.group(1)


async def _accept(ws: Any, secret: str, **form: str) -> httpx.Response:
    c = _browser(ws)
    page = await c.get(f"/invitations/{secret}")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    if token is None:  # the page says the invitation is gone
        await c.aclose()
        return page
    r = await c.post(f"/invitations/{secret}", data={"csrf_token": token.group(1), **form})
    await c.aclose()
    return r


@pytest.mark.parametrize("via", ["api", "page"])
async def test_an_admin_of_another_workspace_cannot_take_over_a_person(ws, make_ws, via):
    """The attack as reported: B's admin adds A's agent by email with a password of their choosing."""
    victim = await ws.person(Role.agent, password=PASSWORD, name="Vera Victim")
    other = await make_ws("Attacker Co")
    attacker = await other.person(Role.admin, password=PASSWORD)
    before = await _identity(ws, victim.user_id)
    if via == "api":
        async with other.client(attacker) as api:
            r = await api.post(
                "/users", json={"email": victim.email, "password": THEIRS, "role": "admin", "name": "Pwned"}
            )
        assert r.status_code == 202, r.text
        assert r.json()["status"] == "invited"
    else:
        async with _browser(other) as c:
            s = await c.post("/api/v1/session", json={"email": attacker.email, "password": PASSWORD})
            csrf = s.json()["csrf_token"]
            r = await c.post(
                "/admin/users",
                data={
                    "email": victim.email,
                    "password": THEIRS,
                    "role": "admin",
                    "name": "Pwned",
                    "csrf_token": csrf,
                },
            )
        assert r.status_code == 303 and r.headers["location"].endswith("done=invited")
    after = await _identity(ws, victim.user_id)
    assert after == before  # password hash, name, 2FA, active flag: nothing changed
    problem(await _sign_in(ws, victim.email, THEIRS), 401)
    ok = await _sign_in(ws, victim.email, PASSWORD)
    assert ok.status_code == 200 and ok.json()["workspace_id"] == ws.id
    async with ws.client(victim) as theirs:
        assert (await theirs.get("/me")).status_code == 200
    # Until they accept, B has no hold on them at all.
    async with other.client(attacker) as api:
        problem(await api.patch(f"/users/{victim.user_id}", json={"name": "Renamed"}), 404)
        problem(await api.patch(f"/users/{victim.user_id}", json={"is_active": False}), 404)
        problem(await api.get(f"/users/{victim.user_id}"), 404)
    problem(await _sign_in(other, victim.email, PASSWORD, workspace=(await _slug(other))), 401)


async def _slug(ws: Any) -> str:
    async with ws.platform.db.read() as conn:
        return str(
            (await conn.execute(sa.text("SELECT slug FROM workspaces WHERE id = :i"), {"i": ws.id})).scalar()
        )


async def test_an_accepted_invitation_gives_the_other_admin_only_the_membership(ws, make_ws):
    member = await ws.person(Role.agent, password=PASSWORD, name="Sam Shared")
    other = await make_ws("Other Co")
    admin_b = await other.person(Role.admin, password=PASSWORD)
    async with other.client(admin_b) as api:
        r = await api.post("/users", json={"email": member.email, "role": "agent"})
        assert r.status_code == 202
        listed = (await api.get("/invitations")).json()
        assert [i["user_id"] for i in listed] == [member.user_id]
    await drain(ws.platform)
    secret = _invitation_link(ws, member.email)
    # Wrong password: nothing happens, and the link still works afterwards.
    r = await _accept(other, secret, password="not the password")
    assert r.status_code == 401
    r = await _accept(other, secret, password=PASSWORD)
    assert r.status_code == 303, r.text
    assert (await _accept(other, secret, password=PASSWORD)).status_code == 404  # single use
    async with other.client(admin_b) as api:
        assert (await api.get(f"/users/{member.user_id}")).json()["role"] == "agent"
        body = problem(await api.patch(f"/users/{member.user_id}", json={"name": "Renamed"}), 422)
        assert body["errors"][0]["field"] == "name"
        r = await api.patch(f"/users/{member.user_id}", json={"is_active": False})
        assert r.status_code == 200
    assert (await _identity(ws, member.user_id))["name"] == "Sam Shared"
    async with ws.client(member) as theirs:  # A's token survives B's deactivation
        assert (await theirs.get("/me")).status_code == 200
    assert (await _sign_in(ws, member.email, PASSWORD)).status_code == 200
    # A's admin may not rename them either now; the person renames themself.
    admin_a = await ws.person(Role.admin)
    async with ws.client(admin_a) as api:
        problem(await api.patch(f"/users/{member.user_id}", json={"name": "Other"}), 422)
    async with ws.client(member) as me:
        r = await me.patch("/me", json={"name": "Samantha"})
        assert r.status_code == 200 and r.json()["name"] == "Samantha"


async def test_a_password_an_admin_chose_does_not_follow_the_person(ws, make_ws):
    """B's admin makes a new account with a password they know; when A invites that address, the
    person joins A only by choosing their own password, and B's no longer signs in anywhere."""
    other = await make_ws("Other Co")
    admin_b = await other.person(Role.admin)
    email = "newcomer@example.test"
    async with other.client(admin_b) as api:
        r = await api.post("/users", json={"email": email, "role": "agent", "password": THEIRS})
        assert r.status_code == 201
        new_id = r.json()["id"]
    admin_a = await ws.person(Role.admin)
    async with ws.client(admin_a) as api:
        assert (await api.post("/users", json={"email": email, "role": "agent"})).status_code == 202
    await drain(ws.platform)
    secret = _invitation_link(ws, email)
    r = await _accept(ws, secret, new_password=THEIRS)  # the known one is not accepted as "their own"
    assert r.status_code == 422
    r = await _accept(ws, secret, new_password=PASSWORD)
    assert r.status_code == 303
    problem(await _sign_in(other, email, THEIRS), 401)
    assert (await _sign_in(ws, email, PASSWORD, workspace=await _slug(ws))).json()["user_id"] == new_id


async def test_withdrawn_and_expired_invitations_do_nothing(ws, make_ws):
    member = await ws.person(Role.agent, password=PASSWORD)
    other = await make_ws("Other Co")
    admin_b = await other.person(Role.admin)
    async with other.client(admin_b) as api:
        inv = (await api.post("/users", json={"email": member.email, "role": "agent"})).json()[
            "invitation_id"
        ]
        # A's admin cannot withdraw B's invitation; B's can.
        admin_a = await ws.person(Role.admin)
        async with ws.client(admin_a) as theirs:
            problem(await theirs.delete(f"/invitations/{inv}"), 404)
        assert (await api.delete(f"/invitations/{inv}")).status_code == 204
    await drain(ws.platform)
    secret = _invitation_link(ws, member.email)
    assert (await _accept(other, secret, password=PASSWORD)).status_code == 404
    async with other.client(admin_b) as api:
        again = (await api.post("/users", json={"email": member.email, "role": "agent"})).json()
    invitations = Invitation.__table__
    async with ws.platform.db.transaction() as uow:
        await uow.execute(
            invitations.update()
            .where(invitations.c.id == again["invitation_id"])
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )
    await drain(ws.platform)
    assert (await _accept(other, _invitation_link(ws, member.email), password=PASSWORD)).status_code == 404
    problem(await _sign_in(other, member.email, PASSWORD, workspace=await _slug(other)), 401)


async def test_the_people_page_lists_and_withdraws_invitations(ws, make_ws):
    member = await ws.person(Role.agent, password=PASSWORD)
    other = await make_ws("Other Co")
    admin_b = await other.person(Role.admin, password=PASSWORD)
    async with _browser(other) as c:
        csrf = (await c.post("/api/v1/session", json={"email": admin_b.email, "password": PASSWORD})).json()[
            "csrf_token"
        ]
        await c.post("/admin/users", data={"email": member.email, "role": "agent", "csrf_token": csrf})
        page = await c.get("/admin/users?done=invited")
        assert "emailed an invitation" in page.text
        listed = re.search(r'action="/admin/invitations/(\d+)/withdraw"', page.text)
        assert listed and member.email in page.text
        r = await c.post(f"/admin/invitations/{listed.group(1)}/withdraw", data={"csrf_token": csrf})
        assert r.status_code == 303
        assert member.email not in (await c.get("/admin/users")).text
    # An admin of the person's own workspace cannot withdraw (or see) B's invitations.
    admin_a = await ws.person(Role.admin, password=PASSWORD)
    async with _browser(ws) as c:
        csrf = (await c.post("/api/v1/session", json={"email": admin_a.email, "password": PASSWORD})).json()[
            "csrf_token"
        ]
        r = await c.post(f"/admin/invitations/{listed.group(1)}/withdraw", data={"csrf_token": csrf})
        assert r.status_code == 404
