"""Tenant isolation, route by route: every API route and page that names an object by its id or key is
called by principals of workspace B (admin, agent, customer) with workspace A's ids, with every method
it takes, and must answer exactly as it answers for an id that does not exist (404, or the refusal
of the principal's role that comes before any lookup) while nothing in either workspace changes.
Routes public by their slug (help centre, portal) must give B's principals nothing of A's that a
stranger does not get. The routes come from the app itself, so a new one cannot slip past: it must
be put in the map of ``tests/security/_tenancy.py`` first (see ``docs/architecture.md``)."""

from __future__ import annotations

import itertools
import re
import uuid
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
import pytest
import sqlalchemy as sa
from pydantic import BaseModel, ValidationError

from helpline.app import create_app
from helpline.domains.accounts.models import Role, User
from helpline.settings import Settings
from tests.conftest import PASSWORD
from tests.security._tenancy import (
    ANON_CSRF,
    BODIES,
    CROSS,
    MISSING,
    NOTHING,
    Const,
    Home,
    Obj,
    Route,
    Secret,
    Tenant,
    agent_socket,
    differences,
    digest,
    fill,
    param_of,
    path_params,
    populate,
    routes,
    serve,
)

WRITES = {"POST", "PUT", "PATCH", "DELETE"}
ROLES = ("admin", "agent", "customer")

#: Routes that do not answer 404 to another workspace's id for a B admin, and why. (status, reason,
#: whether a missing id answers the same). Anything else not 404 is a failure.
EXCEPTIONS: dict[tuple[str, str], tuple[int, str, bool]] = {
    ("DELETE", "/api/v1/tags/{name}"): (
        204,
        "a tag is a name within the caller's workspace, not an id: removing a name nobody uses in it is "
        "done (204) and reaches no other workspace",
        True,
    ),
    ("POST", "/admin/tags/{name:path}/rename"): (
        422,
        "a name within the caller's workspace: renaming a name nobody uses in it shows the tags page with "
        "the error under the field, as for any unused name",
        True,
    ),
    ("POST", "/admin/tags/{name:path}/delete"): (
        303,
        "as DELETE /api/v1/tags/{name}: a name within the caller's workspace; the page goes back to the list",
        True,
    ),
    ("POST", "/api/v1/mailboxes/{mailbox_id}/inbound"): (
        401,
        "the raw-mail webhook takes no principal: it is authenticated by the mailbox's own signing secret, "
        "which B does not have (a missing mailbox answers 404, so a mailbox id's existence shows)",
        False,
    ),
    ("PATCH", "/api/v1/workspaces/{workspace_id}"): (
        403,
        "the instance operator's alone (instance-wide by design, so an operator may name any workspace); "
        "everyone else, B's admin included, is refused before the id is looked at",
        True,
    ),
}


#: What B's own rows may change in the walk: saving B's article's related list with A's article id
#: drops that id (as a missing one) but still stamps the article saved.
B_MAY_CHANGE = {"kb_articles": {"updated_at"}}


@dataclass
class Outcome:
    status: int
    text: str
    location: str


def _is_api(path: str) -> bool:
    return path.startswith("/api/")


def _normal(r: httpx.Response, values: list[str]) -> Outcome:
    text = r.text
    for v in sorted(values, key=len, reverse=True):
        text = text.replace(v, "<V>")
    text = re.sub(r"\d+", "N", text)
    location = re.sub(r"\d+", "N", r.headers.get("location", ""))
    for v in values:
        location = location.replace(v, "<V>")
    return Outcome(r.status_code, text, location)


def schema_error(route: Route | None, req: dict[str, Any]) -> str | None:
    """Why ``req``'s body is not valid for ``route``'s body model (JSON or form), or None: a body the
    route refuses (422) would hide whether it looks the object up."""
    if route is None or route.api is None or route.api.body_field is None or "files" in req:
        return None
    model = route.api.body_field.field_info.annotation
    body = req.get("json", req.get("data"))
    if body is None or not isinstance(model, type) or not issubclass(model, BaseModel):
        return None
    try:
        model.model_validate(body)
    except ValidationError as exc:
        return str(exc)
    return None


