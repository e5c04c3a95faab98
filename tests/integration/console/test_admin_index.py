"""The admin index's figures (people by role, groups, API tokens still valid) are counted by the
database (``accounts.queries.workspace_counts``), for this workspace only."""

from __future__ import annotations

from typing import Any

from helpline.domains.accounts import queries
from helpline.domains.accounts.models import Role


async def test_the_admin_index_counts_this_workspace_only(ws: Any, make_ws: Any, console: Any) -> None:
    me, admin = await console(Role.admin, groups=["Billing"])
    agent = await ws.person(Role.agent, groups=["Tier 2"])
    for role in (Role.agent, Role.light_agent, Role.customer):
        await ws.person(role)
    other = await make_ws("Other")
    await other.person(Role.admin, groups=["Elsewhere"])
    async with ws.client(me) as api:
        [theirs] = [t for t in (await api.get("/tokens")).json() if t["user_id"] == agent.user_id]
        assert (await api.delete(f"/tokens/{theirs['id']}")).status_code == 204

    async with ws.platform.db.read() as conn:
        counts = await queries.workspace_counts(conn, ws.id)
    by_role = {"admin": 1, "agent": 2, "light-agent": 1, "customer": 1}
    assert counts == {"by_role": by_role, "groups": 2, "tokens": 4}
    page = (await admin.get("/admin")).text
    assert "1 admin, 2 agents, 1 light agent, 1 customer sign-in." in page
    assert "2 groups." in page and "4 active tokens." in page
