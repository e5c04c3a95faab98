"""The customer portal's pages without a browser: CSRF on every form, no open redirects, scoping of
requests and attachments, sign-up that reveals nothing, and sign-in links (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
import uuid
from contextlib import aclosing
from typing import Any

import httpx
import sqlalchemy as sa

from helpline.domains.accounts.models import Role
from helpline.domains.accounts.principal import Principal
from helpline.domains.customers import service as customers
from helpline.domains.tickets import queries as ticket_queries
from helpline.domains.tickets import service as tickets
from helpline.domains.tickets.schemas import MessageCreate
from tests.conftest import PASSWORD, WS, drain

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


async def slug_of(ws: WS) -> str:
    async with ws.platform.db.read() as conn:
        return str(
            (
                await conn.execute(sa.text("SELECT slug FROM workspaces WHERE id = :i"), {"i": ws.id})
            ).scalar_one()
        )


def browser(ws: WS) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=ws.app), base_url="http://testserver")


def csrf(page: httpx.Response) -> str:
    found = TOKEN.search(page.text)
    assert found, page.text[:500]
    return found.group(1)


async def signed_in(ws: WS, slug: str, email: str, password: str = PASSWORD) -> httpx.AsyncClient:
    c = browser(ws)
    page = await c.get(f"/portal/{slug}/login")
    r = await c.post(
        f"/portal/{slug}/login", data={"email": email, "password": password, "csrf_token": csrf(page)}
    )
    assert r.status_code == 303, r.text
    assert r.headers["location"] == f"/portal/{slug}/requests"
    return c


async def submit(
    c: httpx.AsyncClient, slug: str, subject: str, *, files: dict[str, Any] | None = None, **extra: str
) -> int:
    page = await c.get(f"/portal/{slug}/requests/new")
    assert page.status_code == 200
    data = {"subject": subject, "body": f"About {subject}", "csrf_token": csrf(page), **extra}
    r = await c.post(
        f"/portal/{slug}/requests/new",
        data=data,
        files=files or {"attachments": ("", b"", "application/octet-stream")},
    )
    assert r.status_code == 303, r.text
    found = re.search(r"/requests/(\d+)\?created=1$", r.headers["location"])
    assert found, r.headers["location"]
    return int(found.group(1))


async def test_every_form_needs_its_csrf_token(ws):
    slug = await slug_of(ws)
    customer = await ws.person(Role.customer, password=PASSWORD)
    async with browser(ws) as anon:
        for path, data in (
            (f"/portal/{slug}/login", {"email": customer.email, "password": PASSWORD}),
            (f"/portal/{slug}/signup", {"name": "N", "email": "n@example.test", "password": PASSWORD}),
            (f"/portal/{slug}/login/email", {"email": customer.email}),
            (f"/portal/{slug}/login/link", {"token": "x"}),
        ):
            assert (await anon.post(path, data=data)).status_code == 403, path
            # a token that is not this browser's cookie fails too
            assert (await anon.post(path, data={**data, "csrf_token": "forged"})).status_code == 403, path
        assert "helpline_session" not in anon.cookies
    c = await signed_in(ws, slug, customer.email)
    async with aclosing(c):
        for path in (f"/portal/{slug}/requests/new", f"/portal/{slug}/logout"):
            r = await c.post(path, data={"subject": "S", "body": "B"})
            assert r.status_code == 403, path
            r = await c.post(path, data={"subject": "S", "body": "B", "csrf_token": "not-the-session-token"})
            assert r.status_code == 403, path
        ticket_id = await submit(c, slug, "With a token")
        r = await c.post(f"/portal/{slug}/requests/{ticket_id}/reply", data={"body": "no token"})
        assert r.status_code == 403
        page = await c.get(f"/portal/{slug}/requests/{ticket_id}")
        assert "no token" not in page.text
        # the session cookie is HttpOnly and SameSite
        assert (await c.get(f"/portal/{slug}/requests")).status_code == 200


async def test_sign_in_refuses_open_redirects_and_sets_safe_cookies(ws):
    slug = await slug_of(ws)
    customer = await ws.person(Role.customer, password=PASSWORD)
    for evil in (
        "//evil.example/steal",
        "https://evil.example/",
        "/\\evil.example",
        "/inbox",
        "/portal/other/requests",
    ):
        async with browser(ws) as c:
            page = await c.get(f"/portal/{slug}/login", params={"next": evil})
            assert f'name="next" value="/portal/{slug}/requests"' in page.text
            r = await c.post(
                f"/portal/{slug}/login",
                data={"email": customer.email, "password": PASSWORD, "next": evil, "csrf_token": csrf(page)},
            )
            assert r.status_code == 303
            assert r.headers["location"] == f"/portal/{slug}/requests", (evil, r.headers["location"])
            cookie = r.headers["set-cookie"].lower()
            assert "httponly" in cookie and "samesite=lax" in cookie
    async with browser(ws) as c:
        page = await c.get(f"/portal/{slug}/login", params={"next": f"/portal/{slug}/requests/new"})
        r = await c.post(
            f"/portal/{slug}/login",
            data={
                "email": customer.email,
                "password": PASSWORD,
                "next": f"/portal/{slug}/requests/new",
                "csrf_token": csrf(page),
            },
        )
        assert r.headers["location"] == f"/portal/{slug}/requests/new"
    async with browser(ws) as c:
        # a page that needs a customer sends an anonymous visitor to this portal's sign-in, coming back after
        r = await c.get(f"/portal/{slug}/requests/new")
        assert (
            r.status_code == 303
            and r.headers["location"] == f"/portal/{slug}/login?next=/portal/{slug}/requests/new"
        )


async def test_customers_see_only_their_own_and_their_sharing_organizations_requests(ws):
    slug = await slug_of(ws)
    domain = f"{uuid.uuid4().hex[:8]}.example"
    async with ws.platform.db.transaction() as uow:
        await customers.create_organization(
            uow, ws.id, name="Sharing Co", domains=[domain], shared_tickets=True
        )
    alice = await ws.person(Role.customer, email=f"alice@{domain}", password=PASSWORD)
    colleague = await ws.person(Role.customer, email=f"colleague@{domain}", password=PASSWORD)
    bob = await ws.person(Role.customer, password=PASSWORD)
    agent = await ws.person(Role.agent)
    a = await signed_in(ws, slug, alice.email)
    b = await signed_in(ws, slug, bob.email)
    col = await signed_in(ws, slug, colleague.email)
    async with aclosing(a), aclosing(b), aclosing(col):
        ticket_id = await submit(
            a, slug, "Alice's printer", files={"attachments": ("notes.txt", b"secret notes", "text/plain")}
        )
        page = await a.get(f"/portal/{slug}/requests/{ticket_id}")
        assert page.status_code == 200 and "Alice&#39;s printer" in page.text
        att = re.search(rf"/portal/{slug}/attachments/(\d+)", page.text)
        assert att
        download = await a.get(att.group(0))
        assert download.status_code == 200 and download.content == b"secret notes"
        assert download.headers["content-disposition"].startswith('attachment; filename="notes.txt"')
        assert download.headers["x-content-type-options"] == "nosniff"
        assert download.headers["content-type"] == "application/octet-stream"
        # An internal note never reaches the customer.
        staff = Principal(
            user_id=agent.user_id, workspace_id=ws.id, role=Role.agent, email=agent.email, name="A"
        )
        async with ws.platform.db.transaction() as uow:
            t = await ticket_queries.access_ticket(uow.conn, staff, ticket_id)
            await tickets.add_message(
                uow, ws.platform.pubsub, staff, t, MessageCreate(body="INTERNAL ONLY", public=False)
            )
        page = await a.get(f"/portal/{slug}/requests/{ticket_id}")
        assert "INTERNAL ONLY" not in page.text
        # Bob: not his, so it does not exist.
        for path in (f"/portal/{slug}/requests/{ticket_id}", att.group(0)):
            r = await b.get(path)
            assert r.status_code == 404 and "secret notes" not in r.text and "printer" not in r.text, path
        assert "printer" not in (await b.get(f"/portal/{slug}/requests")).text
        page = await b.get(f"/portal/{slug}/requests/new")
        r = await b.post(
            f"/portal/{slug}/requests/{ticket_id}/reply", data={"body": "hijack", "csrf_token": csrf(page)}
        )
        assert r.status_code == 404
        assert (await b.get(f"/portal/{slug}/requests", params={"scope": "organization"})).status_code == 303
        # The colleague sees it among the organization's requests, not among their own.
        assert "printer" not in (await col.get(f"/portal/{slug}/requests")).text
        org_page = await col.get(f"/portal/{slug}/requests", params={"scope": "organization"})
        assert "Alice&#39;s printer" in org_page.text and "Sharing Co" in org_page.text
        assert (await col.get(f"/portal/{slug}/requests/{ticket_id}")).status_code == 200
        assert (await col.get(att.group(0))).status_code == 200
        assert "INTERNAL ONLY" not in (await col.get(f"/portal/{slug}/requests/{ticket_id}")).text


async def test_a_session_of_another_workspace_does_not_open_this_portal(ws, make_ws):
    other = await make_ws("Other Co")
    slug, other_slug = await slug_of(ws), await slug_of(other)
    customer = await ws.person(Role.customer, password=PASSWORD)
    c = await signed_in(ws, slug, customer.email)
    async with aclosing(c):
        r = await c.get(f"/portal/{other_slug}/requests")
        assert r.status_code == 303 and r.headers["location"].startswith(f"/portal/{other_slug}/login")
        # and signing in there with an account that is not a member fails like a wrong password
        page = await c.get(f"/portal/{other_slug}/login")
        r = await c.post(
            f"/portal/{other_slug}/login",
            data={"email": customer.email, "password": PASSWORD, "csrf_token": csrf(page)},
        )
        assert r.status_code == 401 and "wrong email or password" in r.text
    async with browser(ws) as c:
        assert (await c.get("/portal/no-such-portal-here/login")).status_code == 404


async def test_sign_up_opens_an_account_and_reveals_no_existing_one(ws):
    slug = await slug_of(ws)
    existing = await ws.person(Role.customer, password=PASSWORD)
    async with browser(ws) as c:
        page = await c.get(f"/portal/{slug}/signup")
        email = f"new-{uuid.uuid4().hex[:8]}@fresh.example"
        r = await c.post(
            f"/portal/{slug}/signup",
            data={"name": "New Person", "email": email, "password": PASSWORD, "csrf_token": csrf(page)},
        )
        assert r.status_code == 303 and "helpline_session" in r.cookies
        assert (await c.get(f"/portal/{slug}/requests")).status_code == 200
    async with browser(ws) as c:
        page = await c.get(f"/portal/{slug}/signup")
        r = await c.post(
            f"/portal/{slug}/signup",
            data={
                "name": "Impostor",
                "email": existing.email.upper(),
                "password": "impostor password",
                "csrf_token": csrf(page),
            },
        )
        assert r.status_code == 200 and "Check your email" in r.text and "helpline_session" not in r.cookies
    await drain(ws.platform)
    mail = [m for m in ws.platform.mail.sent if m["To"] == existing.email]
    assert mail and "sign-in link" in mail[-1]["Subject"]
    # the impostor's password was not set: the owner's still works, the impostor's does not
    await (await signed_in(ws, slug, existing.email)).aclose()
    async with browser(ws) as c:
        page = await c.get(f"/portal/{slug}/login")
        r = await c.post(
            f"/portal/{slug}/login",
            data={"email": existing.email, "password": "impostor password", "csrf_token": csrf(page)},
        )
        assert r.status_code == 401
    # invalid input is answered on the form, tied to its field
    async with browser(ws) as c:
        page = await c.get(f"/portal/{slug}/signup")
        r = await c.post(
            f"/portal/{slug}/signup",
            data={"name": "", "email": "not-an-email", "password": "short", "csrf_token": csrf(page)},
        )
        assert r.status_code == 422 and 'aria-describedby="e-name' in r.text


async def test_sign_up_at_an_organizations_domain_needs_the_mailbox(ws):
    """A new address at an organization's domain would see its shared requests: a link, not a session."""
    slug = await slug_of(ws)
    domain = f"{uuid.uuid4().hex[:8]}.example"
    async with ws.platform.db.transaction() as uow:
        await customers.create_organization(uow, ws.id, name="Big Co", domains=[domain], shared_tickets=True)
    async with browser(ws) as c:
        page = await c.get(f"/portal/{slug}/signup")
        r = await c.post(
            f"/portal/{slug}/signup",
            data={
                "name": "Mallory",
                "email": f"mallory@{domain}",
                "password": PASSWORD,
                "csrf_token": csrf(page),
            },
        )
        assert r.status_code == 200 and "Check your email" in r.text and "helpline_session" not in r.cookies
    await drain(ws.platform)
    assert any(m["To"] == f"mallory@{domain}" for m in ws.platform.mail.sent)
    async with browser(ws) as c:  # and the chosen password was not set
        page = await c.get(f"/portal/{slug}/login")
        r = await c.post(
            f"/portal/{slug}/login",
            data={"email": f"mallory@{domain}", "password": PASSWORD, "csrf_token": csrf(page)},
        )
        assert r.status_code == 401


