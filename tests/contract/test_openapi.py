"""The OpenAPI document: it is 3.1, names every resource, and the API behaves as it says.

The fuzzing half runs schemathesis over every operation of the document, as each role (admin, agent,
light agent, customer), against the in-process app on the real database: no answer may be a 5xx, no
answer may break the documented schema, and every error is problem+json.

Time: the run is bounded by the number of examples per operation and role (``HELPLINE_FUZZ_EXAMPLES``,
default 6, about 40 s per database here). It runs on SQLite and on PostgreSQL: PostgreSQL costs about
the same per example, and some bad input only fails there (asyncpg refuses what SQLite accepts), so it
is worth its time. The examples are the same on every run (derandomized); for a hunt with fresh
random input set ``HELPLINE_FUZZ_RANDOM=1`` and raise the number, e.g. ``HELPLINE_FUZZ_EXAMPLES=100``.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi as st_asgi
from schemathesis.specs.openapi.checks import response_schema_conformance

from helpline.app import create_app
from helpline.domains.accounts import service as accounts
from helpline.domains.accounts.models import Role
from helpline.platform.runtime import build_platform
from helpline.settings import Settings

ROLES = [Role.admin, Role.agent, Role.light_agent, Role.customer]
EXAMPLES = int(os.environ.get("HELPLINE_FUZZ_EXAMPLES", "6"))
RESOURCES = (
    "tickets",
    "messages",
    "contacts",
    "organizations",
    "users",
    "groups",
    "tags",
    "custom-fields",
    "uploads",
    "attachments",
    "tokens",
)

# The document, built without a database (generating it touches none), so that schemathesis can make one
# test per operation at collection. The first test checks that the served document is this one.
_DOC = create_app(Settings(database_url="sqlite+aiosqlite://", secret_key="unused")).openapi()
schema = schemathesis.openapi.from_dict(_DOC)


async def test_openapi_document_is_3_1_and_documents_every_resource(app: Any) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        r = await c.get("/api/v1/openapi.json")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    doc = r.json()
    assert doc["openapi"].startswith("3.1."), doc["openapi"]
    assert doc["info"]["title"] and doc["info"]["version"]
    assert doc == _DOC
    paths = doc["paths"]
    for resource in RESOURCES:
        assert any(resource in p.split("/") for p in paths), f"no path documents {resource}"
    assert {"get", "post"} <= set(paths["/api/v1/tickets/{ticket_id}/messages"])
    assert {"get", "post"} <= set(paths["/api/v1/tickets"]) and "patch" in paths[
        "/api/v1/tickets/{ticket_id}"
    ]
    for path, ops in paths.items():
        assert path.startswith("/api/v1/"), path
        for method, op in ops.items():
            where = f"{method.upper()} {path}"
            assert op.get("summary"), f"{where} has no summary"
            ok = [code for code in op["responses"] if code.startswith("2")]
            assert ok, f"{where} documents no success"
            for code in ok:
                content = op["responses"][code].get("content", {})
                if code != "204" and set(content) == {"application/json"}:
                    assert content["application/json"].get("schema"), f"{where} {code}: no response schema"
    assert doc["components"]["securitySchemes"], "the bearer token is not documented"


def test_documented_error_bodies_are_problem_json() -> None:
    """A client built from the document must be able to read the errors it gets: validation errors
    answer problem+json (``detail`` is a string, the fields are in ``errors``), so the 422 the document
    promises must say so, not FastAPI's default ``HTTPValidationError`` (``detail`` as a list)."""
    wrong = []
    for path, ops in _DOC["paths"].items():
        for method, op in ops.items():
            answer = op["responses"].get("422")
            if answer is None:
                continue
            content = answer.get("content", {})
            ref = next(iter(content.values()), {}).get("schema", {}).get("$ref", "")
            if "application/problem+json" not in content or ref.endswith("/HTTPValidationError"):
                wrong.append(f"{method.upper()} {path}: {sorted(content)} {ref}")
    assert not wrong, (
        f"{len(wrong)} operations document 422 as FastAPI's HTTPValidationError; first: {wrong[0]}"
    )


# --- fuzzing -------------------------------------------------------------------------------------------

