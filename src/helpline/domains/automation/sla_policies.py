"""SLA policies: permission-checked reads, the writes (API and admin pages alike), and the read the
SLA engine matches tickets with (:func:`policies_for`).

Rules:

- Admins write; staff read; customers neither; scoped by workspace (another's id answers 404).
- ``name`` is unique per workspace (409 naming ``name``). A new policy goes last; ``do_reorder``
  sets the order from a list of every policy's id.
- At most one fallback (``is_fallback``): marking one unmarks the old. The fallback is matched last,
  whatever its position.
- ``conditions`` are checked by :func:`helpline.domains.automation.conditions.validate` against the
  workspace's custom fields; ``targets`` and ``escalations`` by the API's own models
  (``schemas.Targets``, ``schemas.Escalation``) plus what a model cannot say: a warning comes before
  the target (``warn < minutes``), people notified or assigned are staff of the workspace, groups
  are the workspace's, webhook addresses are http(s) (the egress guard checks the host at send time).
- Every edit bumps ``version``; every create, edit, delete and reorder queues ``sla.reapply`` for
  the workspace in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.db.base import utcnow
from helpline.domains.accounts.models import Group, Membership, Role
from helpline.domains.accounts.principal import Principal
from helpline.domains.accounts.queries import require_admin, require_staff
from helpline.domains.automation import conditions as cond
from helpline.domains.automation.models import SlaPolicy
from helpline.domains.automation.schedules import reapply
from helpline.domains.automation.schemas import METRICS, Escalation, Targets
from helpline.domains.tickets import fields
from helpline.errors import Conflict, Invalid, NotFound
from helpline.platform.db import UnitOfWork

policies: sa.Table = SlaPolicy.__table__
groups_t: sa.Table = Group.__table__
members: sa.Table = Membership.__table__

_NAME_TAKEN = [{"field": "name", "message": "another policy has this name"}]
_ESCALATIONS: TypeAdapter[list[Escalation]] = TypeAdapter(list[Escalation])
_ACTION_TYPES = {"notify", "assign", "priority", "tag", "webhook"}


@dataclass(frozen=True)
class PolicyChanges:
    """A policy as an admin sent it (plain JSON values); ``None`` leaves a field as it is."""

    name: str | None = None
    description: str | None = None
    active: bool | None = None
    is_fallback: bool | None = None
    conditions: dict[str, Any] | None = None
    targets: dict[str, Any] | None = None
    escalations: list[Any] | None = None


@dataclass(frozen=True)
class PolicyRow:
    """An active policy as the engine matches it."""

    id: int
    name: str
    version: int
    is_fallback: bool
    conditions: dict[str, Any]
    targets: dict[str, Any]
    escalations: list[dict[str, Any]]


# --- reads ------------------------------------------------------------------------------------------


def _order() -> list[Any]:
    return [policies.c.is_fallback.asc(), policies.c.position, policies.c.id]


async def policies_for(conn: AsyncConnection, workspace_id: int) -> list[PolicyRow]:
    """The workspace's active policies in match order: by position, the fallback last. The first
    whose conditions match a ticket (``conditions.matches``) applies; the fallback applies to
    every ticket no other matched."""
    rows = await conn.execute(
        sa.select(policies)
        .where(policies.c.workspace_id == workspace_id, policies.c.active.is_(True))
        .order_by(*_order())
    )
    return [
        PolicyRow(
            id=r["id"],
            name=r["name"],
            version=r["version"],
            is_fallback=bool(r["is_fallback"]),
            conditions=r["conditions"] or {},
            targets=r["targets"] or {},
            escalations=r["escalations"] or [],
        )
        for r in rows.mappings()
    ]


async def list_policies(conn: AsyncConnection, actor: Principal) -> list[dict[str, Any]]:
    """Every policy of the workspace (active or not) in match order (staff only)."""
    require_staff(actor)
    rows = await conn.execute(
        sa.select(policies).where(policies.c.workspace_id == actor.workspace_id).order_by(*_order())
    )
    return [_read(r) for r in rows.mappings()]


async def access_policy(conn: AsyncConnection, actor: Principal, policy_id: int) -> dict[str, Any]:
    require_staff(actor)
    row = (
        (
            await conn.execute(
                sa.select(policies).where(
                    policies.c.id == policy_id, policies.c.workspace_id == actor.workspace_id
                )
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"SLA policy {policy_id} not found")
    return _read(row)


def _read(r: Any) -> dict[str, Any]:
    out = {c.name: r[c.name] for c in policies.c if c.name != "workspace_id"}
    out["active"], out["is_fallback"] = bool(r["active"]), bool(r["is_fallback"])
    return out


# --- checks -----------------------------------------------------------------------------------------


def _invalid(prefix: str, exc: ValidationError) -> Invalid:
    """The first error of a model's check as :class:`Invalid` naming the exact part."""
    err = exc.errors()[0]
    path = prefix
    loc = list(err.get("loc", ()))
    for i, part in enumerate(loc):
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in _ACTION_TYPES and i and isinstance(loc[i - 1], int):
            continue  # the union's tag, not a part of the body
        else:
            path += f".{part}"
    return Invalid(path, str(err.get("msg", "invalid")).removeprefix("Value error, "))


