"""Admin-defined custom fields of tickets, and validation of their values."""

from __future__ import annotations

import os
from contextvars import ContextVar
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.domains.accounts import principal_cache
from helpline.domains.tickets.models import CustomField, FieldType
from helpline.errors import Invalid
from helpline.platform.runtime import Platform

fields_table = CustomField.__table__


#: The custom-field generation the current request read from the platform cache (set by the
#: authentication dependency; it changes whenever a committed write touches ``custom_fields``).
_generation: ContextVar[bytes | None] = ContextVar("helpline_fields_generation", default=None)
#: (database, workspace, generation) -> definitions. Valid only while the generation is current.
_local: dict[tuple[object, int, bytes], dict[str, dict[str, Any]]] = {}


def use_generation(gen: bytes) -> None:
    """Set the generation the definitions of this request may be served from memory for."""
    _generation.set(gen)


def forget_local() -> None:
    """Drop the definitions cached in this process (after a change to them commits)."""
    _local.clear()


#: Writes that change the definitions, by table and kind of write.
FIELD_TABLES: dict[str, tuple[str, ...]] = {
    "custom_fields": ("insert", "update", "delete"),
    "workspaces": ("delete",),
}
_GEN_KEY = "fields:gen"


def install(platform: Platform) -> None:
    """Once per platform: a committed change to the definitions drops this process's copy and
    replaces the generation every process reads along with its principal."""
    if platform.extras.get("fields_cache_hooked"):
        return
    platform.extras["fields_cache_hooked"] = True

    async def changed() -> None:
        forget_local()
        await platform.cache.set(_GEN_KEY, os.urandom(8).hex().encode(), principal_cache.GEN_TTL)

    platform.db.on_write(FIELD_TABLES, changed)


principal_cache.read_along(_GEN_KEY, use_generation, install)


async def definitions(conn: AsyncConnection, workspace_id: int) -> dict[str, dict[str, Any]]:
    """The workspace's custom fields by key, in display order.

    Within a request, served from memory when this process has read them under the current
    generation (see :func:`use_generation`); outside a request, always read from the database.
    Callers must not change what they get back.
    """
    gen = _generation.get()
    key = (conn.sync_engine.url, workspace_id, gen) if gen is not None else None
    if key is not None:
        found = _local.get(key)
        if found is not None:
            return found
    rows = await conn.execute(
        sa.select(fields_table)
        .where(fields_table.c.workspace_id == workspace_id)
        .order_by(fields_table.c.position, fields_table.c.id)
    )
    defs = {r["key"]: dict(r) for r in rows.mappings()}
    if key is not None:
        if len(_local) > 10_000:
            _local.clear()
        _local[key] = defs
    return defs


def _coerce(defn: dict[str, Any], value: Any) -> Any:
    key, kind = defn["key"], defn["type"]
    field = f"custom_fields.{key}"
    if value is None:
        return None
    if kind == FieldType.text:
        if not isinstance(value, str) or len(value) > 10_000:
            raise Invalid(field, "must be a string of at most 10,000 characters")
        return value
    if kind == FieldType.number:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or value != value
            or abs(value) > 1e15
        ):
            raise Invalid(field, "must be a number")
        return value
    if kind == FieldType.checkbox:
        if not isinstance(value, bool):
            raise Invalid(field, "must be true or false")
        return value
    if kind == FieldType.date:
        try:
            return date.fromisoformat(value).isoformat() if isinstance(value, str) else _bad(field)
        except ValueError:
            _bad(field)
    if kind == FieldType.dropdown:
        if value not in defn["options"]:
            raise Invalid(field, f"must be one of {defn['options']}")
        return value
    raise Invalid(field, "unknown field type")  # pragma: no cover


def _bad(field: str) -> Any:
    raise Invalid(field, "must be a date as YYYY-MM-DD")


def validate_values(
    defs: dict[str, dict[str, Any]],
    values: dict[str, Any],
    *,
    current: dict[str, Any] | None = None,
    customer: bool = False,
) -> dict[str, Any]:
    """The merged, typed custom-field values; unknown keys, wrong types and missing required fields fail."""
    result = dict(current or {})
    for key, value in values.items():
        defn = defs.get(key)
        if defn is None or (customer and not defn["customer_visible"]):
            raise Invalid(f"custom_fields.{key}", "no such custom field")
        coerced = _coerce(defn, value)
        if coerced is None:
            result.pop(key, None)
        else:
            result[key] = coerced
    for key, defn in defs.items():
        if defn["required"] and key not in result and (not customer or defn["customer_visible"]):
            raise Invalid(f"custom_fields.{key}", "is required")
    return result


def visible_values(
    defs: dict[str, dict[str, Any]], values: dict[str, Any], *, customer: bool
) -> dict[str, Any]:
    if not customer:
        return values
    return {k: v for k, v in values.items() if k in defs and defs[k]["customer_visible"]}
