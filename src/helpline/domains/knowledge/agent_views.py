"""Agent-side knowledge pages: insights (top searches, content gaps, least helpful articles, deflection
over time), suggested articles for a ticket (an HTML fragment the ticket page can load), and "create
an article from this ticket"."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from helpline.db.base import utcnow
from helpline.domains.knowledge import bot, queries, search, service
from helpline.domains.portal.queries import workspace_slug
from helpline.domains.tickets import queries as ticket_queries
from helpline.web.deps import PlatformDep
from helpline.web.pages import StaffPage, public_url, redirect
from helpline.web.templating import render
from helpline.web.types import IdPath

router = APIRouter(include_in_schema=False)


async def _ticket_text(conn: Any, actor: Any, ticket_id: int) -> tuple[dict[str, Any], str, str]:
    """(ticket, its first message, its last public agent reply) as text; 404 if the agent may not see it."""
    ticket = await ticket_queries.access_ticket(conn, actor, ticket_id)
    msgs, _ = await ticket_queries.list_messages(conn, actor, ticket_id, after_id=None, limit=200)
    first = msgs[0]["body_text"] if msgs else ""
    replies = [m for m in msgs if m.get("public") and m.get("author_kind", m.get("kind")) != "customer"]
    return ticket, first or "", (replies[-1]["body_text"] if len(msgs) > 1 and replies else "")


@router.get("/kb/suggest-for-ticket/{ticket_id}")
async def suggest_for_ticket(
    request: Request, ticket_id: IdPath, actor: StaffPage, platform: PlatformDep
) -> Response:
    """Articles for a ticket (internal ones included: agents may quote them in notes), each with buttons
    that put a link or an excerpt into the reply box (``static/kb-ticket.js``), and the answer bot's
    suggested reply. One search serves both: the staff search over every language, and the bot's
    customer view of it (public articles, English first) by ``search.narrow``, not a second search."""
    async with platform.db.read() as conn:
        ticket, first, _ = await _ticket_text(conn, actor, ticket_id)
        text = f"{ticket['subject']}. {first[:400]}"
        found = await search.search(
            conn, actor.workspace_id, text, customer=False, locale=None, limit=5, min_overlap=2
        )
        # The bot's suggested reply for an email (or any) ticket: public articles only, since it is
        # written to the customer, citing the article; None below the bot's threshold.
        reply = await bot.answer(
            conn,
            actor.workspace_id,
            text,
            threshold=platform.settings.kb_bot_threshold,
            found=await search.narrow(conn, found, locale="en", limit=3),
        )
        slug = await workspace_slug(conn, actor.workspace_id)
    base = public_url(request)
    hits = [
        {
            "hit": h,
            "public_url": f"{base}{search.article_url(slug or '', h)}" if h.visibility == "public" else "",
            "passage": " ".join(h.text.split())[:600],
        }
        for h in found.hits
    ]
    return render(
        request,
        "knowledge/_ticket_suggestions.html",
        {"hits": hits, "ticket_id": ticket_id, "mode": found.mode, "reply": reply, "base": base},
    )


@router.post("/kb/from-ticket/{ticket_id}")
async def article_from_ticket(ticket_id: IdPath, actor: StaffPage, platform: PlatformDep) -> Response:
    async with platform.db.read() as conn:
        ticket, first, reply = await _ticket_text(conn, actor, ticket_id)
    answer = reply.strip() or "Write the answer here."
    body = f"## The question\n\n{first.strip()}\n\n## The answer\n\n{answer}\n"
    async with platform.db.transaction() as uow:
        aid = await service.do_create_article(
            uow,
            actor,
            service.ArticleInput(
                ticket["subject"][:300] or f"Ticket {ticket_id}",
                body,
                visibility="internal",
                note=f"from ticket {ticket_id}",
            ),
            source_ticket_id=ticket_id,
        )
    return redirect(f"/kb/articles/{aid}?saved=1")


@router.get("/kb/insights")
async def insights(request: Request, actor: StaffPage, platform: PlatformDep, days: int = 30) -> Response:
    days = max(1, min(days, 365))
    since = utcnow() - timedelta(days=days)
    ws = actor.workspace_id
    async with platform.db.read() as conn:
        top = await queries.top_searches(conn, ws, since)
        gaps = await queries.search_gaps(conn, ws, since)
        least = await queries.least_helpful(conn, ws)
        weeks = await queries.deflection_by_week(conn, ws, since)
    return render(
        request,
        "knowledge/kb_insights.html",
        {
            "title": "Knowledge insights",
            "top": top,
            "gaps": gaps,
            "least": least,
            "weeks": weeks,
            "days": days,
        },
    )