def _refusal(out: Outcome) -> bool:
    """The principal's role is refused before anything is looked up: 403, or sent to a sign-in page."""
    return out.status == 403 or (out.status in (302, 303, 307) and "login" in out.location)


async def _send(client: httpx.AsyncClient, method: str, url: str, req: dict[str, Any]) -> httpx.Response:
    req = dict(req)
    if req.pop(ANON_CSRF, False):
        # The double-submit pair of a form shown before sign-in, beside the principal's own cookies.
        jar = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
        req["headers"] = {
            **req.get("headers", {}),
            "X-CSRF-Token": "walk",
            "Cookie": f"{jar}; helpline_csrf=walk",
        }
    with anyio.fail_after(10):
        return await client.request(method, url, **req)


def variants(route: Route, a: Tenant, b: Tenant) -> list[tuple[dict[str, Any], dict[str, Any], list[str]]]:
    """For a route naming objects: (path values with A's objects, the same with missing ones, the
    values to blank out when comparing answers). Every combination of A's kinds, and where a route names
    two objects, each of A's with the other B's own."""
    names = path_params(route.path)
    params = {n: param_of(route.path, n) for n in names}
    objs = [n for n, p in params.items() if isinstance(p, Obj)]
    base: dict[str, Any] = {}
    for n, p in params.items():
        if isinstance(p, Home | Secret):
            base[n] = b[p.kind]
        elif isinstance(p, Const):
            base[n] = p.value
    out = []
    kinds = [[(n, k) for k in params[n].kinds] for n in objs]  # type: ignore[union-attr]
    for combo in itertools.product(*kinds):
        theirs = {n: a[k] for n, k in combo}
        missing = {n: params[n].missing for n in objs}  # type: ignore[union-attr]
        out.append(
            ({**base, **theirs}, {**base, **missing}, [str(v) for v in (*theirs.values(), *missing.values())])
        )
    if len(objs) > 1:
        for n in objs:
            p = params[n]
            assert isinstance(p, Obj)
            own = {m: b[params[m].kinds[0]] for m in objs if m != n}  # type: ignore[union-attr]
            theirs_one = {n: a[p.kinds[0]]}
            out.append(
                (
                    {**base, **own, **theirs_one},
                    {**base, **own, n: p.missing},
                    [str(a[p.kinds[0]]), str(p.missing)],
                )
            )
    return out


#: Routes that answer a stream that does not end (server-sent events): not read for B's own objects.
STREAMS = {"/tickets/{ticket_id}/presence"}


def own(route: Route, b: Tenant) -> list[dict[str, Any]]:
    """The path values of every combination of B's own objects (the control: these must open)."""
    params = {n: param_of(route.path, n) for n in path_params(route.path)}
    choices = []
    for n, p in params.items():
        if isinstance(p, Obj):
            choices.append([(n, b[k]) for k in p.kinds])
        elif isinstance(p, Home | Secret):
            choices.append([(n, b[p.kind])])
        elif isinstance(p, Const):
            choices.append([(n, p.value)])
    return [dict(c) for c in itertools.product(*choices)]


def id_routes(app: Any) -> list[tuple[Route, str]]:
    """(route, method) of every route whose path names an object of a workspace, in the map."""
    out = []
    for route in routes(app):
        if route.websocket or not path_params(route.path):
            continue
        params = [param_of(route.path, n) for n in path_params(route.path)]
        if any(p is None for p in params) or not any(isinstance(p, Obj) for p in params):
            continue  # unmapped (the coverage test fails) or public by slug (the public walk)
        for method in route.methods:
            if (method, route.path) in BODIES or method not in WRITES:
                out.append((route, method))  # else the coverage test fails
    return out


async def controls(app: Any, b: Tenant) -> list[str]:
    """Each GET of the id walk made by B's admin with B's own objects must open: so the map names the
    right kind, and a 404 for A's proves something. (Run after the walk: reading may count a view.)"""
    failures = []
    api, pages = b.api("admin"), b.pages("admin")
    async with api, pages:
        api.base_url = httpx.URL("http://testserver")
        for route, method in id_routes(app):
            if method != "GET" or route.path in STREAMS:
                continue
            for mine in own(route, b):
                client = api if _is_api(route.path) else pages
                r = await _send(
                    client, method, fill(route.path, mine), BODIES.get((method, route.path), NOTHING)(b)
                )
                if r.status_code >= 400:
                    failures.append(
                        f"GET {fill(route.path, mine)} as B's admin answers {r.status_code} for B's own "
                        f"object, so the map may name the wrong kind: {r.text[:200]!r}"
                    )
    return failures


