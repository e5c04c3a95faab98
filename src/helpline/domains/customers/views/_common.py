"""What the customers pages share: path and query types, flash messages, form helpers, and
the reads the pages need beyond the domain queries."""

from __future__ import annotations

import re
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Query
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.domains.accounts.principal import Principal
from helpline.domains.customers import queries
from helpline.web.types import IdPath

PAGE = 25
TIMELINE = 50
ContactId = IdPath
OrgId = IdPath
Search = Annotated[str, Query(max_length=200)]
Cursor = Annotated[str | None, Query(pattern=r"^\d{1,18}$")]
#: Ticket lists page with the tickets API's opaque cursors (checked by ``list_tickets``: 422 if forged).
TicketCursor = Annotated[str | None, Query(max_length=200)]
#: Messages shown after a redirect, by key (never text from the query string).
FLASHES = {
    "saved": "Saved.",
    "merged": "The contacts are merged.",
    "identity": "Identity added.",
    "removed": "Identity removed.",
    "created": "Created.",
    "erased": "The customer's data is erased.",
}


# --- form helpers ---------------------------------------------------------------------------------


def split_words(text: str) -> list[str]:
    """Tags or domains typed as a list separated by commas, spaces or new lines."""
    return [w for w in re.split(r"[\s,]+", text or "") if w]


def parse_attributes(text: str, current: dict[str, Any]) -> dict[str, Any]:
    """``key: value`` lines. A value that reads the same as the stored one keeps its type (5 stays 5)."""
    out: dict[str, Any] = {}
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep:
            key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not key:
            continue
        old = current.get(key)
        out[key] = old if old is not None and not isinstance(old, str) and _shown(old) == value else value
    return out


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def attributes_text(attrs: dict[str, Any]) -> str:
    return "\n".join(f"{k}: {_shown(v)}" for k, v in sorted((attrs or {}).items()))


def contact_label(c: dict[str, Any]) -> str:
    return str(c.get("name") or c.get("email") or f"Contact #{c['id']}")


# --- reads the pages need beyond the domain queries -------------------------------------------


async def org_names(conn: AsyncConnection, actor: Principal, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    orgs = queries.orgs
    rows = await conn.execute(
        sa.select(orgs.c.id, orgs.c.name).where(orgs.c.id.in_(sorted(ids)), queries.orgs_visible(actor))
    )
    return {r.id: r.name for r in rows}


async def org_choices(conn: AsyncConnection, actor: Principal) -> list[tuple[int, str]]:
    orgs = queries.orgs
    rows = await conn.execute(
        sa.select(orgs.c.id, orgs.c.name).where(queries.orgs_visible(actor)).order_by(orgs.c.name).limit(1000)
    )
    return [(r.id, r.name) for r in rows]
