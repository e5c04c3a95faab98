"""Bad input gets a 4xx problem+json that names the field at fault, never a 500 and never a traceback."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any, get_args

import httpx
import pytest
from pydantic import BaseModel

from helpline.app import create_app
from helpline.domains.accounts.models import Role
from helpline.types import Strict
from tests.conftest import problem
from tests.security._tenancy import routes

BIG = 2**64  # past int64: a driver would refuse it
MIB = 1024 * 1024


def fields(body: dict[str, Any]) -> list[str]:
    return [e["field"] for e in body.get("errors", [])]


def no_leak(body: dict[str, Any]) -> None:
    text = str(body)
    assert "Traceback" not in text and "sqlalchemy" not in text.lower() and 'File "' not in text


async def _ticket(c: httpx.AsyncClient) -> dict[str, Any]:
    r = await c.post(
        "/tickets", json={"subject": "Printer", "body": "on fire", "requester": {"email": "a@b.test"}}
    )
    assert r.status_code == 201, r.text
    return r.json()


# --- malformed and mistyped bodies ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b'{"subject": "x", "body": ',
        b"{'subject': 'x'}",
        b'{"subject": "x",}',
        b"\xff\xfe{}",
        b"nan",
        b'{"subject": "x" "body": "y"}',
    ],
)
async def test_malformed_json_is_400_naming_the_body(ws, raw):
    agent = await ws.person(Role.agent, password=None)
    async with ws.client(agent) as c:
        r = await c.post("/tickets", content=raw, headers={"Content-Type": "application/json"})
    body = problem(r, 400)
    assert fields(body) == ["body"] and "JSON" in body["detail"]
    no_leak(body)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"subject": 123, "body": "b"}, "subject"),
        ({"subject": "s", "body": ["b"]}, "body"),
        ({"subject": "s", "body": "b", "priority": 3}, "priority"),
        ({"subject": "s", "body": "b", "public": "perhaps"}, "public"),
        ({"subject": "s", "body": "b", "tags": "one,two"}, "tags"),
        ({"subject": "s", "body": "b", "tags": ["ok", 5]}, "tags.1"),
        ({"subject": "s", "body": "b", "assignee_id": "me"}, "assignee_id"),
        ({"subject": "s", "body": "b", "due_at": "next tuesday"}, "due_at"),
        ({"subject": "s", "body": "b", "requester": {"email": 42}}, "requester.email"),
        ({"subject": "s", "body": "b", "requester": "a@b.test"}, "requester"),
        ({"subject": "s", "body": "b", "custom_fields": []}, "custom_fields"),
    ],
)
async def test_wrong_types_are_422_naming_the_field(ws, payload, field):
    agent = await ws.person(Role.agent, password=None)
    async with ws.client(agent) as c:
        r = await c.post("/tickets", json=payload)
    body = problem(r, 422)
    assert field in fields(body), body
    assert field in body["detail"]
    no_leak(body)


async def test_wrong_types_on_other_resources_name_the_field(ws):
    admin = await ws.person(Role.admin, password=None)
    async with ws.client(admin) as c:
        cases = [
            ("/contacts", {"name": "Ann", "tags": {"a": 1}}, "tags"),
            ("/contacts", {"name": "Ann", "attributes": []}, "attributes"),
            ("/organizations", {"name": "Acme", "shared_tickets": "yes please"}, "shared_tickets"),
            ("/organizations", {"name": ["Acme"]}, "name"),
            ("/groups", {"name": "Tier 2", "member_ids": ["x"]}, "member_ids.0"),
            ("/users", {"email": "new@x.test", "role": "agent", "group_ids": "1"}, "group_ids"),
            (
                "/custom-fields",
                {"key": "plan", "label": "Plan", "type": "text", "position": "first"},
                "position",
            ),
            ("/tokens", {"name": "ci", "expires_at": "soon"}, "expires_at"),
        ]
        for path, payload, field in cases:
            body = problem(await c.post(path, json=payload), 422)
            assert field in fields(body), (path, body)


@pytest.mark.parametrize("payload", [[], ["subject"], "subject", 17, None, True])
async def test_a_body_that_is_not_an_object_is_422(ws, payload):
    agent = await ws.person(Role.agent, password=None)
    async with ws.client(agent) as c:
        r = await c.post("/tickets", json=payload)
    body = problem(r, 422)
    assert fields(body)


async def test_unknown_fields_are_refused_by_name(ws):
    agent = await ws.person(Role.agent, password=None)
    async with ws.client(agent) as c:
        r = await c.post("/tickets", json={"subject": "s", "body": "b", "colour": "red"})
        body = problem(r, 422)
        assert {"field": "colour", "message": "unknown field"} in body["errors"]
        r = await c.post(
            "/tickets", json={"subject": "s", "body": "b", "requester": {"email": "a@b.test", "age": 3}}
        )
        assert {"field": "requester.age", "message": "unknown field"} in problem(r, 422)["errors"]
        t = await _ticket(c)
        r = await c.patch(f"/tickets/{t['id']}", json={"statuss": "open"})
        assert {"field": "statuss", "message": "unknown field"} in problem(r, 422)["errors"]
        r = await c.post(f"/tickets/{t['id']}/messages", json={"body": "hi", "internal": True})
        assert {"field": "internal", "message": "unknown field"} in problem(r, 422)["errors"]
        r = await c.patch(f"/contacts/{t['requester_id']}", json={"email": "new@b.test"})
        assert {"field": "email", "message": "unknown field"} in problem(r, 422)["errors"]
        # Nothing was changed by the refused requests.
        assert (await c.get(f"/tickets/{t['id']}")).json()["status"] == "new"


# --- sizes ------------------------------------------------------------------------------------------------


async def test_json_body_over_one_mib_is_413(ws):
    agent = await ws.person(Role.agent, password=None)
    assert ws.platform.settings.max_json_bytes == MIB
    async with ws.client(agent) as c:
        r = await c.post("/tickets", json={"subject": "big", "body": "x" * MIB})
        body = problem(r, 413)
        assert fields(body) == ["body"]
        # just under the limit is read (and then judged by the schema: the body is over 200 000 characters)
        r = await c.post("/tickets", json={"subject": "big", "body": "x" * (MIB - 100)})
        assert problem(r, 422)["errors"][0]["field"] == "body"


async def test_chunked_json_body_over_the_limit_without_content_length_is_413(ws):
    agent = await ws.person(Role.agent, password=None)

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"subject": "big", "body": "'
        for _ in range(20):
            yield b"x" * (64 * 1024)
        yield b'"}'

    async with ws.client(agent) as c:
        request = c.build_request(
            "POST", "/tickets", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert "content-length" not in request.headers
        r = await c.send(request)
    body = problem(r, 413)
    assert fields(body) == ["body"]


async def test_a_lying_small_content_length_does_not_let_a_big_body_through(ws):
    """The counting limit holds whatever the header claims."""
    agent = await ws.person(Role.agent, password=None)

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"subject": "big", "body": "' + b"x" * (2 * MIB) + b'"}'

    async with ws.client(agent) as c:
        request = c.build_request(
            "POST",
            "/tickets",
            content=chunks(),
            headers={"Content-Type": "application/json", "Content-Length": "100"},
        )
        r = await c.send(request)
    problem(r, 413)


# --- unknown ids, overflowing ids, bad enums, bad query parameters ---------------------------------------


async def test_unknown_ids_are_404(ws):
    admin = await ws.person(Role.admin, password=None)
    missing = 987_654_321
    async with ws.client(admin) as c:
        for method, path, payload in [
            ("GET", f"/tickets/{missing}", None),
            ("PATCH", f"/tickets/{missing}", {"status": "open"}),
            ("GET", f"/tickets/{missing}/messages", None),
            ("POST", f"/tickets/{missing}/messages", {"body": "hi"}),
            ("GET", f"/tickets/{missing}/events", None),
            ("GET", f"/contacts/{missing}", None),
            ("PATCH", f"/contacts/{missing}", {"name": "x"}),
            ("GET", f"/organizations/{missing}", None),
            ("GET", f"/users/{missing}", None),
            ("PATCH", f"/users/{missing}", {"name": "x"}),
            ("GET", f"/groups/{missing}", None),
            ("PATCH", f"/groups/{missing}", {"name": "x"}),
            ("DELETE", f"/groups/{missing}", None),
            ("PATCH", f"/custom-fields/{missing}", {"label": "x"}),
            ("DELETE", f"/custom-fields/{missing}", None),
            ("GET", f"/attachments/{missing}", None),
            ("DELETE", f"/tokens/{missing}", None),
        ]:
            r = await c.request(method, path, json=payload)
            body = problem(r, 404)
            no_leak(body)
        t = await _ticket(c)
        r = await c.post(f"/tickets/{t['id']}/merge", json={"target_id": missing})
        problem(r, 404)
        r = await c.post(f"/tickets/{t['id']}/links", json={"target_id": missing, "kind": "related"})
        problem(r, 404)


@pytest.mark.parametrize("n", [str(BIG), str(2**63), "-1", "0", "1e3", "1.0", "abc", "%20", "\uff11\uff12"])
async def test_path_ids_out_of_range_or_not_numbers_are_404_or_422(ws, n):
    admin = await ws.person(Role.admin, password=None)
    async with ws.client(admin) as c:
        for method, path in [
            ("GET", "/tickets/{n}"),
            ("PATCH", "/tickets/{n}"),
            ("GET", "/tickets/{n}/messages"),
            ("POST", "/tickets/{n}/messages"),
            ("GET", "/tickets/{n}/events"),
            ("POST", "/tickets/{n}/merge"),
            ("DELETE", "/tickets/1/links/{n}"),
            ("GET", "/contacts/{n}"),
            ("PATCH", "/contacts/{n}"),
            ("DELETE", "/contacts/1/identities/{n}"),
            ("GET", "/organizations/{n}"),
            ("GET", "/organizations/{n}/contacts"),
            ("GET", "/users/{n}"),
            ("PATCH", "/users/{n}"),
            ("GET", "/groups/{n}"),
            ("DELETE", "/groups/{n}"),
            ("PATCH", "/custom-fields/{n}"),
            ("DELETE", "/custom-fields/{n}"),
            ("GET", "/attachments/{n}"),
            ("DELETE", "/tokens/{n}"),
        ]:
            payload = {"name": "x"} if method in ("PATCH", "POST") else None
            r = await c.request(method, path.format(n=n), json=payload)
            assert r.status_code in (404, 422), (method, path, n, r.status_code, r.text)
            body = problem(r, r.status_code)
            no_leak(body)


@pytest.mark.parametrize(
    ("method", "path", "payload", "field"),
    [
        ("PATCH", "/tickets/{t}", {"assignee_id": BIG}, "assignee_id"),
        ("PATCH", "/tickets/{t}", {"group_id": BIG}, "group_id"),
        ("PATCH", "/tickets/{t}", {"requester_id": BIG}, "requester_id"),
        ("PATCH", "/tickets/{t}", {"follower_ids": [BIG]}, "follower_ids.0"),
        ("POST", "/tickets/{t}/merge", {"target_id": BIG}, "target_id"),
        ("POST", "/tickets/{t}/links", {"target_id": BIG, "kind": "related"}, "target_id"),
        ("POST", "/tickets/{t}/split", {"message_id": BIG}, "message_id"),
        ("POST", "/tickets/bulk-update", {"ids": [BIG], "changes": {"status": "open"}}, "ids.0"),
        ("POST", "/tickets", {"subject": "s", "body": "b", "requester_id": BIG}, "requester_id"),
        ("POST", "/contacts", {"name": "Ann", "organization_id": BIG}, "organization_id"),
        ("PATCH", "/contacts/{c}", {"organization_id": BIG}, "organization_id"),
        ("POST", "/contacts/{c}/merge", {"source_id": BIG}, "source_id"),
        ("POST", "/groups", {"name": "G", "member_ids": [BIG]}, "member_ids.0"),
        ("POST", "/users", {"email": "u@x.test", "role": "agent", "group_ids": [BIG]}, "group_ids.0"),
        ("POST", "/tokens", {"user_id": BIG}, "user_id"),
    ],
)
async def test_ids_in_bodies_that_overflow_int64_are_422_naming_the_field(ws, method, path, payload, field):
    admin = await ws.person(Role.admin, password=None)
    async with ws.client(admin) as c:
        t = await _ticket(c)
        r = await c.request(method, path.format(t=t["id"], c=t["requester_id"]), json=payload)
    body = problem(r, 422)
    no_leak(body)
    assert field in fields(body), body


@pytest.mark.parametrize("param", ["assignee_id", "group_id", "requester_id", "organization_id"])
async def test_query_ids_that_overflow_int64_are_422_naming_the_parameter(ws, param):
    agent = await ws.person(Role.agent, password=None)
    async with ws.client(agent) as c:
        r = await c.get("/tickets", params={param: str(BIG)})
    body = problem(r, 422)
    assert any(f == param or f.startswith(f"{param}.") for f in fields(body)), body


async def test_contacts_organization_filter_that_overflows_is_422(ws):
    agent = await ws.person(Role.agent, password=None)
    async with ws.client(agent) as c:
        body = problem(await c.get("/contacts", params={"organization_id": str(BIG)}), 422)
    assert fields(body) == ["organization_id"]


async def test_bad_enum_values_in_bodies_are_422_naming_the_field(ws):
    agent = await ws.person(Role.agent, password=None)
    async with ws.client(agent) as c:
        body = problem(await c.post("/tickets", json={"subject": "s", "body": "b", "priority": "bogus"}), 422)
        assert fields(body) == ["priority"]
        body = problem(await c.post("/tickets", json={"subject": "s", "body": "b", "channel": "pigeon"}), 422)
        assert fields(body) == ["channel"]
        t = await _ticket(c)
        body = problem(await c.patch(f"/tickets/{t['id']}", json={"status": "bogus"}), 422)
        assert fields(body) == ["status"]
        body = problem(await c.patch(f"/tickets/{t['id']}", json={"priority": "BOGUS", "type": "bogus"}), 422)
        assert set(fields(body)) == {"priority", "type"}
        body = problem(await c.patch(f"/tickets/{t['id']}", json={"status": "Open"}), 422)  # case matters
        assert fields(body) == ["status"]
        body = problem(
            await c.post(f"/tickets/{t['id']}/links", json={"target_id": t["id"], "kind": "cousin"}), 422
        )
        assert fields(body) == ["kind"]
        body = problem(
            await c.post("/tickets/bulk-update", json={"ids": [t["id"]], "changes": {"status": "bogus"}}), 422
        )
        assert fields(body) == ["changes.status"]
        assert (await c.get(f"/tickets/{t['id']}")).json()["status"] == "new"
    admin = await ws.person(Role.admin, password=None)
    async with ws.client(admin) as c:
        body = problem(await c.post("/users", json={"email": "x@y.test", "role": "overlord"}), 422)
        assert fields(body) == ["role"]
        body = problem(await c.post("/custom-fields", json={"key": "k", "label": "K", "type": "colour"}), 422)
        assert fields(body) == ["type"]
        body = problem(
            await c.post("/contacts", json={"identities": [{"kind": "fax", "value": "123456"}]}), 422
        )
        assert fields(body) == ["identities.0.kind"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "bogus"}, "status"),
        ({"priority": "bogus"}, "priority"),
        ({"type": "bogus"}, "type"),
        ({"channel": "bogus"}, "channel"),
        ({"status": ["open", "bogus"]}, "status"),
        ({"limit": "-1"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": str(BIG)}, "limit"),
        ({"unassigned": "perhaps"}, "unassigned"),
        ({"assignee_id": "me"}, "assignee_id"),
        ({"created_after": "yesterday"}, "created_after"),
        ({"created_after": "2026-01-31T09:00:00"}, "created_after"),  # no time zone
        ({"sort": "password"}, "sort"),
        ({"q": "x" * 501}, "q"),
    ],
)
async def test_bad_query_parameters_are_422_naming_the_parameter(ws, params, field):
    agent = await ws.person(Role.agent, password=None)
    async with ws.client(agent) as c:
        r = await c.get("/tickets", params=params)
    body = problem(r, 422)
    assert any(f == field or f.startswith(f"{field}.") for f in fields(body)), body
    no_leak(body)


@pytest.mark.parametrize("limit", ["-1", "0", "100000", str(BIG), "x", ""])
async def test_negative_or_silly_limits_are_422_everywhere(ws, limit):
    admin = await ws.person(Role.admin, password=None)
    async with ws.client(admin) as c:
        t = await _ticket(c)
        org = (await c.post("/organizations", json={"name": "Acme"})).json()
        for path in [
            "/tickets",
            "/contacts",
            "/organizations",
            "/users",
            "/tags",
            "/tickets/{t}/messages",
            "/tickets/{t}/events",
            "/organizations/{o}/contacts",
        ]:
            r = await c.get(path.format(t=t["id"], o=org["id"]), params={"limit": limit})
            body = problem(r, 422)
            assert fields(body) == ["limit"], (path, body)


@pytest.mark.parametrize("cursor", ["-1", "abc", "1" * 40, "1 OR 1=1", "%00"])
async def test_bad_cursors_are_4xx(ws, cursor):
    admin = await ws.person(Role.admin, password=None)
    async with ws.client(admin) as c:
        t = await _ticket(c)
        for path in [
            "/tickets",
            f"/tickets/{t['id']}/messages",
            f"/tickets/{t['id']}/events",
            "/contacts",
            "/organizations",
            "/users",
        ]:
            r = await c.get(path, params={"cursor": cursor})
            assert 400 <= r.status_code < 500, (path, cursor, r.status_code, r.text)
            problem(r, r.status_code)


# --- authentication headers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "",
        " ",
        "Bearer",
        "Bearer ",
        "Bearer  ",
        "bearer",
        "Basic dXNlcjpwYXNz",
        "Token abc",
        "Bearer hl_not-a-real-token",
        "Bearer " + "x" * 5000,
        "Bearer a b c",
    ],
)
async def test_empty_or_malformed_authorization_is_401(ws, value):
    await ws.person(Role.agent, password=None)
    async with ws.client() as c:
        r = await c.get("/tickets", headers={"Authorization": value})
        body = problem(r, 401)
        assert r.headers.get("WWW-Authenticate", "").startswith("Bearer")
        no_leak(body)
        r = await c.post("/tickets", json={"subject": "s", "body": "b"}, headers={"Authorization": value})
        problem(r, 401)


async def test_authorization_header_with_non_ascii_bytes_is_401(ws):
    await ws.person(Role.agent, password=None)
    async with ws.client() as c:
        r = await c.get("/tickets", headers=[(b"Authorization", b"Bearer \xff\xfe\xe9t\xe9")])
    problem(r, 401)


# --- content types and uploads ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "ctype", ["text/plain", "application/x-www-form-urlencoded", "application/xml", None]
)
async def test_a_json_endpoint_refuses_other_content_types(ws, ctype):
    agent = await ws.person(Role.agent, password=None)
    headers = {"Content-Type": ctype} if ctype else {}
    async with ws.client(agent) as c:
        r = await c.post(
            "/tickets",
            content=b'{"subject": "s", "body": "b", "requester": {"email": "a@b.test"}}',
            headers=headers,
        )
    assert r.status_code in (400, 415, 422), r.text
    body = problem(r, r.status_code)
    assert fields(body) == ["body"], body
    no_leak(body)


async def test_multipart_to_a_json_endpoint_is_4xx(ws):
    agent = await ws.person(Role.agent, password=None)
    async with ws.client(agent) as c:
        r = await c.post("/tickets", files={"file": ("a.txt", b"hello", "text/plain")})
    assert 400 <= r.status_code < 500, r.text
    problem(r, r.status_code)


async def test_upload_without_a_file_is_422_naming_file(ws):
    agent = await ws.person(Role.agent, password=None)
    async with ws.client(agent) as c:
        r = await c.post("/uploads", files={"other": ("a.txt", b"hello", "text/plain")})
        assert fields(problem(r, 422)) == ["file"]
        r = await c.post("/uploads", data={"file": "just a string, not a file"})
        assert fields(problem(r, 422)) == ["file"]
        r = await c.post("/uploads")
        assert fields(problem(r, 422)) == ["file"]
        r = await c.post("/uploads", json={"file": "aGVsbG8="})
        assert fields(problem(r, 422)) == ["file"]


async def test_empty_upload_is_422_naming_file(ws):
    agent = await ws.person(Role.agent, password=None)
    async with ws.client(agent) as c:
        r = await c.post("/uploads", files={"file": ("empty.txt", b"", "text/plain")})
    body = problem(r, 422)
    assert fields(body) == ["file"]


async def test_blocked_upload_type_is_422_naming_file(ws):
    agent = await ws.person(Role.agent, password=None)
    async with ws.client(agent) as c:
        r = await c.post("/uploads", files={"file": ("x.html", b"<script>alert(1)</script>", "text/html")})
    assert fields(problem(r, 422)) == ["file"]


async def test_malformed_multipart_is_4xx(ws):
    agent = await ws.person(Role.agent, password=None)
    async with ws.client(agent) as c:
        r = await c.post(
            "/uploads",
            content=b"--nope\r\ngarbage",
            headers={"Content-Type": "multipart/form-data; boundary=zzz"},
        )
        assert 400 <= r.status_code < 500, r.text
        problem(r, r.status_code)
        r = await c.post("/uploads", content=b"garbage", headers={"Content-Type": "multipart/form-data"})
        assert 400 <= r.status_code < 500, r.text
        problem(r, r.status_code)


async def test_upload_over_the_attachment_limit_is_413_naming_file(platform, ws):
    platform.settings.max_attachment_bytes = 1000
    app = create_app(platform=platform)
    agent = await ws.person(Role.agent, password=None)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver/api/v1",
        headers={"Authorization": f"Bearer {agent.token}"},
    ) as c:
        r = await c.post("/uploads", files={"file": ("big.bin", b"x" * 1001, "application/octet-stream")})
        body = problem(r, 413)
        assert fields(body) == ["file"]
        r = await c.post("/uploads", files={"file": ("ok.bin", b"x" * 1000, "application/octet-stream")})
        assert r.status_code == 201, r.text
        assert r.json()["size"] == 1000


async def test_request_over_the_request_limit_is_413(platform, ws):
    platform.settings.max_request_bytes = 10_000
    app = create_app(platform=platform)
    agent = await ws.person(Role.agent, password=None)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver/api/v1",
        headers={"Authorization": f"Bearer {agent.token}"},
    ) as c:
        r = await c.post("/uploads", files={"file": ("big.bin", b"x" * 20_000, "application/octet-stream")})
    body = problem(r, 413)
    assert fields(body) == ["body"]


# --- NUL and lone surrogates ----------------------------------------------------------------------


NUL = "a\x00b"
SURROGATE = "a\ud800b"


def _lenient(ws, who) -> httpx.AsyncClient:
    """A client that gets the 500 answer instead of the app's exception, to name the case that broke."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=ws.app, raise_app_exceptions=False),
        base_url="http://testserver/api/v1",
        headers={"Authorization": f"Bearer {who.token}"},
    )


