"""Contacts and organizations for the console's global search: best match first, a capped count, pages.

A contact matches when ``q`` is part of its name or of one of its identities (email, phone, handle);
an organization when it is part of its name or one of its domains (case-insensitive). Order: the whole
name, then a name starting with ``q``, then a word of the name starting with ``q``, then the rest;
newest first within each. At most :data:`CAP` are counted ("1,000+" beyond).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.domains.accounts.principal import Principal
from helpline.domains.customers.queries import (
    contacts,
    contacts_visible,
    identities,
    org_domains,
    orgs,
    orgs_visible,
    render_contacts,
    render_organizations,
)

CAP = 1000


@dataclass
class Found:
    rows: list[dict[str, Any]]
    total: int
    capped: bool


def highlight(text: str, q: str) -> Markup:
    """``text`` escaped, each case-insensitive occurrence of ``q`` in <mark>."""
    q = q.strip()
    if not q:
        return Markup(html.escape(text))  # noqa: S704 (escaped)
    out, last = [], 0
    for m in re.finditer(re.escape(q), text, re.IGNORECASE):
        out.append(html.escape(text[last : m.start()]))
        out.append("<mark>" + html.escape(m.group(0)) + "</mark>")
        last = m.end()
    out.append(html.escape(text[last:]))
    return Markup("".join(out))  # noqa: S704 (every piece escaped)


def _has(column: sa.ColumnElement[Any], q: str, dialect: str) -> sa.ColumnElement[bool]:
    """``column`` contains ``q``, case-insensitively: ILIKE on PostgreSQL (which the trigram indexes
    answer; ``lower(x) LIKE`` would not use them); on SQLite, LIKE, which ignores ASCII case itself
    (``lower()`` on every row doubled the time), with ``lower()`` kept for other letters."""
    escaped = q.replace("/", "//").replace("%", "/%").replace("_", "/_")
    if dialect == "sqlite" and q.isascii():
        return column.like(f"%{escaped}%", escape="/")
    return column.ilike(f"%{escaped}%", escape="/")


def _closeness(name: str | None, q: str) -> int:
    n, q = (name or "").lower(), q.lower()
    if n == q:
        return 0
    if n.startswith(q):
        return 1
    if any(word.startswith(q) for word in n.split()):
        return 2
    return 3


def _ranked(rows: list[Any], q: str, page: int, per_page: int) -> tuple[list[int], int, bool]:
    capped = len(rows) > CAP
    rows = rows[:CAP]
    rows.sort(key=lambda r: (_closeness(r[1], q), -r[0]))
    start = (max(1, page) - 1) * per_page
    return [int(r[0]) for r in rows[start : start + per_page]], len(rows), capped


async def find_contacts(
    conn: AsyncConnection, actor: Principal, q: str, *, page: int = 1, per_page: int = 25
) -> Found:
    q = q.strip()
    if not q:
        return Found([], 0, False)
    # Two index lookups (trigram indexes on PostgreSQL, migration 0042) joined, not an OR that would
    # read every contact.
    named = sa.select(contacts.c.id.label("cid")).where(
        contacts.c.workspace_id == actor.workspace_id, _has(contacts.c.name, q, conn.dialect.name)
    )
    by_identity = sa.select(identities.c.contact_id.label("cid")).where(
        identities.c.workspace_id == actor.workspace_id, _has(identities.c.value, q, conn.dialect.name)
    )
    matched = sa.union(named, by_identity).subquery("m")
    stmt = (
        sa.select(contacts.c.id, contacts.c.name)
        .join_from(matched, contacts, contacts.c.id == matched.c.cid)
        .where(contacts_visible(actor), contacts.c.merged_into_id.is_(None))
        .order_by(contacts.c.id.desc())
        .limit(CAP + 1)
    )
    ids, total, capped = _ranked(list((await conn.execute(stmt)).all()), q, page, per_page)
    if not ids:
        return Found([], total, capped)
    rows = {
        r["id"]: dict(r)
        for r in (await conn.execute(sa.select(contacts).where(contacts.c.id.in_(ids)))).mappings()
    }
    shown = await render_contacts(conn, [rows[i] for i in ids if i in rows])
    return Found(shown, total, capped)


async def find_organizations(
    conn: AsyncConnection, actor: Principal, q: str, *, page: int = 1, per_page: int = 25
) -> Found:
    q = q.strip()
    if not q:
        return Found([], 0, False)
    by_domain = sa.select(org_domains.c.organization_id).where(
        org_domains.c.workspace_id == actor.workspace_id, org_domains.c.domain.icontains(q, autoescape=True)
    )
    stmt = (
        sa.select(orgs.c.id, orgs.c.name)
        .where(
            orgs_visible(actor), sa.or_(orgs.c.name.icontains(q, autoescape=True), orgs.c.id.in_(by_domain))
        )
        .order_by(orgs.c.id.desc())
        .limit(CAP + 1)
    )
    ids, total, capped = _ranked(list((await conn.execute(stmt)).all()), q, page, per_page)
    if not ids:
        return Found([], total, capped)
    rows = {
        r["id"]: dict(r) for r in (await conn.execute(sa.select(orgs).where(orgs.c.id.in_(ids)))).mappings()
    }
    shown = await render_organizations(conn, [rows[i] for i in ids if i in rows])
    return Found(shown, total, capped)
