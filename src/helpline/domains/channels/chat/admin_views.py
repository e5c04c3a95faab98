"""Admin pages for chat widgets: ``/admin/chat-widgets`` (list, create) and ``/admin/chat-widgets/{id}``
(every setting the API has, as a form, with the embedding snippet). Writes go through
:mod:`~helpline.domains.channels.chat.widgets`, the same checks as ``/api/v1/chat/widgets``.

Form formats, for the fields the API takes as structures: allowed origins one per line; pre-chat
fields one per line as ``key | Label | type | required``; opening hours one day per line as
``mon 09:00-12:00 13:00-17:30``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from helpline.domains.accounts.admin_views import FLASHES, AdminPage
from helpline.domains.accounts.principal import Principal
from helpline.domains.channels.chat import availability, widgets
from helpline.domains.tickets.page_reads import groups_for
from helpline.errors import Invalid, Problem
from helpline.web.deps import PlatformDep
from helpline.web.forms import errors_of, flash_of, form_of
from helpline.web.pages import public_url, redirect
from helpline.web.templating import render
from helpline.web.types import IdPath

router = APIRouter(include_in_schema=False)
LOCALES = [("en", "English"), ("fr", "French"), ("de", "German")]
POSITIONS = [("right", "Bottom right"), ("left", "Bottom left")]
FIELDS = {
    "name", "allowed_origins", "greeting", "locale", "colour", "position", "logo_url", "prechat_fields",
    "group_id", "max_chats_per_agent", "schedule", "timezone",
}  # fmt: skip


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def prechat_from_text(text: str) -> list[dict[str, Any]]:
    """``key | Label | type | required`` per line (type and required optional)."""
    out = []
    for line in _lines(text):
        parts = [p.strip() for p in line.split("|")]
        if len(parts) < 2 or not parts[0] or not parts[1]:
            raise Invalid("prechat_fields", f"{line!r}: write key | Label | type | required")
        required = len(parts) > 3 and parts[3].lower() in ("required", "yes", "true", "1")
        out.append(
            {"name": parts[0], "label": parts[1], "type": (parts[2] if len(parts) > 2 else "") or "text"}
            | {"required": required}
        )
    return out


def prechat_to_text(fields: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"{f['name']} | {f['label']} | {f.get('type', 'text')}" + (" | required" if f.get("required") else "")
        for f in fields or []
    )


def schedule_from_text(text: str) -> dict[str, list[list[str]]]:
    """``mon 09:00-12:00 13:00-17:30`` per line; an empty text is always open."""
    out: dict[str, list[list[str]]] = {}
    for line in _lines(text):
        day, *spans = line.split()
        day = day.lower()[:3]
        if day not in availability.DAYS or not spans:
            raise Invalid(
                "schedule", f"{line!r}: write a day ({', '.join(availability.DAYS)}) and HH:MM-HH:MM"
            )
        for span in spans:
            start, sep, end = span.partition("-")
            if not sep:
                raise Invalid("schedule", f"{span!r}: write HH:MM-HH:MM")
            out.setdefault(day, []).append([start, end])
    try:
        return availability.check_schedule(out)
    except ValueError as exc:
        raise Invalid("schedule", str(exc)) from exc


def schedule_to_text(schedule: dict[str, list[list[str]]]) -> str:
    return "\n".join(
        f"{day} " + " ".join(f"{a}-{b}" for a, b in schedule[day])
        for day in availability.DAYS
        if schedule and day in schedule
    )


def _write(form: dict[str, Any]) -> widgets.WidgetWrite:
    """The form as the API's body (its validation applies); raises Invalid or ValidationError."""
    theme = {"position": str(form.get("position") or "right")}
    if form.get("colour"):
        theme["colour"] = str(form["colour"]).strip()
    if form.get("logo_url"):
        logo = str(form["logo_url"]).strip()
        if not logo.startswith("https://"):
            raise Invalid("logo_url", "the logo must be an https:// address")
        theme["logo_url"] = logo
    group = str(form.get("group_id") or "").strip()
    per_agent = str(form.get("max_chats_per_agent") or "").strip()
    if per_agent and not (per_agent.isdigit() and len(per_agent) <= 3):
        raise Invalid("max_chats_per_agent", "a whole number from 1 to 50")
    if group and not (group.isdigit() and len(group) <= 18):
        raise Invalid("group_id", "pick a group from the list")
    return widgets.WidgetWrite(
        name=str(form.get("name") or "").strip(),
        allowed_origins=_lines(str(form.get("allowed_origins") or "")),
        theme=theme,
        greeting=str(form.get("greeting") or ""),
        locale=str(form.get("locale") or "en"),
        prechat_fields=prechat_from_text(str(form.get("prechat_fields") or "")),
        max_chats_per_agent=int(per_agent) if per_agent else 3,
        schedule=schedule_from_text(str(form.get("schedule") or "")),
        timezone=str(form.get("timezone") or "UTC").strip(),
        group_id=int(group) if group.isdigit() else None,
        enabled=form.get("enabled") == "on",
        answer_bot=form.get("answer_bot") == "on",
    )


