"""Portal pages of a signed-in customer: their requests (and their organization's, where it shares), a
form for a new one, the conversation of one with a reply form, and attachment downloads.

Every read goes through the tickets domain's queries with the customer as the actor, so what they may
see is decided in one place; every write goes through its service.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from helpline.domains.portal import account_views, auth, queries, service
from helpline.domains.portal.common import AnonPortal, CustomerVisit, Visit, files_of, theme_css
from helpline.domains.tickets import fields, lifecycle
from helpline.domains.tickets import queries as ticket_queries
from helpline.domains.tickets import service as tickets
from helpline.domains.tickets.models import Channel, Status
from helpline.domains.tickets.schemas import MessageCreate, TicketCreate
from helpline.errors import Conflict, NotFound, Problem
from helpline.web.deps import PlatformDep
from helpline.web.downloads import Gone, stored_file
from helpline.web.pages import redirect
from helpline.web.templating import render
from helpline.web.types import IdPath

router = APIRouter(include_in_schema=False)
router.include_router(auth.router)
router.include_router(account_views.router)  # /portal/<slug>/profile, a request's "Mark as solved"

PAGE_SIZE = 25
#: What a customer reads for each status: the team's internal states mean nothing to them.
STATUS_TEXT = {
    Status.new: "Open",
    Status.open: "Open",
    Status.on_hold: "Open",
    Status.pending: "Awaiting your reply",
    Status.solved: "Solved",
    Status.closed: "Closed",
}
_SUBJECT_ERRORS = {
    "subject": "Enter a subject of at most 500 characters.",
    "body": "Describe your request (at most 200,000 characters).",
}


def _page(
    request: Request, visit: Visit, name: str, ctx: dict[str, Any], *, status: int = 200
) -> HTMLResponse:
    return render(
        request,
        f"portal/{name}.html",
        {"portal": visit.portal, "status_text": STATUS_TEXT, **ctx},
        status=status,
    )


def _not_found(request: Request, visit: Visit) -> HTMLResponse:
    return _page(request, visit, "not_found", {"title": "Request not found"}, status=404)


def _known(errors: dict[str, str], names: set[str]) -> dict[str, str]:
    """Errors of fields the form has stay by them; any other shows above the form."""
    out: dict[str, str] = {}
    for key, message in errors.items():
        out.setdefault(key if key in names else "_", message)
    return out


@router.get("/portal/{slug}/theme.css")
async def theme(portal: AnonPortal, request: Request) -> Response:
    return Response(
        theme_css(request.state.brand.get("primary_colour")),
        media_type="text/css",
        headers={"Cache-Control": "max-age=60"},
    )


@router.get("/portal/{slug}/requests")
async def my_requests(
    request: Request,
    visit: CustomerVisit,
    platform: PlatformDep,
    scope: Annotated[str, Query(pattern="^(mine|organization)$")] = "mine",
    q: Annotated[str, Query(max_length=200)] = "",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    actor = visit.actor
    if scope == "organization" and actor.shared_organization_id is None:
        return redirect(visit.portal.url("/requests"))
    # "Mine": what this customer sees without their organization's sharing (requested or copied on).
    viewer = actor if scope == "organization" else dataclasses.replace(actor, shared_organization_id=None)
    filters = {"organization_id": actor.shared_organization_id} if scope == "organization" else {}
    try:
        async with platform.db.read() as conn:
            rows, next_cursor = await ticket_queries.list_tickets(
                conn,
                viewer,
                dialect=platform.db.dialect,
                filters=filters,
                q=q.strip() or None,
                sort=None,
                cursor=cursor,
                limit=PAGE_SIZE,
            )
            requesters = await queries.contact_names(
                conn, actor.workspace_id, [r["requester_id"] for r in rows]
            )
            org = await queries.organization_name(conn, actor.shared_organization_id)
    except Problem:  # a cursor that is not one of ours: start again
        return redirect(visit.portal.url(f"/requests?scope={scope}"))
    title = f"{org or 'My organization'}\u2019s requests" if scope == "organization" else "My requests"
    return _page(
        request,
        visit,
        "requests",
        {
            "title": title,
            "rows": rows,
            "next_cursor": next_cursor,
            "scope": scope,
            "q": q,
            "requesters": requesters,
            "created": request.query_params.get("created"),
        },
    )


async def _new_form(
    request: Request,
    visit: Visit,
    platform: Any,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    async with platform.db.read() as conn:
        defs = await fields.definitions(conn, visit.actor.workspace_id)
    visible = [d for d in defs.values() if d["customer_visible"]]
    return _page(
        request,
        visit,
        "new_request",
        {
            "title": "Submit a request",
            "custom_fields": visible,
            "values": values or {},
            "errors": errors or {},
            "field_name": service.field_name,
        },
        status=status,
    )


@router.get("/portal/{slug}/requests/new")
async def new_request_form(request: Request, visit: CustomerVisit, platform: PlatformDep) -> Response:
    return await _new_form(request, visit, platform)


@router.post("/portal/{slug}/requests/new")
async def new_request(request: Request, visit: CustomerVisit, platform: PlatformDep) -> Response:
    form = await request.form()
    try:
        return await _create(request, visit, platform, form)
    finally:
        await form.close()  # its uploaded files' temporary files


async def _create(request: Request, visit: Visit, platform: Any, form: FormData) -> Response:
    actor = visit.actor
    async with platform.db.read() as conn:
        defs = await fields.definitions(conn, actor.workspace_id)
    subject, body = str(form.get("subject") or ""), str(form.get("body") or "")
    values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    names = {"subject", "body", "attachments", *(service.field_name(k) for k in defs)}
    try:
        data = TicketCreate(
            subject=subject, body=body, channel=Channel.web, custom_fields=service.custom_values(defs, form)
        )
    except ValidationError as exc:
        errors = {
            str(e["loc"][0]): _SUBJECT_ERRORS.get(str(e["loc"][0]), e["msg"])
            for e in exc.errors()
            if e["loc"]
        }
        return await _new_form(
            request, visit, platform, values=values, errors=_known(errors, names), status=422
        )
    try:
        async with platform.db.transaction() as uow:
            tokens = await service.store_files(uow, platform, actor, files_of(form))
            ticket_id = await tickets.create_ticket(
                uow, platform.pubsub, actor, data.model_copy(update={"attachments": tokens})
            )
    except Problem as exc:
        errors = _known(service.form_errors(exc), names)
        if "attachments" not in errors and files_of(form):
            errors["attachments"] = "Choose the files again."
        return await _new_form(request, visit, platform, values=values, errors=errors, status=exc.status)
    return redirect(visit.portal.url(f"/requests/{ticket_id}?created=1"))


async def _request_page(
    request: Request,
    visit: Visit,
    platform: Any,
    ticket_id: int,
    *,
    errors: dict[str, str] | None = None,
    body: str = "",
    flash: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    actor = visit.actor
    try:
        async with platform.db.read() as conn:
            ticket = await ticket_queries.access_ticket(conn, actor, ticket_id)
            conversation: list[dict[str, Any]] = []
            after = None
            while True:  # the whole conversation, a page at a time
                page, more = await ticket_queries.list_messages(
                    conn, actor, ticket_id, after_id=after, limit=100
                )
                conversation += page
                if more is None or len(conversation) >= 2000:
                    break
                after = int(more)
            names = await queries.author_names(conn, actor.workspace_id, conversation)
            requester = await queries.contact_names(conn, actor.workspace_id, [ticket["requester_id"]])
            defs = await fields.definitions(conn, actor.workspace_id)
    except NotFound:
        return _not_found(request, visit)
    shown = fields.visible_values(defs, ticket["custom"] or {}, customer=True)
    custom = [(defs[k]["label"], shown[k], defs[k]["type"]) for k in defs if k in shown]
    # Customers never get internal notes from list_messages; this guard keeps it so if that changes.
    conversation = [m for m in conversation if m["public"]]
    return _page(
        request,
        visit,
        "request",
        {
            "title": ticket["subject"],
            "ticket": ticket,
            "messages": conversation,
            "names": names,
            "custom": custom,
            "requester": requester.get(ticket["requester_id"], ""),
            "errors": errors or {},
            "body": body,
            # Only what is true: the portal's requests are answered here (no email goes to the customer).
            "flash": flash
            or ("Your request is sent. We will reply here." if request.query_params.get("created") else None)
            or account_views.FLASHES.get(request.query_params.get("done", "")),
            "can_reply": lifecycle.customer_may_write(ticket["status"]),
            "can_solve": ticket["requester_id"] == actor.contact_id
            and ticket["status"] not in (Status.solved, Status.closed),
        },
        status=status,
    )


@router.get("/portal/{slug}/requests/{ticket_id}")
async def request_page(
    request: Request, ticket_id: IdPath, visit: CustomerVisit, platform: PlatformDep
) -> Response:
    return await _request_page(request, visit, platform, ticket_id)


@router.post("/portal/{slug}/requests/{ticket_id}/reply")
async def reply(request: Request, ticket_id: IdPath, visit: CustomerVisit, platform: PlatformDep) -> Response:
    form = await request.form()
    try:
        return await _reply(request, ticket_id, visit, platform, form)
    finally:
        await form.close()


async def _reply(request: Request, ticket_id: int, visit: Visit, platform: Any, form: FormData) -> Response:
    actor = visit.actor
    body = str(form.get("body") or "")
    if not body.strip():
        return await _request_page(
            request, visit, platform, ticket_id, errors={"body": "Write your reply."}, status=422
        )
    try:
        data = MessageCreate(body=body)
        async with platform.db.transaction() as uow:
            ticket = await ticket_queries.access_ticket(uow.conn, actor, ticket_id)
            tokens = await service.store_files(uow, platform, actor, files_of(form))
            await tickets.add_message(
                uow,
                platform.pubsub,
                actor,
                ticket,
                data.model_copy(update={"attachments": tokens}),
                channel=Channel.web.value,
            )
    except NotFound:
        return _not_found(request, visit)
    except ValidationError:
        return await _request_page(
            request,
            visit,
            platform,
            ticket_id,
            body=body,
            status=422,
            errors={"body": "Write at most 200,000 characters."},
        )
    except Conflict as exc:
        return await _request_page(request, visit, platform, ticket_id, errors={"_": exc.detail}, status=409)
    except Problem as exc:
        return await _request_page(
            request,
            visit,
            platform,
            ticket_id,
            body=body,
            status=exc.status,
            errors=_known(service.form_errors(exc), {"body", "attachments"}),
        )
    return redirect(visit.portal.url(f"/requests/{ticket_id}#latest"))


@router.get("/portal/{slug}/attachments/{attachment_id}")
async def download(
    request: Request, attachment_id: IdPath, visit: CustomerVisit, platform: PlatformDep
) -> Response:
    try:
        async with platform.db.read() as conn:
            row = await ticket_queries.access_attachment(conn, visit.actor, attachment_id)
    except NotFound:
        return _page(request, visit, "not_found", {"title": "File not found"}, status=404)
    # Served as a download of an inert type: nothing a customer uploads can run on this origin.
    try:
        return await stored_file(platform, row["sha256"], row["filename"])
    except Gone:
        return _page(request, visit, "not_found", {"title": "File not found"}, status=410)
