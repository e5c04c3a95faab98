"""The catalogue of what tickets carry: custom-field definitions and tags. One set of rules for the
HTTP API (``catalog_api.py``) and the admin pages (``admin_views.py``), which only parse their input,
call one of these and render the result.

Admins write (``require_admin``); anyone of the workspace reads the fields, customers only those marked
``customer_visible``. A dropdown has distinct options and other types none (:func:`check_options`); a
key is taken once per workspace; a tag renamed onto one a ticket already has is merged, not doubled.
Cached definitions (``fields.definitions``) are dropped by the write hook on ``custom_fields`` that
``fields.install`` sets up, so nothing here invalidates by hand.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.db.base import utcnow
from helpline.domains.accounts.principal import Principal
from helpline.domains.accounts.queries import require_admin
from helpline.domains.tickets.fields import fields_table
from helpline.domains.tickets.models import FieldType, TicketTag
from helpline.domains.tickets.schemas import CustomFieldCreate, CustomFieldRead, CustomFieldUpdate
from helpline.errors import Conflict, Invalid, NotFound
from helpline.platform.db import UnitOfWork

tags = TicketTag.__table__
#: A field as the API and the pages show it (``CustomFieldRead``).
FIELD_COLS = [fields_table.c[n] for n in CustomFieldRead.model_fields]


def check_options(kind: FieldType, options: list[str]) -> None:
    if kind is FieldType.dropdown and not options:
        raise Invalid("options", "a dropdown needs at least one option")
    if kind is not FieldType.dropdown and options:
        raise Invalid("options", "only dropdown fields have options")
    if len(set(options)) != len(options):
        raise Invalid("options", "options must be distinct")


# --- custom fields ------------------------------------------------------------------------------


async def list_fields(conn: AsyncConnection, actor: Principal) -> list[dict[str, Any]]:
    """The workspace's fields in display order; a customer sees only the ``customer_visible`` ones."""
    stmt = sa.select(*FIELD_COLS).where(fields_table.c.workspace_id == actor.workspace_id)
    if actor.is_customer:
        stmt = stmt.where(fields_table.c.customer_visible.is_(True))
    rows = await conn.execute(stmt.order_by(fields_table.c.position, fields_table.c.id))
    return [dict(r) for r in rows.mappings()]


async def access_field(conn: AsyncConnection, actor: Principal, field_id: int) -> dict[str, Any]:
    """One field of the actor's workspace (404 for another workspace's, as for none)."""
    row = (
        (
            await conn.execute(
                sa.select(*FIELD_COLS).where(
                    fields_table.c.id == field_id, fields_table.c.workspace_id == actor.workspace_id
                )
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"custom field {field_id} not found")
    return dict(row)


async def do_create_field(uow: UnitOfWork, actor: Principal, data: CustomFieldCreate) -> dict[str, Any]:
    """Define a field; the field as :func:`access_field` shows it. 409 when the key is taken."""
    require_admin(actor)
    check_options(data.type, data.options)
    dup = (
        await uow.execute(
            sa.select(fields_table.c.id).where(
                fields_table.c.workspace_id == actor.workspace_id, fields_table.c.key == data.key
            )
        )
    ).first()
    if dup:
        raise Conflict(f"a field with key {data.key!r} exists", errors=[{"field": "key", "message": "taken"}])
    field_id = (
        await uow.execute(
            fields_table.insert()
            .values(workspace_id=actor.workspace_id, created_at=utcnow(), **data.model_dump(mode="json"))
            .returning(fields_table.c.id)
        )
    ).scalar_one()
    return await access_field(uow.conn, actor, int(field_id))


async def do_update_field(
    uow: UnitOfWork, actor: Principal, field_id: int, data: CustomFieldUpdate
) -> dict[str, Any]:
    """Change what ``data`` sets (``None`` keeps a value; the key and type never change); the field."""
    require_admin(actor)
    current = await access_field(uow.conn, actor, field_id)
    changes = {k: v for k, v in data.model_dump(exclude_unset=True).items() if v is not None}
    if "options" in changes:
        check_options(FieldType(current["type"]), changes["options"])
    if not changes:
        return current
    await uow.execute(fields_table.update().where(fields_table.c.id == field_id).values(**changes))
    return await access_field(uow.conn, actor, field_id)


async def do_delete_field(uow: UnitOfWork, actor: Principal, field_id: int) -> None:
    """Delete a field's definition; tickets' values and the history of them stay."""
    require_admin(actor)
    await access_field(uow.conn, actor, field_id)
    await uow.execute(
        fields_table.delete().where(
            fields_table.c.id == field_id, fields_table.c.workspace_id == actor.workspace_id
        )
    )


# --- tags ----------------------------------------------------------------------------------------


async def do_rename_tag(uow: UnitOfWork, actor: Principal, name: str, new: str) -> dict[str, Any]:
    """Rename ``name`` to ``new`` on every ticket of the workspace (tickets with both keep one):
    ``{"name": new, "count": tickets carrying it now}``. 404 when neither is in use."""
    require_admin(actor)
    ws_tags = tags.c.workspace_id == actor.workspace_id
    if new != name:
        both = sa.select(tags.c.ticket_id).where(ws_tags, tags.c.tag == new).scalar_subquery()
        await uow.execute(tags.delete().where(ws_tags, tags.c.tag == name, tags.c.ticket_id.in_(both)))
        await uow.execute(tags.update().where(ws_tags, tags.c.tag == name).values(tag=new))
    count = (await uow.execute(sa.select(sa.func.count()).where(ws_tags, tags.c.tag == new))).scalar_one()
    if count == 0:
        raise NotFound(f"tag {name!r} is not in use")
    return {"name": new, "count": int(count)}


async def do_delete_tag(uow: UnitOfWork, actor: Principal, name: str) -> None:
    """Remove a tag from every ticket of the workspace (nothing happens for a tag not in use)."""
    require_admin(actor)
    await uow.execute(tags.delete().where(tags.c.workspace_id == actor.workspace_id, tags.c.tag == name))
