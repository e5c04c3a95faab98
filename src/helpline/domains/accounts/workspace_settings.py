"""A workspace's settings: its name, branding (display name, primary colour, logo), time zone and languages.

They live in the ``workspaces.settings`` JSON column (the name in ``workspaces.name``). Pages read them
through :func:`helpline.web.pages.brand_of`, which checks each value again before use. Only admins
change them. A logo is a PNG, JPEG, GIF or WebP image, recognised by its first bytes (never by the
name or type the browser sent); SVG is refused because it can carry script.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.domains.accounts import audit
from helpline.domains.accounts.models import Workspace
from helpline.domains.accounts.principal import Principal
from helpline.errors import Forbidden, Invalid, NotFound
from helpline.platform.db import UnitOfWork
from helpline.web.pages import LOGO_TYPES

workspaces: sa.Table = Workspace.__table__

MAX_LOGO = 512 * 1024
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
MAX_LANGUAGES = 30


@dataclass(frozen=True)
class SettingsInput:
    """Settings as an admin typed them."""

    name: str
    display_name: str
    primary_colour: str
    timezone: str
    languages: str


async def read(conn: AsyncConnection, actor: Principal) -> dict[str, Any]:
    """The actor's workspace: ``name``, ``slug`` and its settings with their defaults filled in."""
    row = (
        await conn.execute(
            sa.select(workspaces.c.name, workspaces.c.slug, workspaces.c.settings).where(
                workspaces.c.id == actor.workspace_id
            )
        )
    ).first()
    if row is None:
        raise NotFound("workspace not found")
    s = dict(row.settings or {})
    return {
        "name": row.name,
        "slug": row.slug,
        "display_name": s.get("display_name") or "",
        "primary_colour": s.get("primary_colour") or "",
        "timezone": s.get("timezone") or "UTC",
        "languages": list(s.get("languages") or ["en"]),
        "logo_sha256": s.get("logo_sha256"),
        "logo_type": s.get("logo_type"),
    }


def check_admin(actor: Principal) -> None:
    if not actor.is_admin:
        raise Forbidden("only admins change the workspace's settings")


def check_settings(actor: Principal, data: SettingsInput) -> dict[str, Any]:
    """The cleaned values, or :class:`Invalid` naming the field at fault."""
    check_admin(actor)
    name = data.name.strip()
    if not name:
        raise Invalid("name", "enter the workspace's name")
    if len(name) > 200:
        raise Invalid("name", "at most 200 characters")
    display = data.display_name.strip()
    if len(display) > 200:
        raise Invalid("display_name", "at most 200 characters")
    colour = data.primary_colour.strip()
    if colour and not _COLOUR.match(colour):
        raise Invalid("primary_colour", "a colour as #rrggbb, for example #1d4ed8")
    tz = data.timezone.strip() or "UTC"
    try:
        if tz not in available_timezones() and tz != "UTC":
            raise ZoneInfoNotFoundError(tz)
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid("timezone", f"{tz!r} is not a time zone; use a name such as Europe/Paris") from None
    langs: list[str] = []
    for code in re.split(r"[\s,]+", data.languages.strip()):
        if not code:
            continue
        if not _LANGUAGE.match(code):
            raise Invalid("languages", f"{code!r} is not a language code such as en, fr or pt-BR")
        if code not in langs:
            langs.append(code)
    if not langs:
        raise Invalid("languages", "give at least one language code, such as en")
    if len(langs) > MAX_LANGUAGES:
        raise Invalid("languages", f"at most {MAX_LANGUAGES} languages")
    return {
        "name": name,
        "display_name": display,
        "primary_colour": colour.lower(),
        "timezone": tz,
        "languages": langs,
    }


async def _merge(
    uow: UnitOfWork, workspace_id: int, changes: dict[str, Any], name: str | None = None
) -> None:
    row = (await uow.execute(sa.select(workspaces.c.settings).where(workspaces.c.id == workspace_id))).first()
    if row is None:
        raise NotFound("workspace not found")
    merged = {**(row.settings or {}), **changes}
    values: dict[str, Any] = {"settings": {k: v for k, v in merged.items() if v not in (None, "")}}
    if name is not None:
        values["name"] = name
    await uow.execute(workspaces.update().where(workspaces.c.id == workspace_id).values(**values))


async def do_update_settings(uow: UnitOfWork, actor: Principal, data: SettingsInput) -> None:
    clean = check_settings(actor, data)
    name = clean.pop("name")
    await _merge(uow, actor.workspace_id, clean, name=name)
    await _audit(uow, actor, ["name", *clean])


def logo_type(data: bytes) -> str | None:
    """The image type of ``data`` from its first bytes, if it is one a logo may be."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def check_logo(actor: Principal, data: bytes) -> str:
    """The logo's type, or :class:`Invalid` (empty, too large, not PNG/JPEG/GIF/WebP, SVG)."""
    check_admin(actor)
    if not data:
        raise Invalid("logo", "choose an image file")
    if len(data) > MAX_LOGO:
        raise Invalid("logo", f"at most {MAX_LOGO // 1024} KB")
    kind = logo_type(data)
    if kind is None or kind not in LOGO_TYPES:
        raise Invalid("logo", "a PNG, JPEG, GIF or WebP image (SVG is not accepted)")
    return kind


async def do_set_logo(uow: UnitOfWork, actor: Principal, sha256: str, kind: str) -> None:
    """Point the workspace at a logo already stored (``platform.storage.put``) and checked by
    :func:`check_logo`."""
    check_admin(actor)
    if kind not in LOGO_TYPES or not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise Invalid("logo", "not a stored image")
    await _merge(uow, actor.workspace_id, {"logo_sha256": sha256, "logo_type": kind})
    await _audit(uow, actor, ["logo"])


async def do_remove_logo(uow: UnitOfWork, actor: Principal) -> None:
    check_admin(actor)
    await _merge(uow, actor.workspace_id, {"logo_sha256": None, "logo_type": None})
    await _audit(uow, actor, ["logo"])


async def _audit(uow: UnitOfWork, actor: Principal, keys: list[str]) -> None:
    await audit.record(
        uow, "settings.changed", workspace_id=actor.workspace_id, actor=actor, detail={"fields": sorted(keys)}
    )