async def walk(app: Any, a: Tenant, b: Tenant, role: str, seen: dict[int, int]) -> list[str]:
    """Every call of the id walk as B's ``role``; the failures, one line each."""
    failures: list[str] = []
    api, pages = b.api(role), b.pages(role)
    async with api, pages:
        api.base_url = httpx.URL("http://testserver")
        for route, method in id_routes(app):
            body = BODIES.get((method, route.path), NOTHING)
            client = api if _is_api(route.path) else pages
            if role == "admin" and (why := schema_error(route, body(b))):
                failures.append(f"{method} {route.path}: the walk's body is not valid: {why}")
            for theirs, missing, values in variants(route, a, b):
                where = f"{method} {fill(route.path, theirs)} as B's {role}"
                try:
                    twin = _normal(await _send(client, method, fill(route.path, missing), body(b)), values)
                    r = await _send(client, method, fill(route.path, theirs), body(b))
                except TimeoutError:
                    failures.append(f"{where}: no answer within 10 s")
                    continue
                got = _normal(r, values)
                seen[got.status] = seen.get(got.status, 0) + 1
                shown = r.text.lower()
                for v in values:  # what the path itself holds may be echoed ("no tag 'x'")
                    shown = shown.replace(v.lower(), "")
                if a.word in shown:
                    failures.append(f"{where}: the answer shows A's data: {r.status_code} {r.text[:300]!r}")
                    continue
                exc = EXCEPTIONS.get((method, route.path))
                allowed = {404}
                if exc:
                    allowed.add(exc[0])
                refusal_ok = role != "admin" or route.path.startswith("/portal/")
                if got.status not in allowed and not (refusal_ok and _refusal(got)):
                    failures.append(f"{where}: {r.status_code} (expected 404) {r.text[:300]!r}")
                elif (got.status, got.text, got.location) != (twin.status, twin.text, twin.location) and not (
                    exc and not exc[2]
                ):
                    failures.append(
                        f"{where}: answers unlike a missing id: {got.status} {got.location} "
                        f"{got.text[:200]!r} vs {twin.status} {twin.location} {twin.text[:200]!r}"
                    )
    return failures


async def cross(app: Any, a: Tenant, b: Tenant, role: str, seen: dict[int, int]) -> list[str]:
    """The routes that take an id in the body or query, with A's ids, as B's ``role``."""
    failures = []
    by_path = {(m, r.path): r for r in routes(app) for m in r.methods}
    api, pages = b.api(role), b.pages(role)
    async with api, pages:
        api.base_url = httpx.URL("http://testserver")
        for c in CROSS:
            why = schema_error(by_path.get((c.method, c.route)), c.request(b, a[c.kind]))
            if role == "admin" and why:
                failures.append(f"{c.method} {c.route}: the cross body is not valid: {why}")
            client = api if _is_api(c.route) else pages
            url = fill(c.route, {n: b[k] for n, k in c.path})
            values = [str(a[c.kind]), str(MISSING)]
            where = f"{c.method} {url} with A's {c.kind} {a[c.kind]} as B's {role}"
            twin = _normal(await _send(client, c.method, url, c.request(b, MISSING)), values)
            r = await _send(client, c.method, url, c.request(b, a[c.kind]))
            got = _normal(r, values)
            seen[got.status] = seen.get(got.status, 0) + 1
            if a.word in r.text.lower():
                failures.append(f"{where}: the answer shows A's data: {r.status_code} {r.text[:300]!r}")
            elif got.status < 400 and got.status != c.ok and not _refusal(got):
                failures.append(f"{where}: {r.status_code} (expected a refusal) {r.text[:300]!r}")
            elif (got.status, got.text, got.location) != (twin.status, twin.text, twin.location):
                failures.append(
                    f"{where}: answers unlike a missing id: {got.status} {got.location} "
                    f"{got.text[:200]!r} vs {twin.status} {twin.location} {twin.text[:200]!r}"
                )
    return failures


