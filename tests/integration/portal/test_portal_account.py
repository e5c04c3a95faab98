"""The customer's own account on the portal and their "Mark as solved" (SQLite and PostgreSQL): only
the requester solves, in their own workspace, through the tickets service (recorded as their action);
the profile's time zone changes the times the portal shows; the portal promises no email."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import sqlalchemy as sa

from helpline.domains.accounts.models import Role
from tests.conftest import PASSWORD
from tests.integration.portal.test_portal_pages import browser, csrf, signed_in, slug_of, submit


@asynccontextmanager
async def as_customer(
    ws, slug: str, email: str, password: str = PASSWORD
) -> AsyncIterator[httpx.AsyncClient]:
    c = await signed_in(ws, slug, email, password)
    try:
        yield c
    finally:
        await c.aclose()


async def _status(ws, ticket_id: int) -> str:
    async with ws.platform.db.read() as conn:
        return str(
            (
                await conn.execute(sa.text("SELECT status FROM tickets WHERE id = :i"), {"i": ticket_id})
            ).scalar()
        )


async def test_a_customer_marks_their_own_request_solved_and_no_one_elses(ws, make_ws):
    slug = await slug_of(ws)
    maya = await ws.person(Role.customer, password=PASSWORD, name="Maya")
    nils = await ws.person(Role.customer, password=PASSWORD, name="Nils")
    other = await make_ws("Other Co")
    other_slug = await slug_of(other)
    olga = await other.person(Role.customer, password=PASSWORD, name="Olga")

    async with as_customer(ws, slug, maya.email) as c:
        tid = await submit(c, slug, "Printer on fire")
        page = await c.get(f"/portal/{slug}/requests/{tid}")
        assert "Mark as solved" in page.text

    # Another customer of the same workspace: 404 as for a request that does not exist; nothing changes.
    async with as_customer(ws, slug, nils.email) as c:
        page = await c.get(f"/portal/{slug}/requests")
        r = await c.post(f"/portal/{slug}/requests/{tid}/solve", data={"csrf_token": csrf(page)})
        assert r.status_code == 404
    # A customer of another workspace, on their portal and on this one: never solved.
    async with as_customer(other, other_slug, olga.email) as c:
        page = await c.get(f"/portal/{other_slug}/requests")
        r = await c.post(f"/portal/{other_slug}/requests/{tid}/solve", data={"csrf_token": csrf(page)})
        assert r.status_code == 404
        r = await c.post(f"/portal/{slug}/requests/{tid}/solve", data={"csrf_token": csrf(page)})
        assert r.status_code in (303, 403, 404) and "solved" not in r.headers.get("location", "")
    assert await _status(ws, tid) == "new"

    # Without the form's token: refused.
    async with as_customer(ws, slug, maya.email) as c:
        r = await c.post(f"/portal/{slug}/requests/{tid}/solve", data={"csrf_token": "forged"})
        assert r.status_code == 403
        assert await _status(ws, tid) == "new"
        page = await c.get(f"/portal/{slug}/requests/{tid}")
        r = await c.post(f"/portal/{slug}/requests/{tid}/solve", data={"csrf_token": csrf(page)})
        assert r.status_code == 303 and r.headers["location"].endswith(f"/requests/{tid}?done=solved")
        page = await c.get(r.headers["location"])
        assert "Marked as solved" in page.text and "Mark as solved</button>" not in page.text
        assert ">Solved<" in page.text
    assert await _status(ws, tid) == "solved"
    async with ws.platform.db.read() as conn:
        ev = (
            await conn.execute(
                sa.text(
                    "SELECT actor_user_id, actor_kind FROM events WHERE ticket_id = :i AND field = 'status'"
                ),
                {"i": tid},
            )
        ).all()
    assert [(e[0], e[1]) for e in ev] == [(maya.user_id, "customer")], ev


async def test_the_profile_sets_name_time_zone_and_password(ws):
    slug = await slug_of(ws)
    maya = await ws.person(Role.customer, password=PASSWORD, name="Maya")
    async with as_customer(ws, slug, maya.email) as c:
        tid = await submit(c, slug, "Where is my parcel?")
        page = await c.get(f"/portal/{slug}/profile")
        assert page.status_code == 200
        assert maya.email in page.text and "Change password" in page.text
        assert f'href="/help/{slug}"' in page.text  # the help centre is one click away
        r = await c.post(
            f"/portal/{slug}/profile",
            data={"name": "Maya L", "timezone": "Mars/Olympus", "csrf_token": csrf(page)},
        )
        assert r.status_code == 422 and "is not a time zone" in r.text
        r = await c.post(
            f"/portal/{slug}/profile",
            data={"name": "Maya L", "timezone": "Asia/Tokyo", "csrf_token": csrf(page)},
        )
        assert r.status_code == 303
        shown = await c.get(f"/portal/{slug}/requests/{tid}")
        assert " JST</time>" in shown.text and " UTC</time>" not in shown.text
        page = await c.get(f"/portal/{slug}/profile")
        r = await c.post(
            f"/portal/{slug}/profile/password",
            data={"current": "wrong", "password": "a-new-password-1", "csrf_token": csrf(page)},
        )
        assert r.status_code == 422 and "not your current password" in r.text
        r = await c.post(
            f"/portal/{slug}/profile/password",
            data={"current": PASSWORD, "password": "a-new-password-1", "csrf_token": csrf(page)},
        )
        assert r.status_code == 200 and "Your password is changed" in r.text
        assert (await c.get(f"/portal/{slug}/requests")).status_code == 303  # signed out everywhere
    async with as_customer(ws, slug, maya.email, "a-new-password-1"):
        pass


async def test_the_portal_promises_no_email_it_will_not_send(ws):
    slug = await slug_of(ws)
    maya = await ws.person(Role.customer, password=PASSWORD)
    async with as_customer(ws, slug, maya.email) as c:
        empty = await c.get(f"/portal/{slug}/requests")
        assert "by email" not in empty.text
        tid = await submit(c, slug, "Hello")
        page = await c.get(f"/portal/{slug}/requests/{tid}?created=1")
        assert "We will reply here." in page.text and "by email" not in page.text
    async with browser(ws) as anon:
        assert f'href="/help/{slug}"' in (await anon.get(f"/portal/{slug}/login")).text
