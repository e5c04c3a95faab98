"""Widget settings: created and changed by admins (API ``/api/v1/chat/widgets``)."""

from __future__ import annotations

import secrets
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from pydantic import Field

from helpline.db.base import utcnow
from helpline.domains.accounts.principal import Principal
from helpline.domains.accounts.queries import require_admin
from helpline.domains.channels.chat import availability, queries
from helpline.domains.channels.chat.models import ChatWidget
from helpline.domains.tickets import service as tickets_service
from helpline.errors import Invalid, NotFound
from helpline.platform.db import UnitOfWork
from helpline.types import Id, Strict

widgets = ChatWidget.__table__
FIELD_TYPES = ("text", "email", "textarea")


class PrechatField(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    label: str = Field(min_length=1, max_length=100)
    type: str = "text"
    required: bool = False


class WidgetWrite(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    allowed_origins: list[str] | None = Field(default=None, max_length=50)
    theme: dict[str, str] | None = None
    greeting: str | None = Field(default=None, max_length=500)
    locale: str | None = Field(default=None, max_length=16)
    texts: dict[str, dict[str, str]] | None = None
    prechat_fields: list[PrechatField] | None = Field(default=None, max_length=10)
    max_chats_per_agent: int | None = Field(default=None, ge=1, le=50)
    schedule: dict[str, list[list[str]]] | None = None
    timezone: str | None = None
    group_id: Id | None = None
    enabled: bool | None = None
    answer_bot: bool | None = None


DEFAULT_FIELDS = [
    {"name": "name", "label": "Name", "type": "text", "required": False},
    {"name": "email", "label": "Email", "type": "email", "required": False},
]


def _origin(o: str) -> str:
    o = o.strip().rstrip("/")
    if not o.startswith(("https://", "http://")) or "/" in o.split("://", 1)[1] or len(o) > 300:
        raise Invalid("allowed_origins", f"{o!r} is not an origin like https://shop.example")
    return o


async def _check(uow: UnitOfWork, ws: int, data: WidgetWrite) -> dict[str, Any]:
    given = data.model_dump(exclude_unset=True)
    if "allowed_origins" in given:
        given["allowed_origins"] = sorted({_origin(o) for o in given["allowed_origins"] or []})
    if "prechat_fields" in given:
        # exclude_unset drops the fields' own defaults (e.g. type); dump them whole.
        given["prechat_fields"] = [f.model_dump() for f in data.prechat_fields or []]
        for f in given["prechat_fields"]:
            if f["type"] not in FIELD_TYPES:
                raise Invalid("prechat_fields", f"type must be one of {', '.join(FIELD_TYPES)}")
    if given.get("schedule") is not None:
        try:
            given["schedule"] = availability.check_schedule(given["schedule"])
        except ValueError as exc:
            raise Invalid("schedule", str(exc)) from exc
    if given.get("timezone") is not None:
        try:
            ZoneInfo(given["timezone"])
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise Invalid("timezone", "not a zoneinfo time zone") from exc
    if given.get("group_id") is not None:
        await tickets_service.check_group(uow, ws, given["group_id"])
    if "theme" in given:
        theme = given["theme"] or {}
        colour = theme.get("colour", "")
        if colour and not (
            len(colour) == 7
            and colour.startswith("#")
            and all(c in "0123456789abcdefABCDEF" for c in colour[1:])
        ):
            raise Invalid("theme", "colour is #rrggbb")
        if theme.get("position", "right") not in ("right", "left"):
            raise Invalid("theme", "position is right or left")
        if theme.get("logo_url") and not str(theme["logo_url"]).startswith("https://"):
            raise Invalid("theme", "logo_url must be https://")
    return {k: v for k, v in given.items() if v is not None or k in ("group_id",)}


async def create(uow: UnitOfWork, actor: Principal, data: WidgetWrite) -> int:
    require_admin(actor)
    values = await _check(uow, actor.workspace_id, data)
    values.setdefault("name", "Chat")
    values.setdefault("prechat_fields", DEFAULT_FIELDS)
    return int(
        (
            await uow.execute(
                widgets.insert()
                .values(
                    workspace_id=actor.workspace_id,
                    key=secrets.token_urlsafe(12),
                    identity_secret=secrets.token_urlsafe(32),
                    allowed_origins=values.pop("allowed_origins", []),
                    theme=values.pop("theme", {}),
                    greeting=values.pop("greeting", "Hi! How can we help?"),
                    locale=values.pop("locale", "en"),
                    texts=values.pop("texts", {}),
                    schedule=values.pop("schedule", {}),
                    timezone=values.pop("timezone", "UTC"),
                    max_chats_per_agent=values.pop("max_chats_per_agent", 3),
                    enabled=values.pop("enabled", True),
                    answer_bot=values.pop("answer_bot", True),
                    created_at=utcnow(),
                    **values,
                )
                .returning(widgets.c.id)
            )
        ).scalar_one()
    )


async def update(uow: UnitOfWork, actor: Principal, widget_id: int, data: WidgetWrite) -> None:
    require_admin(actor)
    row = await get(uow.conn, actor, widget_id)
    values = await _check(uow, actor.workspace_id, data)
    if values:
        await uow.execute(widgets.update().where(widgets.c.id == widget_id).values(**values))
    queries.forget_widget(row["key"])


async def get(conn: Any, actor: Principal, widget_id: int) -> dict[str, Any]:
    require_admin(actor)
    row = (
        (
            await conn.execute(
                sa.select(widgets).where(
                    widgets.c.id == widget_id, widgets.c.workspace_id == actor.workspace_id
                )
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"widget {widget_id} not found")
    return dict(row)


async def list_all(conn: Any, actor: Principal) -> list[dict[str, Any]]:
    require_admin(actor)
    rows = await conn.execute(
        sa.select(widgets).where(widgets.c.workspace_id == actor.workspace_id).order_by(widgets.c.id)
    )
    return [dict(r) for r in rows.mappings()]