def _form_errors(exc: Exception) -> dict[str, str]:
    """The API's errors placed on the form's fields (the theme's are the colour's; any other, on top)."""
    out: dict[str, str] = {}
    for key, message in errors_of(exc).items():
        key = "colour" if key == "theme" else key
        out.setdefault(key if key in FIELDS else "_", message)
    return out


def _values(w: dict[str, Any]) -> dict[str, Any]:
    theme = w.get("theme") or {}
    return {
        "name": w["name"],
        "allowed_origins": "\n".join(w.get("allowed_origins") or []),
        "colour": theme.get("colour", ""),
        "position": theme.get("position", "right"),
        "logo_url": theme.get("logo_url", ""),
        "greeting": w.get("greeting", ""),
        "locale": w.get("locale", "en"),
        "prechat_fields": prechat_to_text(w.get("prechat_fields") or []),
        "max_chats_per_agent": w.get("max_chats_per_agent", 3),
        "schedule": schedule_to_text(w.get("schedule") or {}),
        "timezone": w.get("timezone", "UTC"),
        "group_id": w.get("group_id") or "",
        "enabled": "on" if w.get("enabled") else "",
        "answer_bot": "on" if w.get("answer_bot") else "",
    }


@router.get("/admin/chat-widgets")
async def widget_list(request: Request, actor: AdminPage, platform: PlatformDep) -> HTMLResponse:
    return await _list(request, actor, platform)


async def _list(
    request: Request,
    actor: Principal,
    platform: Any,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    async with platform.db.read() as conn:
        rows = await widgets.list_all(conn, actor)
    return render(
        request,
        "chat/admin_widgets.html",
        {
            "title": "Chat widgets",
            "widgets": rows,
            "errors": errors or {},
            "values": values or {},
            "flash": flash_of(request, FLASHES),
            "section": "chat",
        },
        status=status,
    )


@router.post("/admin/chat-widgets")
async def create_widget(request: Request, actor: AdminPage, platform: PlatformDep) -> Response:
    form = await form_of(request)
    try:
        data = widgets.WidgetWrite(
            name=str(form.get("name") or "").strip(),
            allowed_origins=_lines(str(form.get("allowed_origins") or "")),
        )
        async with platform.db.transaction() as uow:
            widget_id = await widgets.create(uow, actor, data)
    except (ValidationError, Problem) as exc:
        return await _list(request, actor, platform, _form_errors(exc), form, 422)
    return redirect(f"/admin/chat-widgets/{widget_id}?done=created")


async def _edit(
    request: Request,
    actor: Principal,
    platform: Any,
    widget_id: int,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    async with platform.db.read() as conn:
        w = await widgets.get(conn, actor, widget_id)
        groups = await groups_for(conn, actor, all_groups=True)
    base = public_url(request)
    snippet = f'<script src="{base}/widget.js" data-widget="{w["key"]}" async></script>'
    return render(
        request,
        "chat/admin_widget.html",
        {
            "title": f"Chat widget {w['name']}",
            "widget": w,
            "values": values or _values(w),
            "errors": errors or {},
            "groups": sorted(groups.items(), key=lambda g: g[1]),
            "locales": LOCALES,
            "positions": POSITIONS,
            "snippet": snippet,
            "flash": flash_of(request, FLASHES),
            "section": "chat",
        },
        status=status,
    )


@router.get("/admin/chat-widgets/{widget_id}")
async def widget_page(
    request: Request, widget_id: IdPath, actor: AdminPage, platform: PlatformDep
) -> HTMLResponse:
    return await _edit(request, actor, platform, widget_id)


@router.post("/admin/chat-widgets/{widget_id}")
async def save_widget(
    request: Request, widget_id: IdPath, actor: AdminPage, platform: PlatformDep
) -> Response:
    form = await form_of(request)
    try:
        data = _write(form)
        async with platform.db.transaction() as uow:
            await widgets.update(uow, actor, widget_id, data)
    except (ValidationError, Problem) as exc:
        return await _edit(request, actor, platform, widget_id, _form_errors(exc), form, 422)
    return redirect(f"/admin/chat-widgets/{widget_id}?done=saved")