#: The console chat socket's frames that name a ticket (besides ``status`` and ``ping``, which do not).
FRAMES = (
    {"t": "sub", "after": 0},
    {"t": "msg", "cid": "w1", "body": "a reply"},
    {"t": "msg", "cid": "w2", "body": "a note", "note": True},
    {"t": "typing", "on": True},
    {"t": "read", "seq": 1},
    {"t": "accept"},
    {"t": "end"},
)


async def sockets(app: Any, a: Tenant, b: Tenant) -> list[str]:
    """The console's chat socket (``/chat/agent/ws``), as B's admin and agent, with every frame that
    names a ticket, naming A's chat: each answers as for a missing ticket, and nothing of A's arrives."""
    failures = []
    async with serve(app) as base:
        for role in ("admin", "agent"):
            async with agent_socket(base, b, role) as sock:
                for frame in FRAMES:
                    twin = await sock.answer({**frame, "ticket": MISSING})
                    got = await sock.answer({**frame, "ticket": a["chat_ticket"]})
                    where = (
                        f"/chat/agent/ws frame {frame['t']!r} on A's chat {a['chat_ticket']} as B's {role}"
                    )
                    if any(f.get("t") != "error" or f.get("code") not in (404, 409) for f in got):
                        failures.append(f"{where}: {got}")
                    elif _digits(got) != _digits(twin):
                        failures.append(f"{where}: answers {got}, a missing chat {twin}")
                await sock.rest()
                failures += [
                    f"/chat/agent/ws as B's {role} was sent A's data: {f}" for f in sock.seen if a.word in f
                ]
    return failures


def _digits(frames: list[dict[str, Any]]) -> str:
    return re.sub(r"\d+", "N", repr(frames))


def _public(path: str) -> bool:
    params = [param_of(path, n) for n in path_params(path)]
    return any(isinstance(p, Home | Secret) for p in params) or (
        bool(params) and all(isinstance(p, Const) for p in params)
    )


def _same_for_all(r: httpx.Response) -> tuple[int, str, str]:
    """An answer without what differs between any two visits (a form's one-time CSRF token)."""
    body = r.text
    for token in set(re.findall(r'(?:name="csrf_token" value=|data-csrf=)"([^"]+)"', body)):
        body = body.replace(token, "<csrf>")
    body = re.sub(r"\d+ views?\b", "N views", body)  # an article's view counter counts both visits
    body = re.sub(r"nobody-[0-9a-f]{8}@x\.test", "nobody@x.test", body)  # each sign-in's own address
    return r.status_code, r.headers.get("location", ""), body


#: Public routes that must change nothing of the workspace they name, for anyone, when no sign-in was
#: started (single sign-on's: no session, no account, no link of A's may result).
QUIET = ("/sso/",)


async def public_walk(app: Any, a: Tenant, b: Tenant, *, quiet: bool = False) -> list[str]:
    """Routes public by A's slug or by a secret A's people were mailed (help centre, portal, brand, the
    widget's preflight, an invitation, single sign-on), with A's objects in them: B's principals get
    exactly what a stranger gets; and a made-up secret answers 404 to both. ``quiet``: the
    :data:`QUIET` routes only, which must also set no session cookie (the caller checks A's rows);
    else the others."""
    failures = []
    for i, role in enumerate(ROLES):
        # Each from its own address (and a stranger beside each): failed sign-ins are throttled per
        # client address, and each role's visits would add up.
        stranger = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=(f"10.0.0.{i}", 40000)),
            base_url="http://testserver",
        )
        api, pages = b.api(role), b.pages(role, address=f"10.0.1.{i}")
        async with stranger, api, pages:
            api.base_url = httpx.URL("http://testserver")
            for route in routes(app):
                if route.websocket or not _public(route.path) or route.path.startswith(QUIET) != quiet:
                    continue
                client = api if _is_api(route.path) else pages
                for method in route.methods:
                    body = BODIES.get((method, route.path), NOTHING)(a)
                    for values in own(route, a):
                        url = fill(route.path, values)
                        stranger.cookies.clear()
                        seen = await _send(stranger, method, url, body)
                        mine = await _send(client, method, url, body)
                        if _same_for_all(mine) != _same_for_all(seen):
                            failures.append(
                                f"{method} {url} as B's {role}: {mine.status_code} {mine.text[:300]!r}, "
                                f"a stranger gets {seen.status_code} {seen.text[:300]!r}"
                            )
                        if quiet and any(
                            "helpline_session=" in c
                            for r in (seen, mine)
                            for c in r.headers.get_list("set-cookie")
                        ):
                            failures.append(
                                f"{method} {url} as B's {role} or a stranger set a session cookie"
                            )
                    made_up = {
                        n: p.missing
                        for n in path_params(route.path)
                        if isinstance(p := param_of(route.path, n), Secret)
                    }
                    if made_up:
                        url = fill(route.path, {**own(route, a)[0], **made_up})
                        stranger.cookies.clear()
                        got = [(await _send(c, method, url, body)).status_code for c in (stranger, client)]
                        if got != [404, 404]:
                            failures.append(
                                f"{method} {url} (a made-up secret) answers {got[0]} to a stranger and "
                                f"{got[1]} to B's {role}, not 404"
                            )
    return failures