@pytest.mark.parametrize(
    ("method", "path", "payload", "field"),
    [
        ("POST", "/tickets", {"subject": NUL, "body": "b", "requester": {"email": "a@b.test"}}, "subject"),
        ("POST", "/tickets", {"subject": "s", "body": NUL, "requester": {"email": "a@b.test"}}, "body"),
        (
            "POST",
            "/tickets",
            {"subject": "s", "body": "b", "tags": [NUL], "requester": {"email": "a@b.test"}},
            "tags.0",
        ),
        (
            "POST",
            "/tickets",
            {"subject": "s", "body": "b", "requester": {"email": "a@b.test", "name": NUL}},
            "requester.name",
        ),
        ("POST", "/tickets/{t}/messages", {"body": NUL}, "body"),
        ("PATCH", "/tickets/{t}", {"subject": NUL}, "subject"),
        ("POST", "/organizations", {"name": NUL}, "name"),
        ("POST", "/organizations", {"name": "O", "notes": NUL}, "notes"),
        ("POST", "/organizations", {"name": "O", "tags": [NUL]}, "tags.0"),
        ("POST", "/organizations", {"name": "O", "domains": [NUL + ".test"]}, "domains.0"),
        ("POST", "/organizations", {"name": "O", "attributes": {"k": NUL}}, "attributes.k"),
        ("POST", "/contacts", {"name": NUL}, "name"),
        ("POST", "/contacts", {"name": "C", "attributes": {NUL: 1}}, "attributes"),
        (
            "POST",
            "/contacts",
            {"name": "C", "identities": [{"kind": "twitter", "value": "@" + NUL}]},
            "identities.0.value",
        ),
        ("POST", "/groups", {"name": NUL}, "name"),
        ("POST", "/custom-fields", {"key": "k", "label": NUL, "type": "text"}, "label"),
        ("POST", "/tokens", {"name": NUL}, "name"),
        ("POST", "/chat/widgets", {"greeting": NUL}, "greeting"),
        ("POST", "/chat/widgets", {"texts": {"en": {"title": NUL}}}, "texts"),
        (
            "POST",
            "/chat/widgets",
            {"prechat_fields": [{"name": "n", "label": NUL, "type": "text"}]},
            "prechat_fields.0.label",
        ),
        ("POST", "/mailboxes", {"name": NUL, "address": "help@b.test"}, "name"),
        ("GET", "/contacts?q=a%00b", None, "q"),
        ("GET", "/organizations?q=a%00b", None, "q"),
        ("GET", "/tags?prefix=a%00b", None, "prefix"),
        ("GET", "/tickets?tag=a%00b", None, "tag"),
        ("GET", "/tickets?q=a%00b", None, "q"),
        (
            "POST",
            "/tickets",
            {"subject": SURROGATE, "body": "b", "requester": {"email": "a@b.test"}},
            "subject",
        ),
        ("POST", "/tickets", {"subject": "s", "body": SURROGATE, "requester": {"email": "a@b.test"}}, "body"),
        ("POST", "/contacts", {"name": SURROGATE}, "name"),
    ],
)
async def test_nul_and_lone_surrogates_are_refused_or_stored_never_500(ws, method, path, payload, field):
    """PostgreSQL stores no U+0000 in text or JSON, SQLite does; lone surrogates cannot be encoded as UTF-8.
    Whatever the database, the answer is a success or a 4xx naming the field, never a 500."""
    admin = await ws.person(Role.admin, password=None)
    async with ws.client(admin) as c:
        t = await _ticket(c)
    async with _lenient(ws, admin) as c:
        content = None if payload is None else json.dumps(payload).encode()
        r = await c.request(
            method, path.format(t=t["id"]), content=content, headers={"Content-Type": "application/json"}
        )
    assert r.status_code < 500, (method, path, payload, r.status_code, r.text)
    if r.status_code >= 400:
        body = problem(r, r.status_code)
        # The field itself, something inside it, or (for an item of a list or mapping) its container.
        assert any(
            f == field or f.startswith(f"{field}.") or field.startswith(f"{f}.") for f in fields(body)
        ), body