def check_targets(targets: Any) -> dict[str, Any]:
    try:
        parsed = Targets.model_validate(targets if targets is not None else {})
    except ValidationError as exc:
        raise _invalid("targets", exc) from None
    out = parsed.model_dump(exclude_none=True)
    for priority, metrics in out.items():
        for metric, target in metrics.items():
            if target["warn"] > target["minutes"]:
                raise Invalid(
                    f"targets.{priority}.{metric}.warn",
                    "must be at most the target's minutes (at risk from the start)",
                )
    return {p: m for p, m in out.items() if m}


async def _check_escalations(uow: UnitOfWork, actor: Principal, value: Any) -> list[dict[str, Any]]:
    try:
        parsed = _ESCALATIONS.validate_python(value if value is not None else [])
    except ValidationError as exc:
        raise _invalid("escalations", exc) from None
    out = []
    for i, esc in enumerate(parsed):
        item = esc.model_dump(exclude_none=True)
        item["metrics"] = list(dict.fromkeys(esc.metrics)) if esc.metrics else list(METRICS)
        for j, action in enumerate(item["actions"]):
            await _check_action(uow, actor, action, f"escalations[{i}].actions[{j}]")
        out.append(item)
    return out


async def _check_action(uow: UnitOfWork, actor: Principal, action: dict[str, Any], where: str) -> None:
    kind = action["type"]
    if kind == "notify":
        if not action.get("user_ids") and not action.get("group_ids"):
            raise Invalid(f"{where}.user_ids", "name at least one person or group to notify")
        await check_users(uow, actor, action.get("user_ids", []), f"{where}.user_ids")
        await check_groups(uow, actor, action.get("group_ids", []), f"{where}.group_ids")
    elif kind == "assign":
        if action.get("user_id") is None and action.get("group_id") is None:
            raise Invalid(f"{where}.user_id", "name a person or a group to assign to")
        if action.get("user_id") is not None:
            await check_users(uow, actor, [action["user_id"]], f"{where}.user_id")
        if action.get("group_id") is not None:
            await check_groups(uow, actor, [action["group_id"]], f"{where}.group_id")
    elif kind == "webhook":
        parts = urlsplit(action["url"].strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise Invalid(f"{where}.url", "an http:// or https:// address")
        action["url"] = action["url"].strip()


async def check_users(uow: UnitOfWork, actor: Principal, ids: list[int], field: str) -> None:
    if not ids:
        return
    found = {
        uid
        for (uid,) in await uow.execute(
            sa.select(members.c.user_id).where(
                members.c.workspace_id == actor.workspace_id,
                members.c.user_id.in_(sorted(set(ids))),
                members.c.role != Role.customer.value,
            )
        )
    }
    missing = [i for i in ids if i not in found]
    if missing:
        raise Invalid(field, f"not staff of this workspace: {', '.join(map(str, missing))}")


async def check_groups(uow: UnitOfWork, actor: Principal, ids: list[int], field: str) -> None:
    if not ids:
        return
    found = {
        gid
        for (gid,) in await uow.execute(
            sa.select(groups_t.c.id).where(
                groups_t.c.workspace_id == actor.workspace_id, groups_t.c.id.in_(sorted(set(ids)))
            )
        )
    }
    missing = [i for i in ids if i not in found]
    if missing:
        raise Invalid(field, f"no such group: {', '.join(map(str, missing))}")


async def check_conditions(
    conn: AsyncConnection, workspace_id: int, value: Any, *, timed: bool = False, trigger: bool = False
) -> dict[str, Any]:
    """A condition set checked against the workspace's custom fields (``conditions.validate``)."""
    defs = await fields.definitions(conn, workspace_id)
    custom = {k: str(d["type"]) for k, d in defs.items()}
    return cond.validate(value, custom_fields=custom, timed=timed, trigger=trigger)


async def _check_name(uow: UnitOfWork, actor: Principal, name: str, current_id: int | None) -> str:
    name = name.strip()
    if not name or len(name) > 200:
        raise Invalid("name", "a name of 1 to 200 characters")
    dup = sa.select(policies.c.id).where(
        policies.c.workspace_id == actor.workspace_id, policies.c.name == name
    )
    if current_id is not None:
        dup = dup.where(policies.c.id != current_id)
    if (await uow.execute(dup)).first():
        raise Conflict(f"an SLA policy named {name!r} exists", errors=_NAME_TAKEN)
    return name


async def _clean(
    uow: UnitOfWork, actor: Principal, data: PolicyChanges, current_id: int | None
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if data.name is not None:
        values["name"] = await _check_name(uow, actor, data.name, current_id)
    if data.description is not None:
        if len(data.description) > 2000:
            raise Invalid("description", "at most 2,000 characters")
        values["description"] = data.description.strip()
    if data.active is not None:
        values["active"] = data.active
    if data.is_fallback is not None:
        values["is_fallback"] = data.is_fallback
    if data.conditions is not None:
        values["conditions"] = await check_conditions(uow.conn, actor.workspace_id, data.conditions)
    if data.targets is not None:
        values["targets"] = check_targets(data.targets)
    if data.escalations is not None:
        values["escalations"] = await _check_escalations(uow, actor, data.escalations)
    return values


async def _write(uow: UnitOfWork, stmt: Any) -> Any:
    try:
        async with uow.conn.begin_nested():
            return await uow.execute(stmt)
    except IntegrityError:
        raise Conflict("name: taken by a request that ran at the same time", errors=_NAME_TAKEN) from None


async def _unmark_fallback(uow: UnitOfWork, actor: Principal, keep: int) -> None:
    await uow.execute(
        policies.update()
        .where(
            policies.c.workspace_id == actor.workspace_id,
            policies.c.id != keep,
            policies.c.is_fallback.is_(True),
        )
        .values(is_fallback=False, updated_at=utcnow())
    )


# --- writes -----------------------------------------------------------------------------------------


async def do_create(uow: UnitOfWork, actor: Principal, data: PolicyChanges) -> int:
    require_admin(actor)
    values = await _clean(uow, actor, PolicyChanges(**{**data.__dict__, "name": data.name or ""}), None)
    last = (
        await uow.execute(
            sa.select(sa.func.max(policies.c.position)).where(policies.c.workspace_id == actor.workspace_id)
        )
    ).scalar()
    now = utcnow()
    result = await _write(
        uow,
        policies.insert()
        .values(
            {
                "description": "",
                "active": True,
                "is_fallback": False,
                "conditions": {"all": [], "any": []},
                "targets": {},
                "escalations": [],
                **values,
                "workspace_id": actor.workspace_id,
                "position": (last if last is not None else -1) + 1,
                "version": 1,
                "created_at": now,
                "updated_at": now,
            }
        )
        .returning(policies.c.id),
    )
    policy_id = int(result.scalar_one())
    if values.get("is_fallback"):
        await _unmark_fallback(uow, actor, policy_id)
    await reapply(uow, actor.workspace_id)
    return policy_id


async def do_update(uow: UnitOfWork, actor: Principal, policy_id: int, data: PolicyChanges) -> None:
    require_admin(actor)
    current = await access_policy(uow.conn, actor, policy_id)
    values = await _clean(uow, actor, data, policy_id)
    changed = {k: v for k, v in values.items() if current.get(k) != v}
    if not changed:
        return
    await _write(
        uow,
        policies.update()
        .where(policies.c.id == policy_id, policies.c.workspace_id == actor.workspace_id)
        .values(**changed, version=current["version"] + 1, updated_at=utcnow()),
    )
    if changed.get("is_fallback"):
        await _unmark_fallback(uow, actor, policy_id)
    await reapply(uow, actor.workspace_id)


async def do_delete(uow: UnitOfWork, actor: Principal, policy_id: int) -> None:
    require_admin(actor)
    await access_policy(uow.conn, actor, policy_id)
    await uow.execute(
        policies.delete().where(policies.c.id == policy_id, policies.c.workspace_id == actor.workspace_id)
    )
    await reapply(uow, actor.workspace_id)


async def do_reorder(uow: UnitOfWork, actor: Principal, ids: list[int]) -> None:
    """Put the policies in the order of ``ids``, which must name each of the workspace's exactly once."""
    require_admin(actor)
    existing = {
        pid
        for (pid,) in await uow.execute(
            sa.select(policies.c.id).where(policies.c.workspace_id == actor.workspace_id)
        )
    }
    if len(ids) != len(set(ids)) or set(ids) != existing:
        raise Invalid("ids", "list every SLA policy of the workspace exactly once")
    for position, pid in enumerate(ids):
        await uow.execute(policies.update().where(policies.c.id == pid).values(position=position))
    await reapply(uow, actor.workspace_id)


async def do_move(uow: UnitOfWork, actor: Principal, policy_id: int, step: int) -> None:
    """Move one policy up (``step`` -1) or down (+1) in the order (the admin page's buttons)."""
    require_admin(actor)
    await access_policy(uow.conn, actor, policy_id)
    ids = [p["id"] for p in await list_policies(uow.conn, actor)]
    i = ids.index(policy_id)
    j = i + step
    if 0 <= j < len(ids):
        ids[i], ids[j] = ids[j], ids[i]
        await do_reorder(uow, actor, ids)
