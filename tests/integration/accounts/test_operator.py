"""The instance operator: workspaces from the command line and the API; nobody else may."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from helpline.domains.accounts import service as accounts
from tests.conftest import problem
from tests.integration.test_cli import PASSWORD, helpline, ok, one_line_error


def test_workspaces_from_the_command_line(tmp_path: Path) -> None:
    ok(helpline(tmp_path, "migrate"))
    made = ok(
        helpline(
            tmp_path,
            "workspaces",
            "create",
            "Acme Support",
            "--slug",
            "acme",
            "--admin-email",
            "boss@acme.test",
            "--admin-password",
            PASSWORD,
        )
    )
    assert "boss@acme.test is its admin" in made.stderr
    ok(helpline(tmp_path, "workspaces", "create", "Globex"))
    listed = ok(helpline(tmp_path, "workspaces", "list")).stdout.splitlines()
    assert any("\tacme\tactive\t1 staff\tAcme Support" in line for line in listed), listed
    assert any("\tglobex\tactive\t0 staff\tGlobex" in line for line in listed), listed
    one_line_error(helpline(tmp_path, "workspaces", "create", "Again", "--slug", "acme"), "acme", "exists")
    one_line_error(helpline(tmp_path, "workspaces", "create", "Bad", "--slug", "Not A Slug"), "slug")
    one_line_error(helpline(tmp_path, "workspaces", "disable", "nope"), "no workspace 'nope'")
    token = ok(
        helpline(tmp_path, "tokens", "create", "--email", "boss@acme.test", "--workspace", "acme")
    ).stdout.strip()
    ok(helpline(tmp_path, "workspaces", "disable", "acme"))
    assert "\tacme\tdisabled" in ok(helpline(tmp_path, "workspaces", "list")).stdout
    ok(helpline(tmp_path, "workspaces", "enable", "acme"))
    # The token made before still names a live membership once the workspace is back.
    assert token.startswith("hl_")
    one_line_error(helpline(tmp_path, "users", "disable", "ghost@acme.test"), "no account")
    ok(helpline(tmp_path, "users", "operator", "boss@acme.test"))


async def test_only_the_operator_manages_workspaces(ws: Any, make_ws: Any) -> None:
    admin = await ws.person("admin")
    async with ws.client(admin) as api:
        problem(await api.get("/workspaces"), 403)
        problem(await api.post("/workspaces", json={"name": "Mine"}), 403)
        problem(await api.patch(f"/workspaces/{ws.id}", json={"disabled": True}), 403)
    operator = await ws.person("admin")
    async with ws.platform.db.transaction() as uow:
        await accounts.set_operator(uow, operator.email, True)
    other = await make_ws("Tenant")
    tenant_admin = await other.person("admin")
    async with ws.client(operator) as api:
        created = await api.post(
            "/workspaces", json={"name": "New Co", "slug": "new-co-" + str(ws.id), "admin_email": admin.email}
        )
        assert created.status_code == 201, created.text
        assert created.json()["admin_invited"] is True  # an existing account is invited, not attached
        problem(await api.post("/workspaces", json={"name": "x", "slug": "BAD SLUG"}), 422)
        body = problem(await api.patch(f"/workspaces/{ws.id}", json={"disabled": True}), 422)
        assert body["errors"][0]["field"] == "disabled"
        assert (await api.patch(f"/workspaces/{other.id}", json={"disabled": True})).json()["disabled_at"]
    async with other.client(tenant_admin) as theirs:
        problem(await theirs.get("/me"), 401)
    async with ws.client(operator) as api:
        assert (await api.patch(f"/workspaces/{other.id}", json={"disabled": False})).status_code == 200
    async with other.client(tenant_admin) as theirs:
        assert (await theirs.get("/me")).status_code == 200


async def test_a_disabled_workspace_has_no_public_pages_or_chat_widget(ws: Any) -> None:
    from helpline.domains.channels.chat import queries as chat_queries
    from helpline.errors import NotFound

    admin = await ws.person("admin")
    async with ws.client(admin) as api:
        widget = (await api.post("/chat/widgets", json={"name": "Site"})).json()
    async with ws.platform.db.read() as conn:
        slug = (
            await conn.execute(sa.text("SELECT slug FROM workspaces WHERE id = :i"), {"i": ws.id})
        ).scalar()
        assert (await chat_queries.widget_by_key(conn, widget["key"], fresh=True))["id"] == widget["id"]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=ws.app), base_url="http://testserver"
    ) as c:
        assert (await c.get(f"/portal/{slug}/login")).status_code == 200
        async with ws.platform.db.transaction() as uow:
            await accounts.set_workspace_disabled(uow, None, ws.id, True)
        assert (await c.get(f"/help/{slug}/en")).status_code == 404
        assert (await c.get(f"/portal/{slug}/login")).status_code == 404
    async with ws.platform.db.read() as conn:
        with pytest.raises(NotFound):
            await chat_queries.widget_by_key(conn, widget["key"], fresh=True)
