"""The console's "New ticket" page (``/tickets/new``): a ticket on behalf of a contact (found by
search, given by email and name, or pre-filled from the contact's page with ``?requester_id=``), on
any channel (a phone call logged, an email, …), its first message a public reply or an internal
note, with priority, group, assignee and tags. It goes through ``service.create_ticket``, the one
writer; bad input re-renders the form with the error at its field. Works without JavaScript."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from helpline.domains.customers import queries as customer_queries
from helpline.domains.tickets import service
from helpline.domains.tickets.models import Priority
from helpline.domains.tickets.page_reads import agents_of, groups_for
from helpline.domains.tickets.schemas import TicketCreate
from helpline.errors import Forbidden, Problem
from helpline.web.deps import PlatformDep
from helpline.web.forms import errors_of, form_of
from helpline.web.pages import StaffPage, redirect
from helpline.web.templating import render

router = APIRouter(include_in_schema=False)
#: The channels an agent records a ticket as, first the usual one (a call taken on the phone).
CHANNELS = [
    ("phone", "Phone call"),
    ("email", "Email"),
    ("web", "Web form"),
    ("chat", "Chat"),
    ("portal", "Portal"),
    ("sms", "SMS"),
    ("whatsapp", "WhatsApp"),
    ("social", "Social media"),
    ("api", "Other"),
]
FRIENDLY = {
    "subject": "Give the ticket a subject.",
    "body": "Write the first message: what the customer said, or your note.",
    "channel": "Choose a channel.",
}
FIELDS = ("requester_id", "requester_email", "requester_name", "channel", "subject", "body", "public")


async def _form_page(
    request: Request,
    actor: Any,
    platform: Any,
    values: dict[str, Any],
    *,
    errors: dict[str, str],
    status: int = 200,
) -> HTMLResponse:
    if not actor.can_edit_tickets:
        raise Forbidden("light agents cannot create tickets")
    found: list[dict[str, Any]] = []
    chosen = None
    async with platform.db.read() as conn:
        q = str(values.get("contact_q") or "").strip()
        if q:
            found, _ = await customer_queries.list_contacts(
                conn, actor, q=q, organization_id=None, cursor=None, limit=10
            )
        rid = str(values.get("requester_id") or "")
        if rid.isdigit() and 0 < int(rid) < 2**63:
            try:
                chosen = await customer_queries.contact_detail(conn, actor, int(rid))
            except Problem:
                errors.setdefault("requester_id", "That contact does not exist.")
        groups = await groups_for(conn, actor, all_groups=True)
        agents = await agents_of(conn, actor)
    ctx = {
        "title": "New ticket",
        "values": values,
        "errors": errors,
        "found": found,
        "chosen": chosen,
        "channels": CHANNELS,
        "priorities": [(p.value, p.value) for p in Priority],
        "groups": list(groups.items()),
        "agents": agents,
    }
    return render(request, "tickets/new.html", ctx, status=status)


@router.get("/tickets/new")
async def new_ticket_page(request: Request, actor: StaffPage, platform: PlatformDep) -> HTMLResponse:
    """The form; ``?requester_id=`` pre-fills the requester, ``?contact_q=`` searches contacts."""
    values: dict[str, Any] = {"channel": "phone", "public": "false", "priority": "normal"}
    values.update({k: v for k, v in request.query_params.items() if k in (*FIELDS, "contact_q")})
    return await _form_page(request, actor, platform, values, errors={})


def _data(form: dict[str, Any]) -> TicketCreate:
    body: dict[str, Any] = {
        "subject": form.get("subject", ""),
        "body": form.get("body", ""),
        "channel": form.get("channel") or "phone",
        "priority": form.get("priority") or "normal",
        "public": form.get("public") == "true",
        "tags": [t for t in str(form.get("tags", "")).replace(",", " ").split() if t],
    }
    rid = str(form.get("requester_id") or "").strip()
    if rid:
        body["requester_id"] = int(rid) if rid.isdigit() else rid
    elif form.get("requester_email", "").strip():
        body["requester"] = {"email": form["requester_email"].strip(), "name": form.get("requester_name", "")}
    for key in ("group_id", "assignee_id"):
        value = str(form.get(key) or "")
        if value:
            body[key] = int(value) if value.isdigit() else value
    return TicketCreate.model_validate(body)


@router.post("/tickets/new")
async def create_from_console(request: Request, actor: StaffPage, platform: PlatformDep) -> Response:
    form = await form_of(request)
    if form.get("find") is not None:  # the "Find" button of the contact search, without JavaScript
        return await _form_page(request, actor, platform, form, errors={})
    try:
        data = _data(form)
        async with platform.db.transaction() as uow:
            ticket_id = await service.create_ticket(uow, platform.pubsub, actor, data)
    except (ValidationError, Problem) as exc:
        errors = {**errors_of(exc)}
        errors.update({k: FRIENDLY[k] for k in FRIENDLY if k in errors and isinstance(exc, ValidationError)})
        if "requester" in errors and not errors.get("requester_email"):
            errors["requester_email"] = errors.pop("requester")
            if "requester_id" not in form or not form.get("requester_id"):
                errors["requester_email"] = (
                    "Choose a contact, or give the requester's email address."
                    if not form.get("requester_email")
                    else errors["requester_email"]
                )
        status = exc.status if isinstance(exc, Problem) else 422
        return await _form_page(request, actor, platform, form, errors=errors, status=status)
    return redirect(f"/tickets/{ticket_id}?created=1")
