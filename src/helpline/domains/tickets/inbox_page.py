"""The ticket list pane of the console's three-pane workspace (views | list | ticket): what the inbox
and the ticket page both show of the list the agent is working through, read from the list's own
query parameters (``view``, filters, ``sort``, ``cursor`` / ``before``), so a ticket's URL carries its
list and next/previous never lose the agent's place."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from helpline.db.base import utcnow
from helpline.domains.accounts.principal import Principal
from helpline.domains.tickets import queries, sla_display
from helpline.domains.tickets.models import Priority, Status
from helpline.domains.tickets.page_reads import (
    COUNT_CAP,
    _saved_views,
    agents_of,
    builtin_views,
    filters_from,
    groups_for,
    next_breaches,
    people_names,
    requester_names,
    view_counts,
)
from helpline.errors import NotFound, Problem

PAGE = 25
#: The query parameters that say which list is shown (and nothing about the ticket beside it).
LIST_KEYS = (
    "view",
    "status",
    "priority",
    "assignee_id",
    "group_id",
    "unassigned",
    "tag",
    "q",
    "sla",
    "sort",
    "cursor",
    "before",
)
SORTS = (
    "-updated_at",
    "updated_at",
    "-created_at",
    "created_at",
    "-id",
    "id",
    "-number",
    "number",
    "next_breach",
)


class Params:
    """A read-only multi-valued view of query parameters (what ``filters_from`` reads)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs

    def get(self, key: str, default: str | None = None) -> str | None:
        return next((v for k, v in self.pairs if k == key), default)

    def getlist(self, key: str) -> list[str]:
        return [v for k, v in self.pairs if k == key]


def list_pairs(pairs: Any) -> list[tuple[str, str]]:
    """The list's own parameters among ``pairs`` (a query string's items), in order."""
    return [(k, v) for k, v in pairs if k in LIST_KEYS and v != ""]


def list_query_of(query: str) -> str:
    """The list part of a query string (``view=…&sort=…``), for links that keep the agent's place."""
    return urlencode(list_pairs(parse_qsl(query, keep_blank_values=False)))


def referer_list_query(referer: str | None) -> str:
    """The list part of the page a form was posted from (same origin only: the referrer policy is
    ``same-origin``), for writes whose form did not carry it."""
    if not referer:
        return ""
    parts = urlsplit(referer)
    if not (parts.path.startswith("/tickets/") or parts.path.startswith("/inbox")):
        return ""
    return list_query_of(parts.query)


def list_query_for(request: Any) -> str:
    """The list a ticket page shows beside the ticket: its own URL's list parameters, or for a form
    re-rendered after a post, those of the page the form was on."""
    own = list_query_of(request.url.query)
    if own or request.method == "GET":
        return own
    return referer_list_query(request.headers.get("referer"))


def ticket_url(request: Any, ticket_id: int, extra: str = "") -> str:
    """``/tickets/<id>`` with the list the agent is working through (and ``extra`` parameters)."""
    query = "&".join(p for p in (list_query_for(request), extra) if p)
    return f"/tickets/{ticket_id}" + (f"?{query}" if query else "")


def _flip(sort: str) -> str:
    return sort[1:] if sort.startswith("-") else f"-{sort}"


async def list_context(platform: Any, conn: Any, actor: Principal, query: Any) -> dict[str, Any]:
    """Everything the views and list panes show for the list whose parameters are ``query`` (a
    request's ``QueryParams`` or :class:`Params`)."""
    view_key = query.get("view") or "mine"
    group_names = await groups_for(conn, actor)
    views = builtin_views(actor, group_names) + await _saved_views(conn, actor)
    current = next((v for v in views if v["key"] == view_key), None)
    if current is None:
        raise NotFound("no such view")
    given = filters_from(query)
    f = {**current["filters"], **{k: v for k, v in given.items() if v}}
    if "tag" in f:
        f["tags"] = f.pop("tag")
    sort = query.get("sort") or current.get("sort") or f.get("sort") or "-updated_at"
    sort = sort if sort in SORTS else "-updated_at"
    q = f.pop("q", None)
    f.pop("sort", None)
    effective = sort if not q else "-id"
    cursor, before = query.get("cursor") or None, query.get("before") or None
    col = effective.lstrip("-")
    prev_cursor: str | None = None
    try:
        if before:
            rows, more = await queries.list_tickets(
                conn, actor, dialect=platform.db.dialect, filters=f, q=q, sort=_flip(effective),
                cursor=before, limit=PAGE,
            )  # fmt: skip
            rows.reverse()
            next_cursor = queries.encode_cursor(effective, rows[-1][col], rows[-1]["id"]) if rows else None
            prev_cursor = (
                queries.encode_cursor(_flip(effective), rows[0][col], rows[0]["id"])
                if more and rows
                else None
            )
        else:
            rows, next_cursor = await queries.list_tickets(
                conn, actor, dialect=platform.db.dialect, filters=f, q=q, sort=effective,
                cursor=cursor, limit=PAGE,
            )  # fmt: skip
            if cursor and rows:
                prev_cursor = queries.encode_cursor(_flip(effective), rows[0][col], rows[0]["id"])
    except Problem:
        rows, next_cursor, prev_cursor = [], None, None
    counts = await view_counts(platform, conn, actor, views)
    names = await people_names(conn, actor, {r["assignee_id"] for r in rows if r.get("assignee_id")})
    requesters = await requester_names(conn, {r["requester_id"] for r in rows if r.get("requester_id")})
    agents = await agents_of(conn, actor)
    tag_map = await queries.tags_of(conn, [r["id"] for r in rows])
    snoozed = await queries.snoozes_of(conn, [r["id"] for r in rows])
    now = utcnow()
    sla_of = sla_display.list_views(await next_breaches(conn, actor, [r["id"] for r in rows]), now)
    pairs = list_pairs(query.pairs if isinstance(query, Params) else query.multi_items())
    base = [(k, v) for k, v in pairs if k not in ("cursor", "before")]
    ascending = not effective.startswith("-")
    return {
        "views": views,
        "view": current,
        "rows": rows,
        "next_url": f"?{urlencode([*base, ('cursor', next_cursor)])}" if next_cursor else None,
        "prev_url": f"?{urlencode([*base, ('before', prev_cursor)])}" if prev_cursor else None,
        # Which way the pages go: "Older" follows the newest-first sorts, "Newer" the oldest-first;
        # by next breach, "Later" due times follow the sooner ones.
        "next_label": "Later" if col == "next_breach" else "Newer" if ascending else "Older",
        "prev_label": "Sooner" if col == "next_breach" else "Older" if ascending else "Newer",
        "counts": counts,
        "names": names,
        "requesters": requesters,
        "agents": agents,
        "groups": group_names,
        "tag_map": tag_map,
        "snoozed": snoozed,
        "sla_of": sla_of,
        "sort": sort,
        "q": q or "",
        "filters": f,
        "count_cap": COUNT_CAP,
        "statuses": [s.value for s in Status],
        "priorities": [p.value for p in Priority],
        "query": urlencode(pairs),
        "view_key": view_key,
    }


def neighbours(
    rows: list[dict[str, Any]], ticket_id: int
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The tickets before and after ``ticket_id`` on the list's page (None at either end, or when
    the ticket is not on it)."""
    ids = [r["id"] for r in rows]
    if ticket_id not in ids:
        return None, None
    i = ids.index(ticket_id)
    return (rows[i - 1] if i > 0 else None), (rows[i + 1] if i + 1 < len(rows) else None)
