"""The ordered, named rule lists a workspace's admins keep (time rules, triggers): reading them,
checking and saving one, deleting, and the order they run in. What a rule is (its conditions and
actions, and what else a kind requires) is the kind's own ``check``; what happens after a save (a
time rules' pass queued) its ``saved``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.db.base import utcnow
from helpline.domains.accounts.principal import Principal
from helpline.domains.accounts.queries import require_admin, require_staff
from helpline.domains.automation import actions as acts
from helpline.domains.automation.sla_policies import check_conditions, check_groups, check_users
from helpline.errors import Conflict, Invalid, NotFound
from helpline.platform.db import UnitOfWork

_NAME_TAKEN = [{"field": "name", "message": "taken"}]
Check = Callable[[UnitOfWork, Principal, Any, Any], Awaitable[tuple[dict[str, Any], list[dict[str, Any]]]]]


@dataclass
class RuleChanges:
    """What a create or an update sets (None: unchanged on update)."""

    name: str | None = None
    description: str | None = None
    active: bool | None = None
    conditions: Any = None
    actions: Any = None


async def check_parts(
    uow: UnitOfWork,
    actor: Principal,
    conditions: Any,
    actions: Any,
    *,
    timed: bool = False,
    trigger: bool = False,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Conditions and actions checked, each part named when wrong: the fields a kind of rule may
    name, and groups and people of the workspace."""
    conds = await check_conditions(uow.conn, actor.workspace_id, conditions, timed=timed, trigger=trigger)
    checked = acts.validate(actions)
    for i, a in enumerate(checked):
        if a["type"] == "set_group" and a["value"] is not None:
            await check_groups(uow, actor, [a["value"]], f"actions[{i}].value")
        if a["type"] == "set_assignee" and a["value"] is not None:
            await check_users(uow, actor, [a["value"]], f"actions[{i}].value")
    return conds, checked


def read(r: Any) -> dict[str, Any]:
    return {
        "id": r["id"],
        "name": r["name"],
        "description": r["description"],
        "position": r["position"],
        "active": r["active"],
        "conditions": r["conditions"] or {"all": [], "any": []},
        "actions": r["actions"] or [],
        "created_at": r["created_at"],
        "updated_at": r["updated_at"],
    }


@dataclass
class RuleBook:
    """One kind of rule: its table (id, workspace_id, name, description, position, active,
    conditions, actions, created_at, updated_at), its noun in messages, its check and what follows
    a save."""

    table: sa.Table
    noun: str
    check: Check
    saved: Callable[[UnitOfWork], Awaitable[None]] | None = None

    async def list_rules(self, conn: AsyncConnection, actor: Principal) -> list[dict[str, Any]]:
        """The workspace's rules of this kind in the order they run (staff only)."""
        require_staff(actor)
        t = self.table
        rows = await conn.execute(
            sa.select(t).where(t.c.workspace_id == actor.workspace_id).order_by(t.c.position, t.c.id)
        )
        return [read(r) for r in rows.mappings()]

    async def access_rule(self, conn: AsyncConnection, actor: Principal, rule_id: int) -> dict[str, Any]:
        require_staff(actor)
        t = self.table
        row = (
            (
                await conn.execute(
                    sa.select(t).where(t.c.id == rule_id, t.c.workspace_id == actor.workspace_id)
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            raise NotFound(f"{self.noun} {rule_id} not found")
        return read(row)

    async def _check_name(self, uow: UnitOfWork, actor: Principal, name: str, current_id: int | None) -> str:
        name = name.strip()
        if not name or len(name) > 200:
            raise Invalid("name", "a name of 1 to 200 characters")
        t = self.table
        dup = sa.select(t.c.id).where(t.c.workspace_id == actor.workspace_id, t.c.name == name)
        if current_id is not None:
            dup = dup.where(t.c.id != current_id)
        if (await uow.execute(dup)).first():
            raise Conflict(f"a {self.noun} named {name!r} exists", errors=_NAME_TAKEN)
        return name

    async def _write(self, uow: UnitOfWork, stmt: Any) -> Any:
        try:
            async with uow.conn.begin_nested():
                return await uow.execute(stmt)
        except IntegrityError:
            raise Conflict("name: taken by a request that ran at the same time", errors=_NAME_TAKEN) from None

    async def do_create(self, uow: UnitOfWork, actor: Principal, data: RuleChanges) -> int:
        require_admin(actor)
        t = self.table
        name = await self._check_name(uow, actor, data.name or "", None)
        conds, checked = await self.check(uow, actor, data.conditions, data.actions)
        last = (
            await uow.execute(
                sa.select(sa.func.max(t.c.position)).where(t.c.workspace_id == actor.workspace_id)
            )
        ).scalar()
        now = utcnow()
        rule_id = (
            await self._write(
                uow,
                t.insert()
                .values(
                    workspace_id=actor.workspace_id,
                    name=name,
                    description=(data.description or "").strip()[:2000],
                    position=(last or 0) + 1,
                    active=True if data.active is None else data.active,
                    conditions=conds,
                    actions=checked,
                    created_at=now,
                    updated_at=now,
                )
                .returning(t.c.id),
            )
        ).scalar_one()
        if self.saved is not None:
            await self.saved(uow)
        return int(rule_id)

    async def do_update(self, uow: UnitOfWork, actor: Principal, rule_id: int, data: RuleChanges) -> None:
        require_admin(actor)
        current = await self.access_rule(uow.conn, actor, rule_id)
        values: dict[str, Any] = {"updated_at": utcnow()}
        if data.name is not None:
            values["name"] = await self._check_name(uow, actor, data.name, rule_id)
        if data.description is not None:
            values["description"] = data.description.strip()[:2000]
        if data.active is not None:
            values["active"] = data.active
        if data.conditions is not None or data.actions is not None:
            conds, checked = await self.check(
                uow,
                actor,
                current["conditions"] if data.conditions is None else data.conditions,
                current["actions"] if data.actions is None else data.actions,
            )
            values.update(conditions=conds, actions=checked)
        await self._write(uow, self.table.update().where(self.table.c.id == rule_id).values(**values))
        if self.saved is not None:
            await self.saved(uow)

    async def do_delete(self, uow: UnitOfWork, actor: Principal, rule_id: int) -> None:
        require_admin(actor)
        await self.access_rule(uow.conn, actor, rule_id)
        await uow.execute(self.table.delete().where(self.table.c.id == rule_id))

    async def do_reorder(self, uow: UnitOfWork, actor: Principal, ids: list[int]) -> None:
        """Set the run order: ``ids`` lists every rule of this kind of the workspace once."""
        require_admin(actor)
        mine = [r["id"] for r in await self.list_rules(uow.conn, actor)]
        if sorted(ids) != sorted(mine) or len(set(ids)) != len(ids):
            raise Invalid("ids", f"every {self.noun} of the workspace exactly once")
        for position, rid in enumerate(ids, start=1):
            await uow.execute(self.table.update().where(self.table.c.id == rid).values(position=position))

    async def do_move(self, uow: UnitOfWork, actor: Principal, rule_id: int, step: int) -> None:
        """Move a rule one place up (``step`` -1) or down (+1) in the run order."""
        require_admin(actor)
        ids = [r["id"] for r in await self.list_rules(uow.conn, actor)]
        if rule_id not in ids:
            raise NotFound(f"{self.noun} {rule_id} not found")
        i = ids.index(rule_id)
        j = min(max(i + step, 0), len(ids) - 1)
        ids[i], ids[j] = ids[j], ids[i]
        await self.do_reorder(uow, actor, ids)
