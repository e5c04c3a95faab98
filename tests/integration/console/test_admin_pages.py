"""Admin pages over HTTP: only admins get in, every write needs the session's CSRF token, one
workspace's admin never sees or touches another's rows, and each section does what it says."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from helpline.domains.accounts.models import Membership, Role, User

XSS = '<img src=x onerror="window.__xss=1">'
ADMIN_PAGES = [
    "/admin",
    "/admin/users",
    "/admin/groups",
    "/admin/fields",
    "/admin/tags",
    "/admin/canned",
    "/admin/tokens",
    "/admin/settings",
]
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.mark.parametrize("role", [Role.agent, Role.light_agent])
async def test_only_admins_open_admin_pages(ws, console, role):
    _, admin = await console(Role.admin)
    _, other = await console(role)
    for path in ADMIN_PAGES:
        assert (await admin.get(path)).status_code == 200, path
        r = await other.get(path)
        assert r.status_code == 403, path
        assert "Only admins" in r.text
    # writes too, with a valid CSRF token
    r = await other.post("/admin/users", {"email": "sneaky@x.test", "role": "admin"})
    assert r.status_code == 403
    r = await other.post("/admin/settings", {"name": "Taken over", "timezone": "UTC", "languages": "en"})
    assert r.status_code == 403
    async with ws.platform.db.read() as conn:
        assert (
            await conn.execute(
                sa.select(User.__table__.c.id).where(User.__table__.c.email == "sneaky@x.test")
            )
        ).first() is None


async def test_customers_are_sent_to_sign_in(ws, console):
    _, customer = await console(Role.customer)
    r = await customer.get("/admin")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


async def test_writes_without_the_csrf_token_are_refused(ws, console):
    _, admin = await console(Role.admin)
    for path, form in [
        ("/admin/users", {"email": "x1@x.test", "role": "agent"}),
        ("/admin/groups", {"name": "G"}),
        ("/admin/fields", {"key": "k", "label": "L", "type": "text"}),
        ("/admin/canned", {"title": "T", "body": "B"}),
        ("/admin/tokens", {"name": "N"}),
        ("/admin/settings", {"name": "N", "timezone": "UTC", "languages": "en"}),
    ]:
        assert (await admin.post(path, form, csrf=False)).status_code == 403, path
        assert (await admin.post(path, {**form, "csrf_token": "wrong"}, csrf=False)).status_code == 403, path
    assert "x1@x.test" not in (await admin.get("/admin/users")).text
    # the header works like the field (htmx sends it that way)
    r = await admin.client.post(
        "/admin/groups", data={"name": "By header"}, headers={"X-CSRF-Token": admin.csrf}
    )
    assert r.status_code == 303


async def test_admin_sees_only_their_workspace(ws, make_ws, console):
    other = await make_ws("Other Co")
    stranger = await other.person(Role.agent, groups=["Their team"], email="stranger@other.test")
    async with other.platform.db.transaction() as uow:
        from helpline.domains.accounts import service as accounts

        their_token, _ = await accounts.create_token(uow, other.id, stranger.user_id, name="theirs")
    _, admin = await console(Role.admin)
    page = await admin.get("/admin/users?customers=1")
    assert "stranger@other.test" not in page.text
    assert (await admin.get(f"/admin/users/{stranger.user_id}")).status_code == 404
    r = await admin.post(f"/admin/users/{stranger.user_id}", {"role": "admin", "is_active": "on"})
    assert r.status_code == 404
    gid = other.groups["Their team"]
    assert (await admin.get(f"/admin/groups/{gid}")).status_code == 404
    assert "Their team" not in (await admin.get("/admin/groups")).text
    assert (await admin.post(f"/admin/groups/{gid}", {"member_ids": []})).status_code == 404
    assert (await admin.post(f"/admin/tokens/{their_token}/revoke")).status_code == 404
    assert "theirs" not in (await admin.get("/admin/tokens")).text
    # a token for someone of another workspace cannot be made either
    r = await admin.post("/admin/tokens", {"name": "steal", "user_id": str(stranger.user_id)})
    assert r.status_code == 422 and "not found" in r.text
    async with ws.platform.db.read() as conn:
        role = (
            await conn.execute(
                sa.select(Membership.__table__.c.role).where(
                    Membership.__table__.c.user_id == stranger.user_id
                )
            )
        ).scalar_one()
    assert role == "agent"


async def test_people_create_change_role_groups_and_deactivate(ws, console):
    me, admin = await console(Role.admin)
    r = await admin.post("/admin/groups", {"name": "Billing " + XSS})
    assert r.status_code == 303
    page = (await admin.get("/admin/groups")).text
    assert XSS not in page and "Billing &lt;img" in page
    gid = int(re.search(r'href="/admin/groups/(\d+)"', page).group(1))
    r = await admin.post(
        "/admin/users",
        {
            "name": "Nina New",
            "email": "nina@x.test",
            "role": "agent",
            "password": "a long enough password",
            "group_ids": str(gid),
        },
    )
    assert r.status_code == 303, r.text
    page = (await admin.get("/admin/users")).text
    uid = int(re.search(r'href="/admin/users/(\d+)">Nina New', page).group(1))
    # she signs in with that password and is in the group
    async with ws.client() as fresh:
        login = await fresh.post(
            "/session", json={"email": "nina@x.test", "password": "a long enough password"}
        )
    assert login.status_code == 200 and login.json()["role"] == "agent"
    me_json = (await ws.client(await _token_for(ws, uid)).get("/me")).json()
    assert me_json["group_ids"] == [gid]
    # duplicate email and bad role re-render the form with 422
    dup = await admin.post("/admin/users", {"email": "nina@x.test", "role": "agent"})
    assert dup.status_code == 422 and "already a member" in dup.text
    assert (await admin.post("/admin/users", {"email": "z@x.test", "role": "owner"})).status_code == 422
    # change role and groups, then deactivate: her sessions and tokens stop working
    r = await admin.post(f"/admin/users/{uid}", {"role": "light-agent", "is_active": "on"})
    assert r.status_code == 303
    token = await _token_for(ws, uid)
    me_json = (await ws.client(token).get("/me")).json()
    assert me_json["role"] == "light-agent" and me_json["group_ids"] == []
    r = await admin.post(f"/admin/users/{uid}", {"role": "light-agent"})
    assert r.status_code == 303
    assert (await ws.client(token).get("/me")).status_code == 401
    # nobody deactivates themself or changes their own role
    r = await admin.post(f"/admin/users/{me.user_id}", {"role": "admin"})
    assert r.status_code == 422 and "cannot deactivate yourself" in r.text
    r = await admin.post(f"/admin/users/{me.user_id}", {"role": "agent", "is_active": "on"})
    assert r.status_code == 422 and "own role" in r.text


async def _token_for(ws, user_id: int) -> str:
    from helpline.domains.accounts import service as accounts

    async with ws.platform.db.transaction() as uow:
        _, token = await accounts.create_token(uow, ws.id, user_id, name="t")
    return token


async def test_tokens_are_shown_once_and_revocable(ws, console):
    me, admin = await console(Role.admin)
    r = await admin.post("/admin/tokens", {"name": "CRM sync"})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    token = re.search(r'<code class="secret" id="new-token">(hl_[^<]+)</code>', r.text).group(1)
    assert (await ws.client(token).get("/me")).json()["id"] == me.user_id
    page = (await admin.get("/admin/tokens")).text
    assert "CRM sync" in page and token not in page and token[:8] in page
    tid = int(re.search(r'action="/admin/tokens/(\d+)/revoke"', page).group(1))
    assert (await admin.post(f"/admin/tokens/{tid}/revoke")).status_code == 303
    assert (await ws.client(token).get("/me")).status_code == 401
    assert (await admin.post("/admin/tokens", {"name": ""})).status_code == 422


async def test_custom_fields_and_tags(ws, console):
    me, admin = await console(Role.admin)
    r = await admin.post(
        "/admin/fields",
        {
            "key": "plan",
            "label": "Plan " + XSS,
            "type": "dropdown",
            "options": "Free\nPro\n",
            "customer_visible": "on",
        },
    )
    assert r.status_code == 303, r.text
    page = (await admin.get("/admin/fields")).text
    assert XSS not in page and "Plan &lt;img" in page and "Free, Pro" in page
    api = ws.client(await _token_for(ws, me.user_id))
    fields = (await api.get("/custom-fields")).json()
    assert (
        fields[0]["key"] == "plan"
        and fields[0]["options"] == ["Free", "Pro"]
        and fields[0]["customer_visible"]
    )
    fid = fields[0]["id"]
    bad = await admin.post("/admin/fields", {"key": "Bad Key", "label": "x", "type": "text"})
    assert bad.status_code == 422 and 'id="e-key"' in bad.text
    assert (
        await admin.post("/admin/fields", {"key": "plan", "label": "again", "type": "text"})
    ).status_code == 422
    no_opts = await admin.post("/admin/fields", {"key": "tier", "label": "Tier", "type": "dropdown"})
    assert no_opts.status_code == 422 and "at least one option" in no_opts.text
    r = await admin.post(f"/admin/fields/{fid}", {"label": "Plan", "options": "Free\nPro\nEnterprise"})
    assert r.status_code == 303
    got = (await api.get("/custom-fields")).json()[0]
    assert (
        got["label"] == "Plan"
        and got["options"] == ["Free", "Pro", "Enterprise"]
        and not got["customer_visible"]
    )
    # the new definition is used at once by ticket writes (no stale cache)
    t = await api.post(
        "/tickets",
        json={
            "subject": "s",
            "body": "b",
            "requester": {"email": "c@x.test"},
            "custom_fields": {"plan": "Enterprise"},
            "tags": ["vip", "billing"],
        },
    )
    assert t.status_code == 201, t.text
    page = (await admin.get("/admin/tags")).text
    assert "vip" in page and "billing" in page
    assert (await admin.post("/admin/tags/vip/rename", {"new_name": "gold"})).status_code == 303
    assert (await admin.post("/admin/tags/billing/rename", {"new_name": "has space"})).status_code == 422
    asked = await admin.post("/admin/tags/billing/delete")  # first a confirmation step
    assert asked.status_code == 200 and "Remove from every ticket" in asked.text
    assert (await admin.post("/admin/tags/billing/delete", {"confirm": "1"})).status_code == 303
    assert (await api.get(f"/tickets/{t.json()['id']}")).json()["tags"] == ["gold"]
    assert (await admin.post(f"/admin/fields/{fid}/delete")).status_code == 303
    assert (await api.get("/custom-fields")).json() == []


async def test_canned_responses_pages(ws, console):
    _, admin = await console(Role.admin)
    r = await admin.post("/admin/canned", {"title": "Broken", "body": "Hi {{ customer.first_name"})
    assert r.status_code == 422 and 'id="e-body"' in r.text and "syntax error" in r.text
    r = await admin.post(
        "/admin/canned",
        {"title": "Hello " + XSS, "body": "Hi {{ customer.first_name }}, #{{ ticket.number }}"},
    )
    assert r.status_code == 303
    page = (await admin.get("/admin/canned")).text
    assert XSS not in page and "Hello &lt;img" in page and "Hi Ada, #1042" in page
    cid = int(re.search(r'href="/admin/canned/(\d+)"', page).group(1))
    r = await admin.post(f"/admin/canned/{cid}", {"title": "Hello", "body": "Bye {{ agent.name }}"})
    assert r.status_code == 303
    assert "Bye Sam Agent" in (await admin.get(f"/admin/canned/{cid}")).text
    assert (await admin.post(f"/admin/canned/{cid}/delete")).status_code == 303
    assert (await admin.get(f"/admin/canned/{cid}")).status_code == 404


async def test_workspace_settings_brand_and_logo(ws, console):
    _, admin = await console(Role.admin)
    base = {
        "name": "Acme",
        "display_name": "Acme Help",
        "primary_colour": "#123abc",
        "timezone": "Europe/Paris",
        "languages": "en, fr, pt-BR",
    }
    for field, value in [
        ("primary_colour", "red"),
        ("primary_colour", "#12345g"),
        ("timezone", "Mars/Olympus"),
        ("timezone", "../../etc/passwd"),
        ("languages", "english!"),
        ("name", " "),
    ]:
        r = await admin.post("/admin/settings", {**base, field: value})
        assert r.status_code == 422 and f'id="e-{field}"' in r.text, (field, value)
    r = await admin.post("/admin/settings", base)
    assert r.status_code == 303
    css = await admin.get(f"/brand/{ws.id}.css")
    assert "--brand: #123abc" in css.text
    page = (await admin.get("/admin/settings")).text
    assert "Acme Help" in page and 'value="Europe/Paris"' in page and 'value="en, fr, pt-BR"' in page
    # logos: SVG (even named .png) and junk are refused; a PNG is stored and served with its type
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'
    for data, name, ctype in [
        (svg, "logo.svg", "image/svg+xml"),
        (svg, "logo.png", "image/png"),
        (b"not an image", "x.gif", "image/gif"),
    ]:
        r = await admin.client.post(
            "/admin/settings/logo", data={"csrf_token": admin.csrf}, files={"logo": (name, data, ctype)}
        )
        assert r.status_code == 422 and 'id="e-logo"' in r.text
    # a multipart form needs the token too (text part only here: a refused upload's temporary file is
    # left for the garbage collector by the CSRF check, which pytest reports as a ResourceWarning)
    body = b'--b\r\nContent-Disposition: form-data; name="x"\r\n\r\n1\r\n--b--\r\n'
    r = await admin.client.post(
        "/admin/settings/logo", content=body, headers={"Content-Type": "multipart/form-data; boundary=b"}
    )
    assert r.status_code == 403
    r = await admin.client.post(
        "/admin/settings/logo", data={"csrf_token": admin.csrf}, files={"logo": ("x.png", PNG, "image/png")}
    )
    assert r.status_code == 303
    logo = await admin.get(f"/brand/{ws.id}/logo")
    assert logo.status_code == 200 and logo.content == PNG and logo.headers["content-type"] == "image/png"
    page = (await admin.get("/admin/settings")).text
    assert f'src="/brand/{ws.id}/logo"' in page
    assert (await admin.post("/admin/settings/logo/remove")).status_code == 303
    assert (await admin.get(f"/brand/{ws.id}/logo")).status_code == 404
