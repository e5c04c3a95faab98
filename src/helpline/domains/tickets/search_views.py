"""The console's global search, ``/search``: tickets by relevance with highlighted snippets, filters
and pages, and contacts, organizations and knowledge articles, one tab each with its count.

Every part is scoped like the pages it links to: tickets by ``tickets.queries.visible`` (an agent never
sees a ticket, a count or a snippet of a ticket they cannot open), contacts and organizations of the
workspace, published articles of the workspace (internal ones included: agents may read them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from helpline.domains.accounts.principal import Principal
from helpline.domains.customers import search as customer_search
from helpline.domains.knowledge import search as kb_search
from helpline.domains.tickets import queries
from helpline.domains.tickets.models import Channel, Status
from helpline.domains.tickets.page_reads import agents_of, groups_for, people_names, requester_names
from helpline.domains.tickets.queries._ranked import RankedPage, ranked_tickets
from helpline.errors import Problem
from helpline.web.deps import PlatformDep
from helpline.web.pages import StaffPage
from helpline.web.templating import render

router = APIRouter(include_in_schema=False)
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


@router.get("/search")
async def search(
    request: Request,
    actor: StaffPage,
    platform: PlatformDep,
    q: Annotated[str, Query(max_length=500)] = "",
    tab: str = "",
    page: Annotated[int, Query(ge=1, le=1000)] = 1,
) -> HTMLResponse:
    q = q.strip()[:200]
    filters, form, errors = ticket_filters(request.query_params)
    ctx: dict[str, Any] = {"title": f"Search: {q}" if q else "Search", "q": q, "form": form, "errors": errors}
    async with platform.db.read() as conn:
        groups = await groups_for(conn, actor)
        ctx["agents"] = await agents_of(conn, actor)
        ctx["groups"] = sorted(groups.items(), key=lambda g: g[1])
        if q and not errors:
            got = await search_all(conn, actor, platform.db.dialect, q, tab or "tickets", page, filters)
            if not tab:  # the first kind that found something
                tab = next((t.key for t in got["tabs"] if t.total), "tickets")
                if tab != "tickets" and page == 1:
                    got = await search_all(conn, actor, platform.db.dialect, q, tab, page, filters)
            rows = got["found"]["tickets"]
            ctx["requesters"] = await requester_names(conn, {r["requester_id"] for r in rows})
            ctx["assignees"] = await people_names(
                conn, actor, {r["assignee_id"] for r in rows if r["assignee_id"]}
            )
            ctx.update(got)
    tab = tab if tab in TABS else "tickets"
    current = next((t for t in ctx.get("tabs", []) if t.key == tab), None)
    pages = max(1, -(-min(current.total, 1000) // PER_PAGE)) if current else 1
    ctx.update(
        tab=tab,
        page=page,
        pages=pages,
        current=current,
        per_page=PER_PAGE,
        statuses=[s.value for s in Status],
        channels=[c.value for c in Channel],
        filtered=bool(filters),
        qs=urlencode({"q": q, **{k: v for k, v in form.items() if v}}),
    )
    return render(request, "tickets/search.html", ctx)
