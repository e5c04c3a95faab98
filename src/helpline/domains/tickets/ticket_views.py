"""Console pages of one ticket: the conversation and composer, properties, customer panel, history,
merge/split/link, print view, and "who else is here" (presence over pub/sub, server-sent events)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, PlainTextResponse, Response, StreamingResponse
from pydantic import ValidationError

from helpline.domains.automation import queries as canned_queries
from helpline.domains.automation import render as canned_render
from helpline.domains.customers import queries as customer_queries
from helpline.domains.tickets import content, fields, queries, service
from helpline.domains.tickets.inbox_page import ticket_url
from helpline.domains.tickets.models import Message
from helpline.domains.tickets.page_reads import forget_counts, requester_names
from helpline.domains.tickets.schemas import MessageCreate, TicketUpdate
from helpline.domains.tickets.ticket_page import _page
from helpline.domains.tickets.views import sse
from helpline.errors import NotFound, Problem
from helpline.web.deps import PlatformDep
from helpline.web.pages import StaffPage, redirect

router = APIRouter(include_in_schema=False)
messages_t = Message.__table__
Text = Annotated[str, Form()]


def _first_name(name: str) -> str:
    return (name or "").split(" ")[0]


@router.get("/tickets/{ticket_id}")
async def ticket_page(
    request: Request, ticket_id: int, actor: StaffPage, platform: PlatformDep
) -> HTMLResponse:
    """The ticket; its channels may read their own query parameters (email: ``?images=<message id>``
    loads that message's remote pictures, for this response only)."""
    return await _page(request, actor, platform, _id(ticket_id))


@router.get("/tickets/{ticket_id}/print")
async def print_view(
    request: Request, ticket_id: int, actor: StaffPage, platform: PlatformDep
) -> HTMLResponse:
    return await _page(request, actor, platform, _id(ticket_id), template="tickets/print.html")


def _id(value: int) -> int:
    if not 0 < value < 2**63:
        raise NotFound("no such ticket")
    return value


@router.post("/tickets/{ticket_id}/messages")
async def post_message(
    request: Request,
    ticket_id: int,
    actor: StaffPage,
    platform: PlatformDep,
    body: Text = "",
    public: Text = "true",
    seen_message_id: Text = "0",
    confirm: Text = "",
    files: Annotated[list[UploadFile], Form()] = [],  # noqa: B006 (FastAPI copies form defaults)
) -> Response:
    ticket_id = _id(ticket_id)
    is_public = public == "true"
    s = platform.settings
    async with platform.db.read() as conn:
        ticket = await queries.access_ticket(conn, actor, ticket_id)
        # Someone wrote while this agent was typing: show it before anything is sent.
        newer = 0
        if not confirm:
            newer = (
                await conn.execute(
                    sa.select(sa.func.count())
                    .select_from(messages_t)
                    .where(
                        messages_t.c.ticket_id == ticket_id,
                        messages_t.c.id > (int(seen_message_id) if seen_message_id.isdigit() else 0),
                    )
                )
            ).scalar_one()
    if newer:
        return await _page(
            request,
            actor,
            platform,
            ticket_id,
            status=409,
            draft=body,
            draft_public=is_public,
            conflict=f"{newer} new message{'s' if newer > 1 else ''} arrived while you were "
            "typing. Read {0} below, then send again.".format("it" if newer == 1 else "them"),
        )
    try:
        data = MessageCreate(body=body, public=is_public, attachments=[])
    except ValidationError:
        return await _page(
            request,
            actor,
            platform,
            ticket_id,
            status=422,
            draft=body,
            draft_public=is_public,
            errors={"body": "Write something before sending."},
        )
    try:
        async with platform.db.transaction() as uow:
            ticket = await queries.access_ticket(uow.conn, actor, ticket_id)
            tokens = []
            for f in files:
                if not f.filename:
                    continue
                raw = await f.read(s.max_attachment_bytes + 1)
                item = await content.store_upload(
                    uow,
                    platform.storage,
                    workspace_id=actor.workspace_id,
                    user_id=actor.user_id,
                    filename=f.filename,
                    content_type=f.content_type,
                    data=raw,
                    max_bytes=s.max_attachment_bytes,
                    blocked=s.blocked_attachment_types,
                )
                tokens.append(item["token"])
            if is_public:  # the agent's signature below a public reply (shown in the composer)
                body = service.with_signature(body, await queries.signature_of(uow.conn, actor))
            data = MessageCreate(body=body, public=is_public, attachments=tokens)
            message_id = await service.add_message(uow, platform.pubsub, actor, ticket, data)
            await service.sent(uow, actor, ticket, message_id, body, public=is_public)
    except Problem as exc:
        return await _page(
            request,
            actor,
            platform,
            ticket_id,
            status=exc.status,
            draft=body,
            draft_public=is_public,
            errors={"body": exc.detail},
        )
    await forget_counts(platform, actor)  # a reply may move the ticket between views (status)
    return redirect(ticket_url(request, ticket_id, "sent=1") + "#composer")


def _form_changes(form: Any, defs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for key in ("status", "priority", "type"):
        if form.get(key):
            changes[key] = form.get(key)
    for key in ("assignee_id", "group_id"):
        value = form.get(key)
        if value is not None:
            changes[key] = int(value) if value.isdigit() else None
    if form.get("tags") is not None:
        changes["tags"] = [t.strip() for t in form.get("tags").split(",") if t.strip()]
    due = form.get("due_at")
    if due is not None:
        changes["due_at"] = datetime.fromisoformat(due + ":00+00:00") if due else None
    custom: dict[str, Any] = {}
    for key, defn in defs.items():
        name = f"cf_{key}"
        if defn["type"] == "checkbox":
            if f"{name}_present" in form:
                custom[key] = name in form
        elif name in form:
            custom[key] = form.get(name) or None
    if custom:
        changes["custom_fields"] = custom
    return changes


@router.post("/tickets/{ticket_id}/properties")
async def update_properties(
    request: Request, ticket_id: int, actor: StaffPage, platform: PlatformDep
) -> Response:
    ticket_id = _id(ticket_id)
    form = await request.form()
    async with platform.db.read() as conn:
        defs = await fields.definitions(conn, actor.workspace_id)
    try:
        changes = _form_changes(form, defs)
        update = TicketUpdate(**changes)
    except (ValueError, ValidationError) as exc:
        field = "properties"
        if isinstance(exc, ValidationError) and exc.errors():
            field = str(exc.errors()[0]["loc"][0])
        return await _page(
            request,
            actor,
            platform,
            ticket_id,
            status=422,
            errors={field: "That value is not valid.", "_props": f"{field}: that value is not valid."},
        )
    version = str(form.get("version") or "")
    try:
        async with platform.db.transaction() as uow:
            ticket = await queries.access_ticket(uow.conn, actor, ticket_id)
            await service.update_ticket(
                uow,
                platform.pubsub,
                actor,
                ticket,
                update,
                if_match=service.etag(int(version)) if version.isdigit() else None,
            )
    except Problem as exc:
        msg = (
            "Someone else changed this ticket while you were editing; the page now shows their change."
            if exc.status == 412
            else exc.detail
        )
        return await _page(request, actor, platform, ticket_id, status=exc.status, errors={"_props": msg})
    await forget_counts(platform, actor)
    return redirect(ticket_url(request, ticket_id, "saved=1"))


@router.get("/tickets/{ticket_id}/canned")
async def canned_text(
    ticket_id: int, actor: StaffPage, platform: PlatformDep, id: int = 0
) -> PlainTextResponse:
    """A canned response with its placeholders filled for this ticket, as plain text for the composer."""
    async with platform.db.read() as conn:
        ticket = await queries.access_ticket(conn, actor, _id(ticket_id))
        found = next((c for c in await canned_queries.canned_for(conn, actor) if c["id"] == id), None)
        if found is None:
            return PlainTextResponse("", status_code=404)
        name = (await requester_names(conn, {ticket["requester_id"]})).get(ticket["requester_id"], "")
        try:
            customer = await customer_queries.contact_detail(conn, actor, ticket["requester_id"])
        except Problem:
            customer = {}
    text = canned_render.fill(
        found["body"],
        customer={
            "name": customer.get("name") or name,
            "first_name": _first_name(customer.get("name") or ""),
            "email": customer.get("email") or "",
        },
        ticket={"number": ticket["number"], "subject": ticket["subject"]},
        agent={"name": actor.name, "first_name": _first_name(actor.name)},
    )
    return PlainTextResponse(text)


# --- who else is here ----------------------------------------------------------------------------


def _live_channel(workspace_id: int, ticket_id: int) -> str:
    return f"ws:{workspace_id}:ticket:{ticket_id}:live"


@router.post("/tickets/{ticket_id}/presence")
async def presence(
    ticket_id: int, actor: StaffPage, platform: PlatformDep, state: Text = "viewing"
) -> Response:
    async with platform.db.read() as conn:
        await queries.access_ticket(conn, actor, _id(ticket_id))
    state = state if state in ("viewing", "typing", "left") else "viewing"
    await platform.pubsub.publish(
        _live_channel(actor.workspace_id, ticket_id),
        {
            "kind": "presence",
            "user_id": actor.user_id,
            "name": actor.name or actor.email,
            "state": state,
            "at": time.time(),
        },
    )
    return Response(status_code=204)


@router.get("/tickets/{ticket_id}/presence")
async def presence_stream(
    request: Request, ticket_id: int, actor: StaffPage, platform: PlatformDep
) -> StreamingResponse:
    """Events for one ticket: agents viewing/typing, a new message (so the composer can warn), and
    ``changed`` for any other ticket change of the workspace (the list pane re-reads what it shows)."""
    async with platform.db.read() as conn:
        await queries.access_ticket(conn, actor, _id(ticket_id))

    def shape(message: dict[str, Any]) -> dict[str, Any] | None:
        if message.get("kind") == "presence":
            return message
        if message.get("ticket_id") == ticket_id and message.get("kind") == "message_added":
            return {"kind": "message", "author_user_id": message.get("user_id")}
        # Any other ticket change: the list pane beside the ticket refreshes (one stream per page,
        # not two: browsers allow few connections per site).
        return {"kind": "changed"}

    return sse(
        request,
        platform,
        actor,
        [_live_channel(actor.workspace_id, ticket_id), f"ws:{actor.workspace_id}:tickets"],
        shape,
    )