#: Controls for writes that change what they name for good, run last with B's admin on B's own objects
#: (so they change B, after the digests): each must do its work with the walk's own body, so the 404
#: for A's id is the route's rule and not a body it refuses. What a route does once (remove, withdraw)
#: is tried through one of its routes; the erase routes take the contact kept for erasing.
OWN_WRITES: list[tuple[str, str, int]] = [
    ("PATCH", "/api/v1/me/passkeys/{passkey_id}", 200),
    ("POST", "/profile/passkeys/{passkey_id}/rename", 303),
    ("POST", "/profile/passkeys/{passkey_id}/remove", 303),
    ("POST", "/admin/invitations/{invitation_id}/withdraw", 303),
    ("POST", "/contacts/{contact_id}/export", 200),
    ("PATCH", "/api/v1/sso-providers/{provider_id}", 200),
    ("POST", "/admin/sso/{provider_id}", 303),
    ("POST", "/admin/sso/{provider_id}/delete", 303),
    ("POST", "/api/v1/contacts/{contact_id}/erase", 200),
    ("POST", "/contacts/{contact_id}/erase", 303),  # again: erasing twice changes nothing and is allowed
    ("PUT", "/api/v1/tickets/{ticket_id}/draft", 200),
    ("PUT", "/api/v1/tickets/{ticket_id}/snooze", 200),
    ("POST", "/api/v1/tickets/{ticket_id}/time-entries", 201),
    ("POST", "/tickets/{ticket_id}/time", 303),
]


async def own_writes(app: Any, b: Tenant) -> list[str]:
    failures = []
    by_path = {r.path: r for r in routes(app)}
    api, pages = b.api("admin"), b.pages("admin")
    async with api, pages:
        api.base_url = httpx.URL("http://testserver")
        for method, path, status in OWN_WRITES:
            url = fill(path, own(by_path[path], b)[0])
            body = BODIES[(method, path)](b)
            r = await _send(api if _is_api(path) else pages, method, url, body)
            if r.status_code != status:
                failures.append(
                    f"{method} {url} as B's admin on B's own object answers {r.status_code}, not {status}: "
                    f"{r.text[:300]!r}"
                )
    return failures


async def operators(a: Tenant, b: Tenant) -> list[str]:
    """The walk's people who are instance operators (there must be none: an operator may act on any
    workspace by design, so one would make the walk prove nothing for the operator's routes)."""
    users = User.__table__
    ids = [t.person(role).user_id for t in (a, b) for role in ("admin", "agent", "light", "customer")]
    async with a.ws.platform.db.read() as conn:
        found = await conn.execute(
            sa.select(users.c.email).where(users.c.id.in_(ids), users.c.is_operator.is_(True))
        )
        return [str(row[0]) for row in found]


@pytest.fixture
async def tenants(make_ws: Any) -> tuple[Tenant, Tenant]:
    a = await populate(Tenant(await make_ws("Aardvark Support"), "aardvark"))
    b = await populate(Tenant(await make_ws("Bison Support"), "bison"))
    return a, b


