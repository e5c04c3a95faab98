"""Changing a member, through the users API and through the admin page (one service function behind
both): deactivation ends the person's sessions and API tokens at once and for good, only admins
change people, and no workspace is left without an active admin. Two principals in every test."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from helpline.domains.accounts import queries
from helpline.domains.accounts import service as accounts
from helpline.domains.accounts.models import ApiToken, Membership, Role, User, WebSession
from helpline.domains.accounts.principal import Principal
from helpline.domains.accounts.security import token_hash
from helpline.errors import Forbidden
from tests.conftest import PASSWORD, problem

VIAS = ["api", "admin page"]


async def signed_in(ws: Any, person: Any, stack: AsyncExitStack) -> tuple[httpx.AsyncClient, str]:
    """A cookie-holding client (site root) signed in as ``person``, and its CSRF token."""
    c = await stack.enter_async_context(
        httpx.AsyncClient(transport=httpx.ASGITransport(app=ws.app), base_url="http://testserver")
    )
    r = await c.post("/api/v1/session", json={"email": person.email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return c, r.json()["csrf_token"]


async def change(
    ws: Any, via: str, admin: Any, page: tuple[httpx.AsyncClient, str], user_id: int, **change: Any
) -> httpx.Response:
    """``admin`` changes ``user_id`` through the users API (bearer token) or the admin page (session
    and CSRF token). ``change``: role, is_active and group_ids, as the page's form always sends all
    three (no group ticked: none)."""
    if via == "api":
        async with ws.client(admin) as api:
            return await api.patch(f"/users/{user_id}", json=change)
    client, csrf = page
    form: dict[str, Any] = {"role": change["role"], "csrf_token": csrf}
    form["group_ids"] = [str(g) for g in change.get("group_ids", [])]
    if change["is_active"]:
        form["is_active"] = "on"
    return await client.post(f"/admin/users/{user_id}", data=form)


def ok(r: httpx.Response, via: str) -> None:
    expected = 200 if via == "api" else 303
    assert r.status_code == expected, (r.status_code, r.text[:500])


async def _live_credentials(ws: Any, user_id: int) -> tuple[int, int]:
    sessions, tokens = WebSession.__table__, ApiToken.__table__
    async with ws.platform.db.read() as conn:
        n_sessions = (
            await conn.execute(
                sa.select(sa.func.count()).where(
                    sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None)
                )
            )
        ).scalar_one()
        n_tokens = (
            await conn.execute(
                sa.select(sa.func.count()).where(tokens.c.user_id == user_id, tokens.c.revoked_at.is_(None))
            )
        ).scalar_one()
    return int(n_sessions), int(n_tokens)


@pytest.mark.parametrize("via", VIAS)
async def test_deactivating_an_agent_ends_their_sessions_and_tokens_for_good(ws, via):
    admin = await ws.person(Role.admin, password=PASSWORD)
    agent = await ws.person(Role.agent, password=PASSWORD, groups=["Billing"])
    async with AsyncExitStack() as stack:
        admin_page = await signed_in(ws, admin, stack)
        browser, _ = await signed_in(ws, agent, stack)
        bearer = await stack.enter_async_context(ws.client(agent))
        for _ in range(2):  # the second time from the principal cache
            assert (await browser.get("/api/v1/me")).status_code == 200
            assert (await browser.get("/inbox")).status_code == 200
            assert (await bearer.get("/me")).status_code == 200
        assert await _live_credentials(ws, agent.user_id) == (1, 1)

        billing = [ws.groups["Billing"]]
        deactivate = {"role": "agent", "is_active": False, "group_ids": billing}
        ok(await change(ws, via, admin, admin_page, agent.user_id, **deactivate), via)

        problem(await browser.get("/api/v1/me"), 401)
        problem(await bearer.get("/me"), 401)
        page = await browser.get("/inbox")
        assert page.status_code == 303 and page.headers["location"].startswith("/login")
        assert await _live_credentials(ws, agent.user_id) == (0, 0)
        # reactivated, the old cookie and token stay dead: they were ended, not just paused
        ok(await change(ws, via, admin, admin_page, agent.user_id, **{**deactivate, "is_active": True}), via)
        problem(await browser.get("/api/v1/me"), 401)
        problem(await bearer.get("/me"), 401)
        # they sign in afresh, with their groups kept
        fresh, _ = await signed_in(ws, agent, stack)
        me = (await fresh.get("/api/v1/me")).json()
        assert me["id"] == agent.user_id and me["group_ids"] == billing
        # the admin's own credentials never stopped working
        assert (await admin_page[0].get("/admin/users")).status_code == 200
        async with ws.client(admin) as api:
            assert (await api.get("/me")).status_code == 200


@pytest.mark.parametrize("via", VIAS)
async def test_saving_a_person_unchanged_leaves_their_sign_ins_alone(ws, via):
    """The page's form sends role and Active on every save: only a change of Active ends sessions
    and tokens (and then all of them, also on reactivation)."""
    admin = await ws.person(Role.admin, password=PASSWORD)
    agent = await ws.person(Role.agent, password=PASSWORD, groups=["Billing"])
    async with AsyncExitStack() as stack:
        admin_page = await signed_in(ws, admin, stack)
        browser, _ = await signed_in(ws, agent, stack)
        unchanged = {"role": "agent", "is_active": True, "group_ids": [ws.groups["Billing"]]}
        ok(await change(ws, via, admin, admin_page, agent.user_id, **unchanged), via)
        assert (await browser.get("/api/v1/me")).status_code == 200
        async with ws.client(agent) as api:
            assert (await api.get("/me")).status_code == 200
        assert await _live_credentials(ws, agent.user_id) == (1, 1)


@pytest.mark.parametrize("role", [Role.agent, Role.light_agent, Role.customer])
async def test_only_admins_change_members(ws, role):
    actor = await ws.person(role, password=PASSWORD)
    target = await ws.person(Role.agent, password=PASSWORD, groups=["Billing"])
    async with AsyncExitStack() as stack:
        target_browser, _ = await signed_in(ws, target, stack)
        async with ws.client(actor) as api:
            for body in (
                {"is_active": False},
                {"role": "admin"},
                {"group_ids": []},
                {"name": "Renamed"},
            ):
                problem(await api.patch(f"/users/{target.user_id}", json=body), 403)
            # not on themself either (an agent making themself admin)
            problem(await api.patch(f"/users/{actor.user_id}", json={"role": "admin"}), 403)
        actor_page, csrf = await signed_in(ws, actor, stack)
        r = await actor_page.post(
            f"/admin/users/{target.user_id}", data={"role": "admin", "csrf_token": csrf}
        )
        if role is Role.customer:  # customers are sent to sign in to the console
            assert r.status_code == 303 and r.headers["location"].startswith("/login")
        else:
            assert r.status_code == 403 and "Only admins" in r.text
        # nothing changed, and the target's session still works
        me = (await target_browser.get("/api/v1/me")).json()
        assert me["role"] == "agent" and me["group_ids"] == [ws.groups["Billing"]]
        assert me["name"] != "Renamed"
        async with ws.client(actor) as api:
            assert (await api.get("/me")).json()["role"] == role.value


async def test_an_admin_of_another_workspace_changes_no_one_here(ws, make_ws):
    agent = await ws.person(Role.agent)
    other = await make_ws("Other Co")
    their_admin = await other.person(Role.admin)
    async with ws.client(their_admin) as api:
        problem(await api.patch(f"/users/{agent.user_id}", json={"is_active": False}), 404)
    async with ws.client(agent) as api:
        assert (await api.get("/me")).status_code == 200


@pytest.mark.parametrize("via", VIAS)
async def test_the_same_rules_through_the_api_and_the_page(ws, make_ws, via):
    admin = await ws.person(Role.admin, password=PASSWORD)
    customer = await ws.person(Role.customer)
    async with AsyncExitStack() as stack:
        page = await signed_in(ws, admin, stack)
        for user_id, body, field, words in [
            (admin.user_id, {"role": "agent", "is_active": True}, "role", "own role"),
            (admin.user_id, {"role": "admin", "is_active": False}, "is_active", "deactivate yourself"),
            (customer.user_id, {"role": "agent", "is_active": True}, "role", "a customer cannot"),
        ]:
            r = await change(ws, via, admin, page, user_id, **body)
            if via == "api":
                assert problem(r, 422)["errors"][0]["field"] == field
            else:
                assert r.status_code == 422
            assert words in r.text
    async with ws.client(admin) as api:
        assert (await api.get("/me")).json()["role"] == "admin"
        problem(await api.patch(f"/users/{customer.user_id}", json={"group_ids": []}), 422)
        other = await make_ws("Other Co")
        async with other.platform.db.transaction() as uow:
            their_group = await accounts.create_group(uow, other.id, "Theirs")
        problem(await api.patch(f"/users/{admin.user_id}", json={"group_ids": [their_group]}), 404)


async def test_deactivation_reaches_only_the_admins_own_workspace(ws, make_ws):
    """A membership is the workspace's; the person is not. Deactivating someone here ends their
    sessions and tokens here and nowhere else: they stay the (only) admin of their other workspace."""
    admin = await ws.person(Role.admin)
    shared = await ws.person(Role.agent)
    other = await make_ws("Other Co")
    there = await other.person(Role.admin, email=shared.email)
    assert there.user_id == shared.user_id
    async with ws.client(admin) as api:
        r = await api.patch(f"/users/{shared.user_id}", json={"is_active": False})
        assert r.status_code == 200 and r.json()["is_active"] is False
    async with ws.client(shared) as here:
        problem(await here.get("/me"), 401)
    async with other.client(there) as theirs:
        me = await theirs.get("/me")
        assert me.status_code == 200 and me.json()["role"] == "admin"
        listed = (await theirs.get(f"/users/{there.user_id}")).json()
        assert listed["is_active"] is True


async def _principal(ws: Any, person: Any) -> Principal:
    async with ws.platform.db.read() as conn:
        found = await queries.token_principal(conn, token_hash(person.token))
    assert found is not None
    return found[0]


async def test_two_admins_demoting_each_other_at_once_leave_one_admin(ws):
    """The second change waits for the first (the single writer on SQLite, a per-workspace advisory
    lock on PostgreSQL), then sees it: its author is no admin any more, so it is refused, and the
    workspace keeps an admin."""
    a, b = await ws.person(Role.admin), await ws.person(Role.admin)
    as_a, as_b = await _principal(ws, a), await _principal(ws, b)

    async def b_demotes_a() -> None:
        async with ws.platform.db.transaction() as uow:
            await accounts.do_update_member(uow, as_b, a.user_id, role=Role.agent)

    async with ws.platform.db.transaction() as uow:
        await accounts.do_update_member(uow, as_a, b.user_id, role=Role.agent)
        second = asyncio.create_task(b_demotes_a())
        await asyncio.sleep(0.3)
        assert not second.done(), "the second change did not wait for the first"
    with pytest.raises(Forbidden):
        await second
    members = Membership.__table__
    async with ws.platform.db.read() as conn:
        roles = dict(
            (
                await conn.execute(
                    sa.select(members.c.user_id, members.c.role)
                    .join(User.__table__, User.__table__.c.id == members.c.user_id)
                    .where(members.c.workspace_id == ws.id)
                )
            ).all()
        )
    assert roles == {a.user_id: "admin", b.user_id: "agent"}