#: Ids that exist in the fuzzed workspace, by path parameter name: half of the generated cases use one,
#: so that requests get past the 404 into the code behind it. Filled by the ``api`` fixture.
KNOWN: dict[str, list[Any]] = {}


@schema.hook
def flatmap_path_parameters(
    _context: schemathesis.HookContext, path_parameters: dict[str, Any] | None
) -> Any:
    known = {name: KNOWN[name] for name in path_parameters or {} if KNOWN.get(name)}
    if not known:
        return st.just(path_parameters)
    existing = st.fixed_dictionaries({name: st.sampled_from(ids) for name, ids in known.items()})
    return st.one_of(st.just(path_parameters), existing.map(lambda ids: {**path_parameters, **ids}))


@dataclass
class Api:
    app: Any
    tokens: dict[Role, str] = field(default_factory=dict)
    protected_users: set[int] = field(default_factory=set)
    protected_tokens: set[int] = field(default_factory=set)
    victim_user: int = 0
    victim_token: int = 0
    victim_contact: int = 0


async def _seed(settings: Settings) -> Api:
    """A workspace with one person of each role and a little of everything, mostly made through the API."""
    api = Api(app=None)
    platform = build_platform(settings)
    try:
        async with platform.db.transaction() as uow:
            ws = await accounts.create_workspace(uow, "Fuzz", f"fuzz-{uuid.uuid4().hex[:12]}")
            gid = await accounts.create_group(uow, ws, "Support")
            users = {}
            for role in ROLES:
                email = f"{role.value}-{uuid.uuid4().hex[:8]}@example.test"
                groups = [] if role is Role.customer else ["Support"]
                users[role] = await accounts.create_user(
                    uow, ws, email=email, role=role, name=role.value, password=None, group_names=groups
                )
                token_id, api.tokens[role] = await accounts.create_token(uow, ws, users[role], name="fuzz")
                api.protected_tokens.add(token_id)
            api.protected_users = set(users.values())
            api.victim_user = await accounts.create_user(
                uow,
                ws,
                email=f"victim-{uuid.uuid4().hex[:8]}@example.test",
                role=Role.agent,
                name="victim",
                password=None,
            )
            api.victim_token, _ = await accounts.create_token(uow, ws, api.victim_user, name="victim")
        app = create_app(platform=platform)

        def client(role: Role) -> httpx.AsyncClient:
            return httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://testserver/api/v1",
                headers={"Authorization": f"Bearer {api.tokens[role]}"},
            )

        def ok(response: httpx.Response) -> dict[str, Any]:
            assert response.status_code < 300, response.text
            return response.json()  # type: ignore[no-any-return]

        async with client(Role.admin) as c:
            org = ok(await c.post("/organizations", json={"name": "Acme", "domains": ["acme.test"]}))
            ann = ok(
                await c.post(
                    "/contacts",
                    json={
                        "email": "ann@acme.test",
                        "name": "Ann",
                        "identities": [{"kind": "phone", "value": "+1 555 0100"}],
                    },
                )
            )
            dup = ok(await c.post("/contacts", json={"email": "ann.other@acme.test", "name": "Ann again"}))
            api.victim_contact = ok(
                await c.post("/contacts", json={"email": "vic@acme.test", "name": "Vic"})
            )["id"]
            fld = ok(
                await c.post(
                    "/custom-fields",
                    json={
                        "key": "plan",
                        "label": "Plan",
                        "type": "dropdown",
                        "options": ["free", "pro"],
                        "customer_visible": True,
                    },
                )
            )
            up = ok(await c.post("/uploads", files={"file": ("a.txt", b"hello", "text/plain")}))
            t1 = ok(
                await c.post(
                    "/tickets",
                    json={
                        "subject": "Printer on fire",
                        "body": "help",
                        "requester_id": ann["id"],
                        "tags": ["fire", "vip"],
                        "group_id": gid,
                        "custom_fields": {"plan": "pro"},
                        "attachments": [up["token"]],
                    },
                )
            )
            t2 = ok(
                await c.post(
                    "/tickets",
                    json={
                        "subject": "Second",
                        "body": "again",
                        "requester": {"email": "bob@acme.test"},
                        "group_id": gid,
                    },
                )
            )
            ok(await c.post(f"/tickets/{t1['id']}/messages", json={"body": "internal", "public": False}))
            ok(await c.post(f"/tickets/{t1['id']}/links", json={"target_id": t2["id"], "kind": "related"}))
            messages = (ok(await c.get(f"/tickets/{t1['id']}/messages")))["items"]
        async with client(Role.customer) as c:
            up = ok(await c.post("/uploads", files={"file": ("b.txt", b"mine", "text/plain")}))
            t3 = ok(
                await c.post(
                    "/tickets", json={"subject": "My own", "body": "please", "attachments": [up["token"]]}
                )
            )
            mine = (ok(await c.get(f"/tickets/{t3['id']}/messages")))["items"]
            me = ok(await c.get("/me"))
        ticket_ids = [t1["id"], t2["id"], t3["id"]]
        KNOWN.clear()
        KNOWN.update(
            {
                "ticket_id": ticket_ids,
                "target_id": ticket_ids,
                "contact_id": [ann["id"], dup["id"], me["contact_id"]],
                "identity_id": [i["id"] for i in ann["identities"]],
                "org_id": [org["id"]],
                "group_id": [gid],
                "field_id": [fld["id"]],
                "name": ["fire", "vip"],
                "user_id": sorted(users.values()),
                "token_id": [api.victim_token],
                "attachment_id": [a["id"] for m in messages + mine for a in m["attachments"]],
            }
        )
    finally:
        await platform.close()
    return api


