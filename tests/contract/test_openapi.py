"""The OpenAPI document: it is 3.1, names every resource, and the API behaves as it says.

The fuzzing half runs schemathesis over every operation, as each role, against the in-process app and
the real database (SQLite and PostgreSQL): no answer may be a 5xx, and no answer may break the schema.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi as st_asgi
from schemathesis.specs.openapi.checks import response_schema_conformance

from helpline.app import create_app
from helpline.domains.accounts import service as accounts
from helpline.domains.accounts.models import Role
from helpline.platform.runtime import build_platform
from helpline.settings import Settings

ROLES = [Role.admin, Role.agent, Role.light_agent, Role.customer]

# The document, built without a database (generating it touches none), so schemathesis can collect one
# test per operation at import time. test_openapi_document_is_3_1 checks the served one is the same.
_DOC = create_app(Settings(database_url="sqlite+aiosqlite://", secret_key="x")).openapi()
schema = schemathesis.openapi.from_dict(_DOC)


async def test_openapi_document_is_3_1_and_names_every_resource(app: Any) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        r = await c.get("/api/v1/openapi.json")
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["openapi"].startswith("3.1")
    assert doc == _DOC
    paths = doc["paths"]
    for resource in ("tickets", "messages", "contacts", "organizations", "users", "groups", "tags",
                     "custom-fields", "uploads", "attachments", "tokens"):
        assert any(resource in p.split("/") for p in paths), f"no path documents {resource}"
    assert "/api/v1/tickets/{ticket_id}/messages" in paths
    for path, ops in paths.items():
        for method, op in ops.items():
            assert op.get("summary"), f"{method.upper()} {path} has no summary"
            assert any(code.startswith("2") for code in op["responses"]), f"{method.upper()} {path}: no 2xx"
    assert doc["components"]["securitySchemes"]


# --- fuzzing -------------------------------------------------------------------------------------------


@dataclass
class Api:
    app: Any
    tokens: dict[Role, str]
    protected_users: set[int] = field(default_factory=set)
    protected_tokens: set[int] = field(default_factory=set)
    victim_user: int = 0
    victim_token: int = 0


async def _seed(settings: Settings) -> Api:
    """A workspace with one person of each role and a little of everything, made through the API."""
    platform = build_platform(settings)
    try:
        async with platform.db.transaction() as uow:
            ws = await accounts.create_workspace(uow, "Fuzz", f"fuzz-{uuid.uuid4().hex[:12]}")
            tokens: dict[Role, str] = {}
            api = Api(app=None, tokens=tokens)
            gid = await accounts.create_group(uow, ws, "Support")
            for role in ROLES:
                email = f"{role.value}-{uuid.uuid4().hex[:8]}@example.test"
                uid = await accounts.create_user(uow, ws, email=email, role=role, name=role.value, password=None,
                                                 group_names=["Support"] if role is not Role.customer else [])
                tid, tokens[role] = await accounts.create_token(uow, ws, uid, name="fuzz")
                api.protected_users.add(uid)
                api.protected_tokens.add(tid)
            api.victim_user = await accounts.create_user(uow, ws, email=f"victim-{uuid.uuid4().hex[:8]}@example.test",
                                                         role=Role.agent, name="victim", password=None)
            api.victim_token, _ = await accounts.create_token(uow, ws, api.victim_user, name="victim")
        app = create_app(platform=platform)
        headers = {"Authorization": f"Bearer {tokens[Role.admin]}"}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t/api/v1",
                                     headers=headers) as c:
            org = (await c.post("/organizations", json={"name": "Acme", "domains": ["acme.test"]})).json()
            contact = (await c.post("/contacts", json={"email": "ann@acme.test", "name": "Ann"})).json()
            await c.post("/custom-fields", json={"key": "plan", "label": "Plan", "type": "dropdown",
                                                  "options": ["free", "pro"], "customer_visible": True})
            up = (await c.post("/uploads", files={"file": ("a.txt", b"hello", "text/plain")})).json()
            t1 = (await c.post("/tickets", json={"subject": "Printer on fire", "body": "help",
                                                 "requester_id": contact["id"], "tags": ["fire"],
                                                 "group_id": gid, "attachments": [up["token"]]})).json()
            t2 = (await c.post("/tickets", json={"subject": "Second", "body": "again",
                                                 "requester": {"email": "bob@acme.test"}})).json()
            await c.post(f"/tickets/{t1['id']}/messages", json={"body": "internal", "public": False})
            await c.post(f"/tickets/{t1['id']}/links", json={"target_id": t2["id"], "kind": "related"})
            _ = org
    finally:
        await platform.close()
    return api


@pytest.fixture(scope="module")
def api(database_url: str, tmp_root: Path) -> Iterator[Api]:
    settings = Settings(database_url=database_url, var_dir=tmp_root / "var", secret_key="test-secret-key-not-for-production",
                        mail_transport="console", run_jobs_in_process=False)
    seeded = asyncio.run(_seed(settings))
    # The app builds its own platform in its lifespan, on schemathesis's event-loop thread, where every
    # request of the run is served; the lifespan is stopped (and the platform closed) at the end.
    seeded.app = create_app(settings)
    yield seeded
    st_asgi.shutdown_lifespans()


def _spare_the_fixtures(case: schemathesis.Case, api: Api) -> None:
    """Fuzzed ids that hit the personas' own users and tokens would revoke or demote them midway, and every
    later request would only test the 401 path; point those at a victim made for the purpose instead."""
    params = case.path_parameters or {}
    if "token_id" in params and params["token_id"] in api.protected_tokens:
        params["token_id"] = api.victim_token
    if "user_id" in params and params["user_id"] in api.protected_users and case.method != "GET":
        params["user_id"] = api.victim_user


@pytest.mark.parametrize("role", ROLES, ids=[r.value for r in ROLES])
@schema.parametrize()
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck),
          phases=[Phase.explicit, Phase.generate])
def test_no_server_error_and_no_schema_break(case: schemathesis.Case, role: Role, api: Api) -> None:
    _spare_the_fixtures(case, api)
    t0 = time.perf_counter()
    import sys
    r = case.call_and_validate(app=api.app, headers={"Authorization": f"Bearer {api.tokens[role]}"},
                           checks=[not_a_server_error, response_schema_conformance])
    print("CALL", case.meta.phase.name if case.meta else None, r.status_code, round((time.perf_counter()-t0)*1000), file=sys.stderr)


_ = time
