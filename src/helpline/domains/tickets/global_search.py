"""Global search across a workspace: tickets by relevance with highlighted snippets (filters, pages),
contacts, organizations and knowledge articles, each kind with its count. Used by the console page
(``search_views``) and the API (``search_api``).

Every part is scoped like the pages it links to: tickets by ``tickets.queries.visible`` (an agent never
sees a ticket, a count or a snippet of a ticket they cannot open), contacts and organizations of the
workspace, published articles of the workspace (internal ones included: agents may read them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from helpline.domains.accounts.principal import Principal
from helpline.domains.customers import search as customer_search
from helpline.domains.knowledge import search as kb_search
from helpline.domains.tickets import queries
from helpline.domains.tickets.models import Channel, Status
from helpline.domains.tickets.queries._ranked import RankedPage, ranked_tickets
from helpline.errors import Problem

PER_PAGE = 25
TABS = ("tickets", "contacts", "organizations", "articles")
ARTICLES_CAP = 40  # the knowledge search's own candidate cap


@dataclass
class Tab:
    key: str
    label: str
    total: int
    capped: bool

    @property
    def count(self) -> str:
        return f"{self.total:,}+" if self.capped else f"{self.total:,}"


def _day(value: str, field: str, errors: dict[str, str]) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=UTC)
    except ValueError:
        errors[field] = "Enter a date as YYYY-MM-DD."
        return None


def ticket_filters(params: Any) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """(filters for ``list_tickets``, the values as given for the form, errors by field)."""
    form = {k: (params.get(k) or "").strip()[:40] for k in (
        "status", "assignee_id", "group_id", "channel", "created_after", "created_before"
    )}  # fmt: skip
    errors: dict[str, str] = {}
    f: dict[str, Any] = {}
    if form["status"]:
        if form["status"] in {s.value for s in Status}:
            f["status"] = [form["status"]]
        else:
            errors["status"] = "Choose a status from the list."
    if form["channel"]:
        if form["channel"] in {c.value for c in Channel}:
            f["channel"] = [form["channel"]]
        else:
            errors["channel"] = "Choose a channel from the list."
    if form["assignee_id"] == "none":
        f["unassigned"] = True
    for key in ("assignee_id", "group_id"):
        value = form[key]
        if value and value != "none":
            if value.isdigit() and int(value) < 2**63:
                f[key] = [int(value)]
            else:
                errors[key] = "Choose from the list."
    after = _day(form["created_after"], "created_after", errors)
    before = _day(form["created_before"], "created_before", errors)
    if after:
        f["created_after"] = after
    if before:
        f["created_before"] = before + timedelta(days=1)  # the whole of that day
    if after and before and before < after:
        errors["created_before"] = "The end date is before the start date."
    return f, form, errors


async def _by_number(conn: Any, actor: Principal, q: str) -> list[dict[str, Any]]:
    """The ticket whose number is ``q`` (``#123`` or ``123``), if the actor may open it."""
    digits = q.lstrip("#")
    if not digits.isdigit() or int(digits) >= 2**63:
        return []
    t = queries.tickets
    rows = await conn.execute(
        sa.select(t).where(
            t.c.workspace_id == actor.workspace_id, t.c.number == int(digits), queries.visible(actor)
        )
    )
    return [dict(r) | {"score": None, "snippet": ""} for r in rows.mappings()]


async def search_all(
    conn: Any, actor: Principal, dialect: str, q: str, tab: str, page: int, filters: dict[str, Any]
) -> dict[str, Any]:
    """Counts of every kind and one page of ``tab``."""
    found: dict[str, Any] = {"tickets": [], "contacts": [], "organizations": [], "articles": []}
    try:
        ranked = await ranked_tickets(
            conn, actor, dialect=dialect, q=q, filters=filters, page=page if tab == "tickets" else 1,
            per_page=PER_PAGE,
        )  # fmt: skip
    except Problem:
        ranked = RankedPage([], 0, False, 1, PER_PAGE)
    exact = await _by_number(conn, actor, q) if page == 1 and not filters else []
    found["tickets"] = exact + [r for r in ranked.rows if r["id"] not in {e["id"] for e in exact}]
    contacts = await customer_search.find_contacts(
        conn, actor, q, page=page if tab == "contacts" else 1, per_page=PER_PAGE
    )
    orgs = await customer_search.find_organizations(
        conn, actor, q, page=page if tab == "organizations" else 1, per_page=PER_PAGE
    )
    articles = await kb_search.search(
        conn, actor.workspace_id, q, customer=False, locale=None, limit=ARTICLES_CAP, mode="lexical"
    )
    start = (page - 1) * PER_PAGE if tab == "articles" else 0
    found["contacts"] = [
        c | {"name_html": customer_search.highlight(c["name"] or c["email"] or f"Contact #{c['id']}", q),
             "email_html": customer_search.highlight(c["email"] or "", q)}
        for c in contacts.rows
    ]  # fmt: skip
    found["organizations"] = [
        o | {"name_html": customer_search.highlight(o["name"], q),
             "domains_html": [customer_search.highlight(d, q) for d in o["domains"]]}
        for o in orgs.rows
    ]  # fmt: skip
    found["articles"] = articles.hits[start : start + PER_PAGE]
    tabs = [
        Tab("tickets", "Tickets", max(ranked.total, len(exact)), ranked.capped),
        Tab("contacts", "Contacts", contacts.total, contacts.capped),
        Tab("organizations", "Organizations", orgs.total, orgs.capped),
        Tab("articles", "Articles", len(articles.hits), len(articles.hits) >= ARTICLES_CAP),
    ]
    return {"found": found, "tabs": tabs, "ranked": ranked}
