"""Schedules (business hours): permission-checked reads and the writes, for the API and the admin
pages alike. The body's shape and rules are ``automation.calendar.normalize_body``'s.

Rules:

- Admins write; staff (admins, agents, light agents) read; customers neither. Everything is scoped by
  the actor's workspace: another workspace's schedule answers 404 like a missing one.
- ``name`` is unique per workspace (409 naming ``name``).
- Exactly one default per workspace: the first schedule becomes it whatever it asks; making another
  the default unsets the old one; a default cannot be unset, only replaced; deleting the default is
  refused while other schedules exist (make another the default first).
- ``group_ids``: groups of the workspace whose tickets follow this schedule. A group follows at most
  one schedule: naming it here moves it from any other.
- Each change of the body (hours, holidays, zone) bumps ``version``, appends a ``ScheduleVersion``
  valid from now and queues ``sla.recompute`` for the schedule; a change of groups or of the default
  (and a delete) queues ``sla.reapply`` for the workspace. Both in the same transaction.

The SLA engine reads :func:`schedule_bodies`, :func:`schedule_choice` / :func:`schedule_for_group`
and :func:`versions`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.db.base import utcnow
from helpline.domains.accounts.models import Group
from helpline.domains.accounts.principal import Principal
from helpline.domains.accounts.queries import require_admin, require_staff
from helpline.domains.automation import calendar, holiday_import
from helpline.domains.automation.models import Schedule, ScheduleGroup, ScheduleVersion
from helpline.errors import Conflict, Invalid, NotFound
from helpline.platform import jobs
from helpline.platform.db import UnitOfWork

schedules: sa.Table = Schedule.__table__
versions_t: sa.Table = ScheduleVersion.__table__
sgroups: sa.Table = ScheduleGroup.__table__
groups_t: sa.Table = Group.__table__

_NAME_TAKEN = [{"field": "name", "message": "another schedule has this name"}]


@dataclass(frozen=True)
class ScheduleChanges:
    """A schedule as an admin sent it; ``None`` leaves a field as it is (on create, ``name`` and
    ``body`` are required)."""

    name: str | None = None
    body: dict[str, Any] | None = None
    is_default: bool | None = None
    group_ids: list[int] | None = None


# --- reads ------------------------------------------------------------------------------------------


async def _group_ids(conn: AsyncConnection, workspace_id: int) -> dict[int, list[int]]:
    rows = await conn.execute(
        sa.select(sgroups.c.schedule_id, sgroups.c.group_id)
        .where(sgroups.c.workspace_id == workspace_id)
        .order_by(sgroups.c.group_id)
    )
    out: dict[int, list[int]] = {}
    for r in rows.mappings():
        out.setdefault(r["schedule_id"], []).append(r["group_id"])
    return out


def _read(row: Any, gids: dict[int, list[int]]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "timezone": row["timezone"],
        "body": row["body"],
        "is_default": bool(row["is_default"]),
        "group_ids": gids.get(row["id"], []),
        "version": row["version"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


async def list_schedules(conn: AsyncConnection, actor: Principal) -> list[dict[str, Any]]:
    """The workspace's schedules, the default first, then by name (staff only)."""
    require_staff(actor)
    rows = await conn.execute(
        sa.select(schedules)
        .where(schedules.c.workspace_id == actor.workspace_id)
        .order_by(schedules.c.is_default.desc(), schedules.c.name, schedules.c.id)
    )
    gids = await _group_ids(conn, actor.workspace_id)
    return [_read(r, gids) for r in rows.mappings()]


