"""The console's global search page, ``/search`` (the search itself: ``global_search``)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from helpline.domains.tickets.global_search import PER_PAGE, TABS, search_all, ticket_filters
from helpline.domains.tickets.models import Channel, Status
from helpline.domains.tickets.page_reads import agents_of, groups_for, people_names, requester_names
from helpline.web.deps import PlatformDep
from helpline.web.pages import StaffPage
from helpline.web.templating import render

router = APIRouter(include_in_schema=False)


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
            if not tab:  # the first kind that found something (on page 1 every kind shows its first page)
                tab = next((t.key for t in got["tabs"] if t.total), "tickets")
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
