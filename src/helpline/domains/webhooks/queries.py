"""Permission-checked reads of webhook targets and their deliveries: admins only, scoped by the
actor's workspace (another workspace's target answers 404, like a missing one)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.domains.accounts.principal import Principal
from helpline.domains.accounts.queries import require_admin
from helpline.domains.webhooks.models import WebhookDelivery, WebhookTarget
from helpline.errors import NotFound

targets_t: sa.Table = WebhookTarget.__table__
deliveries_t: sa.Table = WebhookDelivery.__table__

#: Deliveries per page of a target's log, at most.
PAGE_MAX = 100


def secret_hint(secret: str) -> str:
    """What a read shows of a secret: its last four characters."""
    return "…" + secret[-4:]


def _read(row: Any, last: dict[int, dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "url": row["url"],
        "event_types": list(row["event_types"] or []),
        "enabled": bool(row["enabled"]),
        "disabled_reason": row["disabled_reason"],
        "disabled_at": row["disabled_at"],
        "consecutive_failures": row["consecutive_failures"],
        "disable_after": row["disable_after"],
        "secret_hint": secret_hint(row["secret"]),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "last_delivery": last.get(row["id"]),
    }


async def _last_deliveries(conn: AsyncConnection, target_ids: list[int]) -> dict[int, dict[str, Any]]:
    if not target_ids:
        return {}
    newest = (
        sa.select(sa.func.max(deliveries_t.c.id))
        .where(deliveries_t.c.target_id.in_(target_ids))
        .group_by(deliveries_t.c.target_id)
    )
    rows = await conn.execute(
        sa.select(
            deliveries_t.c.id,
            deliveries_t.c.target_id,
            deliveries_t.c.status,
            deliveries_t.c.event_type,
            deliveries_t.c.created_at,
            deliveries_t.c.last_status_code,
        ).where(deliveries_t.c.id.in_(newest))
    )
    return {
        r["target_id"]: {k: r[k] for k in ("id", "status", "event_type", "created_at", "last_status_code")}
        for r in rows.mappings()
    }


async def list_targets(conn: AsyncConnection, actor: Principal) -> list[dict[str, Any]]:
    """The workspace's targets by name, each with its newest delivery."""
    require_admin(actor)
    rows = (
        (
            await conn.execute(
                sa.select(targets_t)
                .where(targets_t.c.workspace_id == actor.workspace_id)
                .order_by(targets_t.c.name, targets_t.c.id)
            )
        )
        .mappings()
        .all()
    )
    last = await _last_deliveries(conn, [r["id"] for r in rows])
    return [_read(r, last) for r in rows]


async def target_row(conn: AsyncConnection, actor: Principal, target_id: int) -> Any:
    """The target's row (secret included) for the service; 403 for non-admins, 404 outside the workspace."""
    require_admin(actor)
    row = (
        (
            await conn.execute(
                sa.select(targets_t).where(
                    targets_t.c.id == target_id, targets_t.c.workspace_id == actor.workspace_id
                )
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"webhook {target_id} not found")
    return row


async def access_target(conn: AsyncConnection, actor: Principal, target_id: int) -> dict[str, Any]:
    """One target of the actor's workspace, as the API and pages show it (no secret)."""
    row = await target_row(conn, actor, target_id)
    return _read(row, await _last_deliveries(conn, [target_id]))


def _delivery(row: Any) -> dict[str, Any]:
    return {c.name: row[c.name] for c in deliveries_t.c if c.name not in ("target_id", "workspace_id")}


async def list_deliveries(
    conn: AsyncConnection, actor: Principal, target_id: int, *, limit: int = 50, before: int | None = None
) -> dict[str, Any]:
    """A page of the target's delivery log, newest first: ``{items, next_before}``."""
    await target_row(conn, actor, target_id)
    limit = max(1, min(limit, PAGE_MAX))
    q = sa.select(deliveries_t).where(deliveries_t.c.target_id == target_id)
    if before is not None:
        q = q.where(deliveries_t.c.id < before)
    rows = (await conn.execute(q.order_by(deliveries_t.c.id.desc()).limit(limit + 1))).mappings().all()
    items = [_delivery(r) for r in rows[:limit]]
    return {"items": items, "next_before": items[-1]["id"] if len(rows) > limit else None}
