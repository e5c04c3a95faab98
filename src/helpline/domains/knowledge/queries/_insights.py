"""The insights page's figures (``/kb/insights``), counted by the database: the page reads a few rows
of totals, never the search log or the deflection events themselves, however many there are."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.db.base import UTCDateTime

#: ``YYYY-Www``, the ISO week of an event's UTC time as ``datetime.isocalendar`` names it. SQLite (before
#: 3.46, no ``%G``/``%V``) takes the week's Thursday, whose year is the ISO year and whose day of the
#: year gives the week.
_ISO_WEEK = {
    "postgresql": """to_char(created_at AT TIME ZONE 'UTC', 'IYYY-"W"IW')""",
    "sqlite": "strftime('%Y', date(created_at, '-3 days', 'weekday 4')) || '-W' || printf('%02d', "
    "(CAST(strftime('%j', date(created_at, '-3 days', 'weekday 4')) AS INTEGER) - 1) / 7 + 1)",
}

#: Per ISO week, each visit once: whether it saw a suggestion or a bot answer (or said one solved it),
#: was solved, was abandoned, became a request or a hand-over; then the visits of the week counted.
_DEFLECTION = """
SELECT week,
       sum(seen) AS visits,
       sum(seen * solved) AS solved,
       sum(seen * abandoned * (1 - escalated)) AS abandoned,
       sum(seen * escalated) AS escalated,
       sum(seen * CASE WHEN solved = 1 OR (abandoned = 1 AND escalated = 0) THEN 1 ELSE 0 END) AS deflected
FROM (
    SELECT {week} AS week, visit,
           max(CASE WHEN kind IN ('shown', 'bot_answered', 'solved') THEN 1 ELSE 0 END) AS seen,
           max(CASE WHEN kind = 'solved' THEN 1 ELSE 0 END) AS solved,
           max(CASE WHEN kind = 'abandoned' THEN 1 ELSE 0 END) AS abandoned,
           max(CASE WHEN kind IN ('submitted', 'handover') THEN 1 ELSE 0 END) AS escalated
    FROM kb_deflection_events
    WHERE workspace_id = :ws AND created_at >= :since
    GROUP BY week, visit
) AS per_visit
GROUP BY week
ORDER BY week
"""


async def _rows(
    conn: AsyncConnection, sql: str, ws: int, since: datetime | None = None
) -> list[dict[str, Any]]:
    stmt = sa.text(sql)
    params: dict[str, Any] = {"ws": ws}
    if since is not None:
        stmt = stmt.bindparams(sa.bindparam("since", type_=UTCDateTime()))
        params["since"] = since
    return [dict(r) for r in (await conn.execute(stmt, params)).mappings()]


#: The most frequent searches of a period, lower-cased (``{gaps}``: only those that found nothing).
_FREQUENT = (
    "SELECT lower(query) AS query, count(*) AS n{average} FROM kb_search_log "
    "WHERE workspace_id = :ws AND created_at >= :since{gaps} GROUP BY lower(query) "
    "ORDER BY n DESC, query LIMIT 20"
)


async def top_searches(conn: AsyncConnection, workspace_id: int, since: datetime) -> list[dict[str, Any]]:
    """The 20 most frequent searches since ``since``: ``query`` (lower case), ``n``, ``results`` (mean)."""
    sql = _FREQUENT.format(average=", avg(results) AS results", gaps="")
    return await _rows(conn, sql, workspace_id, since)


async def search_gaps(conn: AsyncConnection, workspace_id: int, since: datetime) -> list[dict[str, Any]]:
    """The 20 most frequent searches since ``since`` that found nothing: ``query``, ``n``."""
    return await _rows(conn, _FREQUENT.format(average="", gaps=" AND results = 0"), workspace_id, since)


async def least_helpful(conn: AsyncConnection, workspace_id: int) -> list[dict[str, Any]]:
    """The 10 articles readers found least helpful (smoothed share of "yes"), with their counters."""
    return await _rows(
        conn,
        "SELECT a.id, t.title, a.helpful_yes, a.helpful_no, a.view_count FROM kb_articles a "
        "JOIN kb_translations t ON t.article_id = a.id AND t.locale = a.default_locale "
        "WHERE a.workspace_id = :ws AND a.helpful_yes + a.helpful_no > 0 "
        "ORDER BY (a.helpful_yes * 1.0 + 1) / (a.helpful_yes + a.helpful_no + 2), "
        "a.helpful_no DESC LIMIT 10",
        workspace_id,
    )


async def deflection_by_week(
    conn: AsyncConnection, workspace_id: int, since: datetime
) -> list[dict[str, Any]]:
    """Per ISO week (oldest first): ``visits`` that saw a suggestion or a bot answer, how many ended
    ``solved`` or ``abandoned`` (left without a request), how many were ``escalated`` (became a
    request or a hand-over), and ``rate``: the share deflected (solved, or left without a request), in
    percent. A week with events but no such visit has zeros."""
    sql = _DEFLECTION.format(week=_ISO_WEEK[conn.dialect.name])
    out = []
    for r in await _rows(conn, sql, workspace_id, since):
        visits, deflected = int(r["visits"]), int(r["deflected"])
        out.append(
            {
                "week": r["week"],
                "visits": visits,
                "solved": int(r["solved"]),
                "abandoned": int(r["abandoned"]),
                "escalated": int(r["escalated"]),
                "rate": round(100 * deflected / visits, 1) if visits else 0.0,
            }
        )
    return out