async def test_no_id_of_another_workspace_opens_anything(tenants: tuple[Tenant, Tenant], app: Any) -> None:
    a, b = tenants
    assert await operators(a, b) == []
    before = (
        await digest(a.ws.platform, [a.ws.id]),
        await digest(b.ws.platform, [b.ws.id], B_MAY_CHANGE, own=True),
    )
    failures: list[str] = []
    seen: dict[int, int] = {}
    for role in ROLES:
        failures += await walk(app, a, b, role, seen)
        failures += await cross(app, a, b, role, seen)
    failures += await sockets(app, a, b)
    print("answers to A's ids by status:", dict(sorted(seen.items())))
    changed = differences(before[0], await digest(a.ws.platform, [a.ws.id]))
    changed += differences(before[1], await digest(b.ws.platform, [b.ws.id], B_MAY_CHANGE, own=True))
    assert not failures and not changed, "\n".join(["answers:", *failures, "changes:", *changed])
    control = await controls(app, b)
    assert not control, "\n".join(control)
    before = await digest(a.ws.platform, [a.ws.id])
    public = await public_walk(app, a, b, quiet=True)
    public += [
        f"the sign-in routes changed A: {d}"
        for d in differences(before, await digest(a.ws.platform, [a.ws.id]))
    ]
    public += await public_walk(app, a, b)
    assert not public, "\n".join(public)
    writes = await own_writes(app, b)
    assert not writes, "\n".join(writes)


def test_every_parameterised_route_is_in_the_map() -> None:
    """A route added later must say what its path parameters name, and what a write sends."""
    app = create_app(Settings(secret_key="x" * 40))
    missing = []
    for route in routes(app):
        for name in path_params(route.path):
            if param_of(route.path, name) is None:
                missing.append(
                    f"{route.path}: add ({route.path.split('{')[0]!r}, {name!r}) to PARAMS in "
                    "tests/security/_tenancy.py, naming the kind of object in Tenant.ids it takes "
                    "(populate() makes one in each workspace)"
                )
        if path_params(route.path):
            for method in set(route.methods) & WRITES:
                if (method, route.path) not in BODIES:
                    missing.append(
                        f"{method} {route.path}: add a plausible body to BODIES in tests/security/_tenancy.py"
                    )
    known = {(m, r.path) for r in routes(app) for m in r.methods}
    for method, path in [*BODIES, *EXCEPTIONS, *((c.method, c.route) for c in CROSS)]:
        if (method, path) not in known:
            missing.append(
                f"{method} {path} is in the walk's tables but the app has no such route: remove it"
            )
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("where", ["api", "page"])
async def test_adding_a_person_by_another_workspaces_email_changes_nothing_there(
    make_ws: Any, where: str
) -> None:
    """``POST /api/v1/users`` and the admin page's ``POST /admin/users`` name a person by email, not
    by id: B's admin naming A's agent, with a password, must not change A's agent (nor let the new
    password open A's agent's account)."""
    one, two = await make_ws("Aardvark Support"), await make_ws("Bison Support")
    theirs = await one.person(
        Role.agent, email=f"agent-{uuid.uuid4().hex[:8]}@aardvark.test", password=PASSWORD
    )
    admin = await two.person(Role.admin, password=PASSWORD)
    before = await digest(one.platform, [one.id])
    body = {"email": theirs.email, "name": "Mine now", "role": "agent", "password": "a new password of B"}
    if where == "api":
        async with two.client(admin) as c:
            r = await c.post("/users", json=body)
    else:
        anon = httpx.AsyncClient(transport=httpx.ASGITransport(app=two.app), base_url="http://testserver")
        async with anon as c:
            signed = await c.post("/api/v1/session", json={"email": admin.email, "password": PASSWORD})
            r = await c.post("/admin/users", data={**body, "csrf_token": signed.json()["csrf_token"]})
    assert "aardvark" not in r.text.lower().replace(theirs.email, "")
    # An invitation is mailed to the person (they decide); nothing of theirs changes.
    assert r.status_code == (202 if where == "api" else 303), r.text
    changed = differences(before, await digest(one.platform, [one.id]))
    assert [d for d in changed if not (d.startswith("jobs ") and "'purpose': 'invite'" in d)] == []
    async with one.client() as c:
        c.base_url = httpx.URL("http://testserver")
        sign_in = await c.post("/api/v1/session", json={"email": theirs.email, "password": body["password"]})
    assert sign_in.status_code == 401