async def access_schedule(conn: AsyncConnection, actor: Principal, schedule_id: int) -> dict[str, Any]:
    """One schedule of the actor's workspace (404 for another workspace's, as for none)."""
    require_staff(actor)
    row = (
        (
            await conn.execute(
                sa.select(schedules).where(
                    schedules.c.id == schedule_id, schedules.c.workspace_id == actor.workspace_id
                )
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"schedule {schedule_id} not found")
    return _read(row, await _group_ids(conn, actor.workspace_id))


# --- reads for the SLA engine (no actor: the engine runs as the system) ------------------------------


async def schedule_bodies(conn: AsyncConnection, workspace_id: int) -> dict[int, dict[str, Any]]:
    """Every schedule of the workspace: ``{schedule_id: body}`` (the current version's body)."""
    rows = await conn.execute(
        sa.select(schedules.c.id, schedules.c.body).where(schedules.c.workspace_id == workspace_id)
    )
    return {r["id"]: r["body"] for r in rows.mappings()}


async def schedule_choice(conn: AsyncConnection, workspace_id: int) -> tuple[int | None, dict[int, int]]:
    """``(default schedule id or None, {group_id: schedule_id})``: a ticket follows its group's
    schedule, else the default (:func:`pick`)."""
    default = (
        await conn.execute(
            sa.select(schedules.c.id).where(
                schedules.c.workspace_id == workspace_id, schedules.c.is_default.is_(True)
            )
        )
    ).scalar()
    rows = await conn.execute(
        sa.select(sgroups.c.group_id, sgroups.c.schedule_id).where(sgroups.c.workspace_id == workspace_id)
    )
    return default, {r["group_id"]: r["schedule_id"] for r in rows.mappings()}


def pick(choice: tuple[int | None, dict[int, int]], group_id: int | None) -> int | None:
    """The schedule a ticket of ``group_id`` follows: its group's, else the default (None: no
    schedule at all; business time is then calendar time)."""
    default, by_group = choice
    return by_group.get(group_id, default) if group_id is not None else default


async def schedule_for_group(conn: AsyncConnection, workspace_id: int, group_id: int | None) -> int | None:
    """:func:`pick` for one ticket."""
    return pick(await schedule_choice(conn, workspace_id), group_id)


async def versions(conn: AsyncConnection, schedule_id: int) -> list[tuple[int, datetime, dict[str, Any]]]:
    """A schedule's history: ``[(version, valid_from, body)]`` oldest first."""
    rows = await conn.execute(
        sa.select(versions_t.c.version, versions_t.c.valid_from, versions_t.c.body)
        .where(versions_t.c.schedule_id == schedule_id)
        .order_by(versions_t.c.version)
    )
    return [(r["version"], r["valid_from"], r["body"]) for r in rows.mappings()]


# --- writes -----------------------------------------------------------------------------------------


async def _check_groups(uow: UnitOfWork, actor: Principal, group_ids: list[int]) -> list[int]:
    wanted = sorted(set(group_ids))
    if not wanted:
        return []
    found = {
        gid
        for (gid,) in await uow.execute(
            sa.select(groups_t.c.id).where(
                groups_t.c.id.in_(wanted), groups_t.c.workspace_id == actor.workspace_id
            )
        )
    }
    missing = [g for g in wanted if g not in found]
    if missing:
        raise Invalid("group_ids", f"no such group: {', '.join(map(str, missing))}")
    return wanted


async def _check_name(uow: UnitOfWork, actor: Principal, name: str, current_id: int | None) -> str:
    name = name.strip()
    if not name or len(name) > 200:
        raise Invalid("name", "a name of 1 to 200 characters")
    dup = sa.select(schedules.c.id).where(
        schedules.c.workspace_id == actor.workspace_id, schedules.c.name == name
    )
    if current_id is not None:
        dup = dup.where(schedules.c.id != current_id)
    if (await uow.execute(dup)).first():
        raise Conflict(f"a schedule named {name!r} exists", errors=_NAME_TAKEN)
    return name


async def _write(uow: UnitOfWork, stmt: Any) -> Any:
    try:
        async with uow.conn.begin_nested():
            return await uow.execute(stmt)
    except IntegrityError:  # another request took the name between our check and this write
        raise Conflict("name: taken by a request that ran at the same time", errors=_NAME_TAKEN) from None


async def _recompute(uow: UnitOfWork, schedule_id: int) -> None:
    await jobs.enqueue(
        uow, "sla.recompute", {"schedule_id": schedule_id}, dedupe_key=f"sla.recompute:{schedule_id}"
    )


async def reapply(uow: UnitOfWork, workspace_id: int) -> None:
    """Queue the re-choice of policy and schedule for the workspace's open tickets."""
    await jobs.enqueue(
        uow, "sla.reapply", {"workspace_id": workspace_id}, dedupe_key=f"sla.reapply:{workspace_id}"
    )


async def _set_groups(uow: UnitOfWork, actor: Principal, schedule_id: int, group_ids: list[int]) -> None:
    ws = actor.workspace_id
    await uow.execute(
        sgroups.delete().where(sgroups.c.workspace_id == ws, sgroups.c.schedule_id == schedule_id)
    )
    if group_ids:
        await uow.execute(
            sgroups.delete().where(sgroups.c.workspace_id == ws, sgroups.c.group_id.in_(group_ids))
        )
        await uow.execute(
            sgroups.insert(),
            [{"group_id": g, "schedule_id": schedule_id, "workspace_id": ws} for g in group_ids],
        )


async def _make_default(uow: UnitOfWork, actor: Principal, schedule_id: int) -> None:
    await uow.execute(
        schedules.update()
        .where(schedules.c.workspace_id == actor.workspace_id, schedules.c.id != schedule_id)
        .values(is_default=False)
    )
    await uow.execute(schedules.update().where(schedules.c.id == schedule_id).values(is_default=True))


async def do_create(uow: UnitOfWork, actor: Principal, data: ScheduleChanges) -> int:
    """Create a schedule; its id."""
    require_admin(actor)
    name = await _check_name(uow, actor, data.name or "", None)
    body = calendar.normalize_body(data.body if data.body is not None else {})
    group_ids = await _check_groups(uow, actor, data.group_ids or [])
    first = (
        await uow.execute(
            sa.select(schedules.c.id).where(schedules.c.workspace_id == actor.workspace_id).limit(1)
        )
    ).first() is None
    now = utcnow()
    result = await _write(
        uow,
        schedules.insert()
        .values(
            workspace_id=actor.workspace_id,
            name=name,
            timezone=body["timezone"],
            body=body,
            is_default=False,
            version=1,
            created_at=now,
            updated_at=now,
        )
        .returning(schedules.c.id),
    )
    schedule_id = int(result.scalar_one())
    await uow.execute(
        versions_t.insert().values(schedule_id=schedule_id, version=1, body=body, valid_from=now)
    )
    if first or data.is_default:
        await _make_default(uow, actor, schedule_id)
    if group_ids:
        await _set_groups(uow, actor, schedule_id, group_ids)
    await _recompute(uow, schedule_id)
    if first or data.is_default or group_ids:
        await reapply(uow, actor.workspace_id)
    return schedule_id


async def do_update(uow: UnitOfWork, actor: Principal, schedule_id: int, data: ScheduleChanges) -> None:
    """Change what ``data`` sets."""
    require_admin(actor)
    current = await access_schedule(uow.conn, actor, schedule_id)
    values: dict[str, Any] = {}
    if data.name is not None:
        values["name"] = await _check_name(uow, actor, data.name, schedule_id)
    body_changed = False
    if data.body is not None:
        body = calendar.normalize_body(data.body)
        if body != current["body"]:
            body_changed = True
            version = current["version"] + 1
            values.update(body=body, timezone=body["timezone"], version=version)
    if data.is_default is False and current["is_default"]:
        raise Invalid("is_default", "a workspace always has a default schedule; make another one the default")
    group_ids = None if data.group_ids is None else await _check_groups(uow, actor, data.group_ids)
    now = utcnow()
    if values:
        await _write(
            uow,
            schedules.update()
            .where(schedules.c.id == schedule_id, schedules.c.workspace_id == actor.workspace_id)
            .values(**values, updated_at=now),
        )
    if body_changed:
        await uow.execute(
            versions_t.insert().values(
                schedule_id=schedule_id, version=values["version"], body=values["body"], valid_from=now
            )
        )
        await _recompute(uow, schedule_id)
    reassigned = False
    if data.is_default and not current["is_default"]:
        await _make_default(uow, actor, schedule_id)
        reassigned = True
    if group_ids is not None and group_ids != current["group_ids"]:
        await _set_groups(uow, actor, schedule_id, group_ids)
        reassigned = True
    if reassigned:
        if not values:
            await uow.execute(schedules.update().where(schedules.c.id == schedule_id).values(updated_at=now))
        await reapply(uow, actor.workspace_id)


async def do_delete(uow: UnitOfWork, actor: Principal, schedule_id: int) -> None:
    """Delete a schedule; the default only when it is the last one. Its groups' tickets then follow
    the default."""
    require_admin(actor)
    current = await access_schedule(uow.conn, actor, schedule_id)
    if current["is_default"]:
        others = (
            await uow.execute(
                sa.select(sa.func.count()).where(
                    schedules.c.workspace_id == actor.workspace_id, schedules.c.id != schedule_id
                )
            )
        ).scalar_one()
        if others:
            raise Conflict(
                "this is the default schedule; make another schedule the default before deleting it",
                errors=[{"field": "is_default", "message": "make another schedule the default first"}],
            )
    await uow.execute(
        schedules.delete().where(
            schedules.c.id == schedule_id, schedules.c.workspace_id == actor.workspace_id
        )
    )
    await reapply(uow, actor.workspace_id)


async def do_import_holidays(
    uow: UnitOfWork,
    actor: Principal,
    schedule_id: int,
    *,
    country: str,
    subdiv: str | None,
    years: list[int],
    dates_off: list[str],
) -> int:
    """Append the public holidays previewed for ``country``/``subdiv``/``years`` to the schedule
    (``dates_off`` kept disabled; dates already imported from the same source skipped): how many
    days were added."""
    require_admin(actor)
    if not years:
        raise Invalid("year", "give year or years")
    current = await access_schedule(uow.conn, actor, schedule_id)
    offer = holiday_import.offer(country, subdiv, years)
    merged, added = holiday_import.merge(
        list(current["body"].get("holidays", [])), offer["days"], source=offer["source"], off=set(dates_off)
    )
    if added:
        await do_update(
            uow, actor, schedule_id, ScheduleChanges(body={**current["body"], "holidays": merged})
        )
    return added