async def test_sign_in_link_works_once(ws):
    slug = await slug_of(ws)
    customer = await ws.person(Role.customer, password=PASSWORD)
    async with browser(ws) as c:
        page = await c.get(f"/portal/{slug}/login/email")
        r = await c.post(
            f"/portal/{slug}/login/email", data={"email": customer.email, "csrf_token": csrf(page)}
        )
        assert r.status_code == 200 and "Check your email" in r.text
        r = await c.post(
            f"/portal/{slug}/login/email", data={"email": "nobody@nowhere.example", "csrf_token": csrf(page)}
        )
        assert r.status_code == 200 and "Check your email" in r.text
    await drain(ws.platform)
    sent = [m for m in ws.platform.mail.sent if m["To"] == customer.email]
    assert sent
    link = re.search(r"https?://\S+", sent[-1].get_content()).group(0)  # type: ignore[union-attr]
    path = httpx.URL(link).raw_path.decode()
    assert path.startswith(f"/portal/{slug}/login/link?token=")
    async with browser(ws) as c:
        page = await c.get(path)
        assert page.status_code == 200
        token = re.search(r'name="token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        r = await c.post(f"/portal/{slug}/login/link", data={"token": token, "csrf_token": csrf(page)})
        assert r.status_code == 303 and r.headers["location"] == f"/portal/{slug}/requests"
        assert (await c.get(f"/portal/{slug}/requests")).status_code == 200
    async with browser(ws) as c:
        page = await c.get(path)
        assert page.status_code == 400 and "expired or was used" in page.text
        r = await c.post(
            f"/portal/{slug}/login/link", data={"token": token, "csrf_token": c.cookies["helpline_csrf"]}
        )
        assert r.status_code == 400 and "helpline_session" not in r.cookies
