"""One ticket's console page: everything its template shows, gathered in one read, for the routes of
``ticket_views`` (a page, or the same page again with a form's errors)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.responses import HTMLResponse

from helpline.db.base import utcnow
from helpline.domains.accounts.principal import Principal
from helpline.domains.automation import queries as canned_queries
from helpline.domains.customers import queries as customer_queries
from helpline.domains.tickets import channel_port, fields, queries, sla_display
from helpline.domains.tickets.api import render_detail
from helpline.domains.tickets.compose_page import compose_context
from helpline.domains.tickets.inbox_page import Params, list_context, list_query_for, neighbours
from helpline.domains.tickets.models import LinkKind, Priority, Status, TicketType
from helpline.domains.tickets.page_reads import agents_of, groups_for, people_names, requester_names
from helpline.domains.tickets.workspace_views import remember_tab, tabs_of
from helpline.errors import NotFound, Problem
from helpline.web.templating import render

MAX_MESSAGES = 500


async def _page(
    request: Request,
    actor: Principal,
    platform: Any,
    ticket_id: int,
    *,
    status: int = 200,
    **extra: Any,
) -> HTMLResponse:
    async with platform.db.read() as conn:
        ticket = await render_detail(conn, actor, ticket_id)
        msgs, _ = await queries.list_messages(conn, actor, ticket_id, after_id=None, limit=MAX_MESSAGES)
        # What the ticket's channels add (chat: a link to the live chat; email: each message's mail).
        parts = await channel_port.page_parts(
            platform.db, conn, channel_port.TicketPage(actor, ticket, msgs, request.query_params)
        )
        events, _ = await queries.list_events(conn, actor, ticket_id, after_id=None, limit=200)
        user_ids = {m["author_user_id"] for m in msgs if m["author_user_id"]} | {
            e["actor_user_id"] for e in events if e["actor_user_id"]
        }
        if ticket["assignee_id"]:
            user_ids.add(ticket["assignee_id"])
        people = await people_names(conn, actor, user_ids)
        contact_ids = {m["author_contact_id"] for m in msgs if m["author_contact_id"]} | {
            ticket["requester_id"]
        }
        contacts = await requester_names(conn, contact_ids)
        try:
            customer = await customer_queries.contact_detail(conn, actor, ticket["requester_id"])
        except Problem:
            customer = None
        org = None
        if ticket["organization_id"]:
            try:
                org = await customer_queries.organization_detail(conn, actor, ticket["organization_id"])
            except Problem:
                org = None
        others, _ = await queries.list_tickets(
            conn,
            actor,
            dialect=platform.db.dialect,
            filters={"requester_id": [ticket["requester_id"]]},
            q=None,
            sort="-created_at",
            cursor=None,
            limit=10,
        )
        defs = await fields.definitions(conn, actor.workspace_id)
        all_groups = await groups_for(conn, actor, all_groups=True)
        agents = await agents_of(conn, actor)
        canned = await canned_queries.canned_for(conn, actor)
        # The list pane beside the ticket: the list the agent came from (its URL's parameters).
        list_query = list_query_for(request)
        try:
            listing = await list_context(platform, conn, actor, Params(parse_qsl(list_query)))
        except NotFound:
            list_query = ""
            listing = await list_context(platform, conn, actor, Params([]))
        composing = await compose_context(
            conn, actor, ticket, msgs, events, parts, people, contacts, all_groups
        )
    prev_ticket, next_ticket = neighbours(listing["rows"], ticket_id)
    timeline = sorted(
        [
            {
                "at": t["created_at"],
                "what": f"#{t['number']} {t['subject']}",
                "channel": t["channel"],
                "id": t["id"],
                "status": t["status"],
            }
            for t in others
        ],
        key=lambda x: x["at"],
        reverse=True,
    )
    last_id = msgs[-1]["id"] if msgs else 0
    ctx = {
        **listing,
        "list_query": list_query,
        "list_suffix": f"?{list_query}" if list_query else "",
        "prev_ticket": prev_ticket,
        "next_ticket": next_ticket,
        "current_id": ticket_id,
        "tabs": await _tabs(request, platform, actor, ticket),
        "title": f"#{ticket['number']} {ticket['subject']}",
        "ticket": ticket,
        "sla_targets": [sla_display.target_view(t, utcnow()) for t in ticket.get("sla") or []],
        "messages": msgs,
        "parts": parts,
        "events": events,
        "people": people,
        "contacts": contacts,
        "customer": customer,
        "org": org,
        "timeline": timeline,
        "defs": defs,
        "groups": all_groups,
        "agents": agents,
        "canned": canned,
        "last_message_id": last_id,
        "statuses": [s.value for s in Status],
        "priorities": [p.value for p in Priority],
        "types": [t.value for t in TicketType],
        "link_kinds": [k.value for k in LinkKind],
        "errors": {},
        "draft": "",
        "draft_public": actor.can_reply_publicly,
    }
    ctx.update(composing)
    if "draft" not in extra and composing["saved_draft"]:  # what this agent typed last, on any device
        ctx["draft"] = composing["saved_draft"]["body"]
        ctx["draft_public"] = composing["saved_draft"]["public"] and actor.can_reply_publicly
    ctx.update(extra)
    template = extra.pop("template", "tickets/ticket.html")
    response = render(request, template, ctx, status=status, headers=parts.headers or None)
    remember_tab(request, response, actor, ticket_id)
    return response


async def _tabs(
    request: Request, platform: Any, actor: Principal, ticket: dict[str, Any]
) -> list[dict[str, Any]]:
    """The agent's tab strip, with this ticket in it (first, when it was not open yet)."""
    tabs = await tabs_of(request, platform, actor)
    if all(t["id"] != ticket["id"] for t in tabs):
        tabs.insert(0, {k: ticket[k] for k in ("id", "number", "subject", "status")})
    return tabs
