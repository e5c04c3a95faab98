"""``GET /api/v1/search``: the console's global search for API clients (staff only): tickets by
relevance with escaped, highlighted snippets, or contacts, organizations or articles; counts of all
four; filters and pages as on ``/search`` (``search_views.py``, which does the searching)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from helpline.domains.tickets.global_search import PER_PAGE, search_all, ticket_filters
from helpline.domains.tickets.schemas import SearchCount, SearchHit, SearchResults
from helpline.errors import Forbidden, Invalid
from helpline.web.deps import CurrentPrincipal, PlatformDep

router = APIRouter(tags=["search"])


@router.get(
    "/search", response_model=SearchResults, summary="Search tickets, contacts, organizations, articles"
)
async def search(
    request: Request,
    actor: CurrentPrincipal,
    platform: PlatformDep,
    q: Annotated[str, Query(min_length=1, max_length=200, description="Words to find")],
    kind: Annotated[str, Query(pattern="^(tickets|contacts|organizations|articles)$")] = "tickets",
    page: Annotated[int, Query(ge=1, le=40)] = 1,
) -> SearchResults:
    """Tickets: every word must match; best match first (subject before body, then newer); the newest
    1,000 matches are ranked (``capped`` beyond). Filters (tickets): ``status``, ``assignee_id``
    (``none``: unassigned), ``group_id``, ``channel``, ``created_after``, ``created_before``
    (YYYY-MM-DD, both days included). Only what the caller may open is found or counted."""
    if not actor.is_staff:
        raise Forbidden("search is for the team; customers list their own tickets")
    filters, _, errors = ticket_filters(request.query_params)
    if errors:
        field, message = next(iter(errors.items()))
        raise Invalid(field, message)
    async with platform.db.read() as conn:
        got = await search_all(conn, actor, platform.db.dialect, q.strip(), kind, page, filters)
    found = got["found"]
    hits: list[SearchHit] = []
    if kind == "tickets":
        hits = [
            SearchHit(
                kind="ticket", id=t["id"], title=f"#{t['number']} {t['subject']}", url=f"/tickets/{t['id']}",
                snippet=str(t["snippet"]), status=t["status"], score=t["score"],
            )
            for t in found["tickets"]
        ]  # fmt: skip
    elif kind == "contacts":
        hits = [
            SearchHit(kind="contact", id=c["id"], title=c["name"] or c["email"] or f"Contact #{c['id']}",
                      url=f"/contacts/{c['id']}", snippet=str(c["email_html"]))
            for c in found["contacts"]
        ]  # fmt: skip
    elif kind == "organizations":
        hits = [
            SearchHit(kind="organization", id=o["id"], title=o["name"], url=f"/organizations/{o['id']}",
                      snippet=", ".join(str(d) for d in o["domains_html"]))
            for o in found["organizations"]
        ]  # fmt: skip
    else:
        hits = [
            SearchHit(kind="article", id=h.article_id, title=h.title, url=f"/kb/articles/{h.article_id}",
                      snippet=str(h.excerpt))
            for h in found["articles"]
        ]  # fmt: skip
    counts = [SearchCount(kind=t.key, total=t.total, capped=t.capped) for t in got["tabs"]]
    return SearchResults(q=q, kind=kind, page=page, per_page=PER_PAGE, counts=counts, hits=hits)
