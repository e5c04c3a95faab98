"""Console routes that join or part tickets, from the ticket page: merge (after a confirmation
step), split a message off, link two tickets. Each goes back to a ticket with the agent's list."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from helpline.domains.tickets import queries, relations
from helpline.domains.tickets.inbox_page import list_query_for, ticket_url
from helpline.domains.tickets.models import LinkKind
from helpline.domains.tickets.page_reads import forget_counts
from helpline.domains.tickets.ticket_page import _page
from helpline.domains.tickets.ticket_views import Text, _id
from helpline.domains.tickets.views import ticket_id_by_number
from helpline.domains.tickets.workspace_views import confirm_page
from helpline.errors import Problem
from helpline.web.deps import PlatformDep
from helpline.web.pages import StaffPage, redirect

router = APIRouter(include_in_schema=False)


@router.post("/tickets/{ticket_id}/merge")
async def merge(
    request: Request,
    ticket_id: int,
    actor: StaffPage,
    platform: PlatformDep,
    target: Text = "",
    confirm: Text = "",
) -> Response:
    """Merge this ticket into ticket number ``target``, after a confirmation step (a page that
    posts again with ``confirm=1``)."""
    ticket_id = _id(ticket_id)
    try:
        target_id = await ticket_id_by_number(platform, actor, target)
        if confirm != "1":
            async with platform.db.read() as conn:
                source = await queries.access_ticket(conn, actor, ticket_id)
                dest = await queries.access_ticket(conn, actor, target_id)
            return confirm_page(
                request,
                title="Merge this ticket?",
                sentence=f"Merge #{source['number']} “{source['subject']}” into #{dest['number']} "
                f"“{dest['subject']}”? Its messages move there and #{source['number']} is closed. "
                "This cannot be undone.",
                action=f"/tickets/{ticket_id}/merge?{list_query_for(request)}",
                fields=[("target", target)],
                button="Merge",
                cancel=ticket_url(request, ticket_id),
            )
        async with platform.db.transaction() as uow:
            source = await queries.access_ticket(uow.conn, actor, ticket_id)
            dest = await queries.access_ticket(uow.conn, actor, target_id)
            await relations.merge(uow, platform.pubsub, actor, source, dest)
    except Problem as exc:
        return await _page(
            request, actor, platform, ticket_id, status=exc.status, errors={"_relations": exc.detail}
        )
    await forget_counts(platform, actor)
    return redirect(ticket_url(request, target_id))


@router.post("/tickets/{ticket_id}/split")
async def split(
    request: Request,
    ticket_id: int,
    actor: StaffPage,
    platform: PlatformDep,
    message_id: Text = "",
    subject: Text = "",
) -> Response:
    ticket_id = _id(ticket_id)
    try:
        if not message_id.isdigit():
            raise Problem("choose a message to split off", status=422)
        async with platform.db.transaction() as uow:
            ticket = await queries.access_ticket(uow.conn, actor, ticket_id)
            new_id = await relations.split(
                uow, platform.pubsub, actor, ticket, int(message_id), subject.strip() or None
            )
    except Problem as exc:
        return await _page(
            request, actor, platform, ticket_id, status=exc.status, errors={"_relations": exc.detail}
        )
    await forget_counts(platform, actor)
    return redirect(ticket_url(request, new_id))


@router.post("/tickets/{ticket_id}/links")
async def link(
    request: Request,
    ticket_id: int,
    actor: StaffPage,
    platform: PlatformDep,
    target: Text = "",
    kind: Text = "related",
) -> Response:
    ticket_id = _id(ticket_id)
    try:
        target_id = await ticket_id_by_number(platform, actor, target)
        if kind not in {k.value for k in LinkKind}:
            raise Problem("choose a kind of link", status=422)
        async with platform.db.transaction() as uow:
            source = await queries.access_ticket(uow.conn, actor, ticket_id)
            dest = await queries.access_ticket(uow.conn, actor, target_id)
            await relations.link(uow, actor, source, dest, LinkKind(kind))
    except Problem as exc:
        return await _page(
            request, actor, platform, ticket_id, status=exc.status, errors={"_relations": exc.detail}
        )
    return redirect(ticket_url(request, ticket_id))