@pytest.fixture(scope="module")
def api(database_url: str, tmp_root: Path) -> Iterator[Api]:
    settings = Settings(
        database_url=database_url,
        var_dir=tmp_root / "var",
        mail_transport="console",
        secret_key="test-secret-key-not-for-production",
        run_jobs_in_process=False,
    )
    seeded = asyncio.run(_seed(settings))
    # This app builds its own platform in its lifespan, which schemathesis starts on its event-loop thread,
    # where it then serves every request of the run (database connections belong to one loop). The
    # lifespan is stopped, and the platform closed, when the module is done.
    seeded.app = create_app(settings)
    yield seeded
    st_asgi.shutdown_lifespans()  # (every ASGI app schemathesis started; this module starts only this one)
    KNOWN.clear()


def _spare_the_personas(case: schemathesis.Case, api: Api) -> None:
    """A fuzzed id that hits a persona's own token or user would revoke, deactivate or demote it (or erase
    its contact), and every later request would only test the 401 path; such a case is pointed at a
    victim made for the purpose."""
    params = case.path_parameters or {}
    if params.get("token_id") in api.protected_tokens:
        params["token_id"] = api.victim_token
    if params.get("user_id") in api.protected_users and case.method.upper() != "GET":
        params["user_id"] = api.victim_user
    # Erasing the customer persona's contact would end its sign-in (and every seeded contact's data).
    if case.path.endswith("/erase") and "contact_id" in params:
        params["contact_id"] = api.victim_contact


def _errors_are_problem_json(response: Any) -> None:
    if response.status_code < 400:
        return
    ctype = response.headers.get("content-type", [""])
    ctype = ctype[0] if isinstance(ctype, list) else ctype
    assert ctype.startswith("application/problem+json"), (response.status_code, ctype, response.text[:500])
    body = response.json()
    assert body["status"] == response.status_code and body["title"] and isinstance(body["detail"], str), body


@pytest.mark.parametrize("role", ROLES, ids=[r.value for r in ROLES])
@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    # The same examples on every run unless HELPLINE_FUZZ_RANDOM is set: the suite's verdict must not
    # depend on luck; hunting for new failures with fresh random input is a separate, longer run.
    derandomize=not os.environ.get("HELPLINE_FUZZ_RANDOM"),
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.reuse, Phase.generate, Phase.shrink],
)
def test_no_server_error_and_no_schema_break(case: schemathesis.Case, role: Role, api: Api) -> None:
    _spare_the_personas(case, api)
    response = case.call_and_validate(
        app=api.app,
        headers={"Authorization": f"Bearer {api.tokens[role]}"},
        checks=[not_a_server_error, response_schema_conformance],
    )
    _errors_are_problem_json(response)
