"""Console pages of the chat channel: ``/chats`` (status, the queue, my chats) and ``/chats/{ticket id}``
(the live conversation: reply or note, transfer, close), and the admins' widget pages
(``admin_views``). Every action is a form that works without JavaScript; ``static/widget/agent.js``
makes them live over ``/chat/agent/ws``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from helpline.domains.accounts.principal import Principal
from helpline.domains.automation import render as canned_render
from helpline.domains.channels.chat import admin_views, console, queries, routing, service
from helpline.domains.tickets import queries as ticket_queries
from helpline.domains.tickets.page_reads import groups_for
from helpline.web import pages
from helpline.web.deps import PlatformDep
from helpline.web.pages import StaffPage, redirect
from helpline.web.templating import render, viewer_timezone

router = APIRouter(include_in_schema=False)
router.include_router(admin_views.router)  # /admin/chat-widgets


async def _console_page(request: Request, platform: Any, actor: Principal) -> None:
    """Every console page: the agent is present for chats, and the navigation shows the chat count."""
    await console.page_seen(platform, actor)
    async with platform.db.read() as conn:
        request.state.nav = {"chats": await console.nav_counts(conn, actor)}


pages.STAFF_PAGE_HOOKS.append(_console_page)


@router.get("/chats/count")
async def nav_count(request: Request, actor: StaffPage) -> HTMLResponse:
    """The navigation's chat count, asked every 20 s by the page (htmx): it also keeps the agent
    present for chats while a console page is open."""
    return render(request, "chat/_nav_count.html", {"nav": request.state.nav})


@router.get("/chats")
async def chats(request: Request, actor: StaffPage, platform: PlatformDep) -> HTMLResponse:
    async with platform.db.read() as conn:
        rows = await queries.chats_for_agent(conn, actor.workspace_id, actor.user_id)
        status = await queries.agent_status(conn, actor.workspace_id, actor.user_id)
    queued = [r for r in rows if r["state"] == "queued"]
    mine = [r for r in rows if r["state"] == "active"]
    return render(
        request, "chat/chats.html", {"title": "Chats", "queued": queued, "mine": mine, "status": status}
    )


@router.post("/chats/status")
async def set_status(actor: StaffPage, platform: PlatformDep, status: Annotated[str, Form()]) -> Response:
    await routing.set_status(platform, actor, status)
    return redirect("/chats")


@router.post("/chats/{ticket_id}/accept")
async def accept(ticket_id: int, actor: StaffPage, platform: PlatformDep) -> Response:
    await routing.accept(platform, actor, ticket_id)
    return redirect(f"/chats/{ticket_id}")


@router.get("/chats/{ticket_id}")
async def chat(
    request: Request, ticket_id: int, actor: StaffPage, platform: PlatformDep, canned: str = ""
) -> HTMLResponse:
    async with platform.db.read() as conn:
        ticket = await ticket_queries.access_ticket(conn, actor, ticket_id)
        session = await queries.session_by_ticket(conn, ticket_id)
        backlog = await queries.backlog(conn, ticket_id, 0, public_only=False, limit=1000)
        agents = await queries.workspace_agents(conn, actor.workspace_id)
        groups = await groups_for(conn, actor)
        panel = await console.customer_panel(conn, actor, ticket, session, platform.db.dialect)
    last = backlog[-1]["seq"] if backlog else 0
    for m in backlog:
        m["created_at"] = datetime.fromisoformat(m["at"])
    name = console.visitor_name(panel)
    # Without JavaScript, "Insert" reloads the page with the canned response in the message box.
    chosen = next((c for c in panel["canned"] if str(c["id"]) == canned), None)
    draft = ""
    if chosen is not None:
        customer = {"name": name, "email": panel["visitor"]["email"] or (panel["contact"] or {}).get("email")}
        draft = canned_render.fill(chosen["body"], customer=customer, ticket=ticket, agent=actor)
    return render(
        request,
        "chat/chat.html",
        {
            "title": f"Chat with {name} (#{ticket['number']})",
            "visitor_name": name,
            "panel": panel,
            "draft": draft,
            "tz": viewer_timezone({"actor": actor, "brand": request.state.brand}),
            "ticket": ticket,
            "session": session,
            "messages": backlog,
            "last_seq": last,
            "agents": [a for a in agents if a["id"] != actor.user_id],
            "groups": groups,
        },
    )


@router.post("/chats/{ticket_id}/send")
async def send(
    ticket_id: int,
    actor: StaffPage,
    platform: PlatformDep,
    body: Annotated[str, Form()],
    note: Annotated[str, Form()] = "",
    cid: Annotated[str, Form()] = "",
) -> Response:
    await service.agent_send(platform, actor, ticket_id, cid or None, body, public=not note)
    return redirect(f"/chats/{ticket_id}")


@router.post("/chats/{ticket_id}/transfer")
async def transfer(
    ticket_id: int, actor: StaffPage, platform: PlatformDep, to: Annotated[str, Form()]
) -> Response:
    kind, _, ident = to.partition(":")
    if kind == "agent" and ident.isdigit():
        await routing.transfer(platform, actor, ticket_id, agent_id=int(ident))
    elif kind == "group" and ident.isdigit():
        await routing.transfer(platform, actor, ticket_id, group_id=int(ident))
    return redirect("/chats")


@router.post("/chats/{ticket_id}/close")
async def close(ticket_id: int, actor: StaffPage, platform: PlatformDep) -> Response:
    await routing.end(platform, actor.workspace_id, ticket_id, actor)
    return redirect("/chats")
