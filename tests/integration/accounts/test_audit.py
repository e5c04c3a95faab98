"""The audit log: security-relevant actions are recorded with who, from where and when; admins search
and export their own workspace's entries only; no one (not even the application) rewrites them."""

from __future__ import annotations

import ast
import csv
import io
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa

from helpline.domains.accounts import audit
from tests.conftest import problem

PASSWORD = "correct horse battery"
SRC = Path(__file__).parents[3] / "src" / "helpline"


async def test_sign_ins_tokens_and_member_changes_are_recorded_per_workspace(ws: Any, make_ws: Any) -> None:
    admin = await ws.person("admin", password=PASSWORD)
    agent = await ws.person("agent", password=PASSWORD)
    other = await make_ws("Other Co")
    stranger = await other.person("admin")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=ws.app), base_url="http://testserver"
    ) as c:
        assert (
            await c.post("/api/v1/session", json={"email": agent.email, "password": PASSWORD})
        ).status_code == 200
        problem(await c.post("/api/v1/session", json={"email": agent.email, "password": "wrong one!"}), 401)
    async with ws.client(admin) as api:
        await api.patch(f"/users/{agent.user_id}", json={"role": "light-agent"})
        made = (await api.post("/tokens", json={"name": "sync", "password": PASSWORD})).json()
        await api.delete(f"/tokens/{made['id']}")
        page = (await api.get("/audit-log")).json()
        actions = [e["action"] for e in page["items"]]
        assert actions[:5] == [
            "token.revoked",
            "token.created",
            "member.updated",
            "signin.failed",
            "signin.succeeded",
        ]
        failed = page["items"][3]
        assert failed["actor_email"] == agent.email and failed["ip"] == "127.0.0.1"
        assert page["items"][2]["detail"]["role"] == {"from": "agent", "to": "light-agent"}
        only = (await api.get("/audit-log", params={"action": "signin"})).json()["items"]
        assert {e["action"] for e in only} == {"signin.failed", "signin.succeeded"}
        mine = (await api.get("/audit-log", params={"actor_email": admin.email.split("@")[0]})).json()[
            "items"
        ]
        assert mine and all(e["actor_email"] == admin.email for e in mine)
        problem(await api.get("/audit-log", params={"scope": "instance"}), 403)
    async with other.client(stranger) as theirs:
        assert (await theirs.get("/audit-log")).json()["items"] == []
    async with ws.client(agent) as api:
        problem(await api.get("/audit-log"), 403)  # only admins read the log
    light = await ws.person("light-agent")
    async with ws.client(light) as api:
        problem(await api.get("/audit-log"), 403)
        problem(await api.get("/audit-log/export"), 403)


async def test_export_is_complete_recorded_and_safe_in_a_spreadsheet(ws: Any) -> None:
    admin = await ws.person("admin", password=PASSWORD)
    evil = await ws.person("agent", email="=cmd@example.test")
    async with ws.client(admin) as api:
        await api.patch(f"/users/{evil.user_id}", json={"role": "light-agent"})
        r = await api.get("/audit-log/export", params={"format": "csv"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(r.text)))
        assert rows[0][:3] == ["id", "at", "action"]
        assert any(row[2] == "member.updated" for row in rows[1:])
        assert not any(cell.startswith("=") for row in rows for cell in row)
        lines = (await api.get("/audit-log/export", params={"format": "jsonl"})).text.splitlines()
        assert any(orjson.loads(line)["action"] == "member.updated" for line in lines)
        assert (await api.get("/audit-log")).json()["items"][0]["action"] == "audit.exported"


async def test_the_log_is_append_only_in_the_database(ws: Any) -> None:
    admin = await ws.person("admin")
    async with ws.client(admin) as api:
        await api.post("/groups", json={"name": "Billing"})
    for statement in ("UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log"):
        with pytest.raises(Exception, match="append-only"):
            async with ws.platform.db.transaction() as uow:
                await uow.execute(sa.text(statement))
    async with ws.client(admin) as api:
        assert (await api.get("/audit-log")).json()["items"][0]["action"] == "group.created"


async def test_the_admin_page_shows_and_filters_entries(ws: Any) -> None:
    admin = await ws.person("admin", password=PASSWORD)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=ws.app), base_url="http://testserver"
    ) as c:
        await c.post("/api/v1/session", json={"email": admin.email, "password": PASSWORD})
        page = await c.get("/admin/audit")
        assert page.status_code == 200 and f"<td>{admin.email}</td>" in page.text
        filtered = (await c.get("/admin/audit", params={"action": "token"})).text
        assert f"<td>{admin.email}</td>" not in filtered and "that matches these filters" in filtered
        bad = await c.get("/admin/audit", params={"since": "yesterday", "action": "<script>"})
        assert bad.status_code == 422 and "Use a date like" in bad.text and "<script>" not in bad.text
        export = await c.get("/admin/audit/export", params={"format": "csv"})
        assert export.status_code == 200 and "signin.succeeded" in export.text


def test_every_recorded_action_is_listed() -> None:
    """``audit.record`` refuses names it does not know at run time; this finds them before that."""
    used: set[str] = set()
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "attr", getattr(node.func, "id", "")) == "record"
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
            ):
                used.add(str(node.args[1].value))
    assert used, "no audit.record calls found"
    assert used <= set(audit.ACTIONS), sorted(used - set(audit.ACTIONS))


async def test_mailbox_changes_are_recorded_without_their_secrets(ws: Any) -> None:
    admin = await ws.person("admin")
    async with ws.client(admin) as api:
        made = await api.post(
            "/mailboxes",
            json={"name": "Support", "address": "help@example.test", "imap_secret": "s3cret-imap-pass"},
        )
        assert made.status_code == 201, made.text
        box = made.json()["id"]
        assert (await api.patch(f"/mailboxes/{box}", json={"name": "Help desk"})).status_code == 200
        assert (await api.delete(f"/mailboxes/{box}")).status_code == 204
        entries = (await api.get("/audit-log", params={"action": "mailbox"})).json()["items"]
    assert [e["detail"]["change"] for e in entries] == ["deleted", "updated", "created"]
    assert "s3cret-imap-pass" not in orjson.dumps(entries).decode()
    assert "imap_secret" in entries[2]["detail"]["fields"]