def _body_models(model: type[BaseModel]) -> Iterator[type[BaseModel]]:
    yield model
    for field in model.model_fields.values():
        for arg in _type_args(field.annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                yield from _body_models(arg)


def _type_args(annotation: Any) -> Iterator[Any]:
    yield annotation
    for arg in get_args(annotation):
        yield from _type_args(arg)


def _generated(model: type[BaseModel]) -> bool:
    """FastAPI's own wrapper of a route's form fields or several body parameters (``Body_<endpoint>``):
    not a model of ours, so not on ``Strict``; what it wraps is still checked."""
    return model.__name__.startswith("Body_") and model.__module__.startswith("fastapi")


def loose_bodies(app: Any) -> tuple[set[str], set[tuple[str, str]]]:
    """The request body models (and models inside them) of every route that are not ``Strict``, as
    ``"METHOD path: Model"``; and every (method, path) whose body was looked at. Routes are taken
    flattened (``_tenancy.routes``): ``app.routes`` holds FastAPI's included-router wrappers, not
    the routes themselves."""
    loose: set[str] = set()
    checked: set[tuple[str, str]] = set()
    for route in routes(app):
        if route.api is None or route.api.body_field is None:
            continue
        for method in route.methods:
            checked.add((method, route.path))
            for arg in _type_args(route.api.body_field.field_info.annotation):
                if isinstance(arg, type) and issubclass(arg, BaseModel):
                    loose |= {
                        f"{method} {route.path}: {m.__name__}"
                        for m in _body_models(arg)
                        if not issubclass(m, Strict) and not _generated(m)
                    }
    return loose, checked


def test_every_request_body_is_built_on_strict() -> None:
    """``Strict`` refuses unknown fields and U+0000 (which PostgreSQL cannot store): a body model on
    plain ``BaseModel`` lets both through, as the chat widget's once did (a 500 on PostgreSQL)."""
    loose, checked = loose_bodies(create_app())
    # the walk reaches the routes themselves (JSON bodies, forms, a body inside a form's wrapper)
    assert {
        ("POST", "/api/v1/tickets"),
        ("PATCH", "/api/v1/me/passkeys/{passkey_id}"),
        ("POST", "/login"),
    } <= checked
    assert not loose, sorted(loose)


async def test_the_same_group_twice_when_adding_a_person_is_one_membership(ws):
    """POST /users with a group id repeated inserted the membership twice (a primary key error: 500)."""
    admin = await ws.person(Role.admin, password=None)
    async with ws.client(admin) as c:
        group = (await c.post("/groups", json={"name": "Twice"})).json()["id"]
        r = await c.post(
            "/users",
            json={"email": "twice@b.test", "name": "T", "role": "agent", "group_ids": [group, group]},
        )
    assert r.status_code == 201, r.text
    assert r.json()["group_ids"] == [group]


async def test_huge_floats_in_attributes_come_back_as_numbers_on_every_database(ws):
    """PostgreSQL's jsonb prints 6.9e+270 as a 271-digit integer; the answer must still be JSON."""
    admin = await ws.person(Role.admin, password=None)
    async with ws.client(admin) as c:
        r = await c.post(
            "/organizations", json={"name": "Big numbers", "attributes": {"x": 6.9e270, "y": -5.6e16}}
        )
        assert r.status_code == 201, r.text
        got = (await c.get(f"/organizations/{r.json()['id']}")).json()["attributes"]
    assert got["x"] == pytest.approx(6.9e270) and got["y"] == pytest.approx(-5.6e16)
