"""Zendesk's ticket export: the tickets of the Support API (``/api/v2/tickets``, or the incremental
export), each with its ``comments`` (the Ticket Comments API) and ``audits`` (the Ticket Audits API),
and the ``users`` (``groups``, ``organizations``) they name, side-loaded. docs/import.md shows the
shape; ``tests/integration/tickets/fixtures/zendesk_export.json`` is an example.

A file is one JSON object ``{"tickets": [...], "users": [...], "groups": [...],
"organizations": [...]}``, or NDJSON: one ticket per line, and lines such as ``{"users": [...]}``
carrying the side-loads.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from helpline.domains.tickets.importers import ExportError

STATUS = {"hold": "on-hold"}
#: ``via.channel`` values (Zendesk's Via object) to Helpline's channels; others are ``api``.
CHANNEL = {
    "email": "email",
    "web": "web",
    "web_form": "web",
    "web_widget": "web",
    "mobile": "web",
    "mobile_sdk": "web",
    "help_center": "portal",
    "chat": "chat",
    "native_messaging": "chat",
    "voice": "phone",
    "phone": "phone",
    "sms": "sms",
    "whatsapp": "whatsapp",
    "twitter": "social",
    "facebook": "social",
    "instagram_dm": "social",
    "api": "api",
}
SIDELOADS = ("users", "groups", "organizations")


def _channel(obj: Mapping[str, Any] | None) -> str:
    via = obj.get("via") if isinstance(obj, Mapping) else None
    name = via.get("channel") if isinstance(via, Mapping) else None
    return CHANNEL.get(str(name or "api"), "api")


class _Names:
    def __init__(self, side: Mapping[str, list[dict[str, Any]]]) -> None:
        self.users = {u.get("id"): u for u in side.get("users", []) if isinstance(u, Mapping)}
        self.groups = {g.get("id"): g.get("name") for g in side.get("groups", []) if isinstance(g, Mapping)}
        self.orgs = {
            o.get("id"): o.get("name") for o in side.get("organizations", []) if isinstance(o, Mapping)
        }

    def person(self, user_id: Any) -> dict[str, Any]:
        user = self.users.get(user_id) or {}
        return {"email": user.get("email"), "name": user.get("name") or ""}

    def is_staff(self, user_id: Any) -> bool:
        return str((self.users.get(user_id) or {}).get("role")) in ("agent", "admin")


def _item(t: Mapping[str, Any], names: _Names) -> dict[str, Any]:
    channel = _channel(t)
    requester = t.get("requester_id")
    messages = []
    for c in t.get("comments") or []:
        author = c.get("author_id")
        staff = author != requester and (names.is_staff(author) or author not in names.users)
        message: dict[str, Any] = {
            "author_kind": "agent" if staff else "customer",
            "author": names.person(author) if author in names.users else None,
            "public": bool(c.get("public", True)) or not staff,
            "channel": _channel(c) if c.get("via") else channel,
            "created_at": c.get("created_at"),
        }
        if c.get("html_body"):
            message["body_html"] = c["html_body"]
        else:
            message["body_text"] = c.get("plain_body") or c.get("body") or ""
        messages.append(message)
    if not messages and t.get("description"):
        messages.append(
            {
                "author_kind": "customer",
                "channel": channel,
                "created_at": t.get("created_at"),
                "body_text": t["description"],
            }
        )
    changes = []
    for audit in t.get("audits") or []:
        for e in audit.get("events") or []:
            if (
                e.get("type") in ("Create", "Change")
                and e.get("field_name") == "status"
                and e.get("value") != "new"
            ):
                value = str(e.get("value"))
                changes.append({"at": audit.get("created_at"), "status": STATUS.get(value, value)})
    status = str(t.get("status") or "open")
    assignee = names.person(t.get("assignee_id")).get("email") if t.get("assignee_id") else None
    return {
        "source_id": str(t.get("id", "")),
        "subject": t.get("subject") or t.get("raw_subject") or "",
        "created_at": t.get("created_at"),
        "status": STATUS.get(status, status),
        "priority": t.get("priority") or "normal",
        "type": t.get("type"),
        "channel": channel,
        "requester": names.person(requester),
        "organization": names.orgs.get(t.get("organization_id")),
        "group": names.groups.get(t.get("group_id")),
        "assignee": assignee,
        "tags": list(t.get("tags") or []),
        "messages": messages,
        "status_changes": changes,
    }


def _parse(text: str) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    side: dict[str, list[dict[str, Any]]] = {k: [] for k in SIDELOADS}
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        whole = None
    if isinstance(whole, Mapping):
        if not isinstance(whole.get("tickets"), list):
            raise ExportError('not a Zendesk export: a JSON file holds {"tickets": [...], "users": [...]}')
        for k in SIDELOADS:
            side[k] = [x for x in whole.get(k) or [] if isinstance(x, dict)]
        return [t for t in whole["tickets"] if isinstance(t, dict)], side
    tickets: list[dict[str, Any]] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ExportError(f"not JSON or NDJSON: line {n}: {exc.msg}") from None
        if not isinstance(obj, Mapping):
            raise ExportError(f"not a Zendesk export: line {n} is not an object")
        if any(k in obj for k in SIDELOADS) and "id" not in obj:
            for k in SIDELOADS:
                side[k] += [x for x in obj.get(k) or [] if isinstance(x, dict)]
        else:
            tickets.append(dict(obj.get("ticket", obj)))
    return tickets, side


def read(path: Path, *, limit: int | None = None) -> list[dict[str, Any]]:
    """The export's tickets as import items, in file order (at most ``limit``)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ExportError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    tickets, side = _parse(text)
    names = _Names(side)
    return [_item(t, names) for t in tickets[:limit]]
