"""Console routes of composing on a ticket: the draft's autosave (``composer.js``), snooze and wake,
logging time, and the agent's signature (a card of the profile page). Each form posts and redirects
without JavaScript; bad input re-renders the ticket page with the error at its field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from helpline.db.base import utcnow
from helpline.domains.tickets import queries, service
from helpline.domains.tickets.inbox_page import ticket_url
from helpline.domains.tickets.ticket_page import _page
from helpline.errors import Invalid, NotFound, Problem
from helpline.web.deps import PlatformDep
from helpline.web.pages import StaffPage, redirect
from helpline.web.templating import render

router = APIRouter(include_in_schema=False)
Text = Annotated[str, Form()]
#: The snooze form's choices: how long from now.
SNOOZE_FOR = {
    "1h": timedelta(hours=1),
    "4h": timedelta(hours=4),
    "1d": timedelta(days=1),
    "3d": timedelta(days=3),
    "7d": timedelta(days=7),
}


def _id(value: int) -> int:
    if not 0 < value < 2**63:
        raise NotFound("no such ticket")
    return value


@router.post("/tickets/{ticket_id}/draft")
async def save_draft(
    ticket_id: int, actor: StaffPage, platform: PlatformDep, body: Text = "", public: Text = "true"
) -> Response:
    """The composer's autosave: 204 when kept (or discarded, for an empty body)."""
    async with platform.db.transaction() as uow:
        ticket = await queries.access_ticket(uow.conn, actor, _id(ticket_id))
        await service.save_draft(uow, actor, ticket, body, public=public == "true")
    return Response(status_code=204)


def snooze_time(choice: str, until: str, now: datetime) -> datetime:
    """When the snooze form's answer ends: a preset (``1h`` … ``7d``) or a UTC time (``until``)."""
    if until.strip():
        try:
            value = datetime.fromisoformat(until.strip())
        except ValueError:
            raise Invalid("until", "give a date and time") from None
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if choice in SNOOZE_FOR:
        return now + SNOOZE_FOR[choice]
    raise Invalid("until", "choose how long, or give a date and time")


@router.post("/tickets/{ticket_id}/snooze")
async def snooze(
    request: Request,
    ticket_id: int,
    actor: StaffPage,
    platform: PlatformDep,
    until: Text = "",
) -> Response:
    ticket_id = _id(ticket_id)
    form = await request.form()
    choice = str(form.get("for") or "")
    try:
        when = snooze_time(choice, until, utcnow())
        async with platform.db.transaction() as uow:
            ticket = await queries.access_ticket(uow.conn, actor, ticket_id)
            await service.snooze(uow, platform.pubsub, actor, ticket, when)
    except Problem as exc:
        field = str(exc.errors[0]["field"]) if exc.errors else "_snooze"
        message = str(exc.errors[0]["message"]) if exc.errors else exc.detail
        errors = {field: message[:1].upper() + message[1:] + ".", "_snooze": "The ticket was not snoozed."}
        return await _page(request, actor, platform, ticket_id, status=exc.status, errors=errors)
    return redirect(ticket_url(request, ticket_id, "snoozed=1") + "#snoozed")


@router.post("/tickets/{ticket_id}/snooze/end")
async def wake(request: Request, ticket_id: int, actor: StaffPage, platform: PlatformDep) -> Response:
    ticket_id = _id(ticket_id)
    try:
        async with platform.db.transaction() as uow:
            ticket = await queries.access_ticket(uow.conn, actor, ticket_id)
            await service.unsnooze(uow, platform.pubsub, actor, ticket)
    except Problem as exc:
        return await _page(
            request, actor, platform, ticket_id, status=exc.status, errors={"_snooze": exc.detail}
        )
    return redirect(ticket_url(request, ticket_id))


@router.post("/tickets/{ticket_id}/time")
async def log_time(
    request: Request,
    ticket_id: int,
    actor: StaffPage,
    platform: PlatformDep,
    minutes: Text = "",
    note: Text = "",
) -> Response:
    ticket_id = _id(ticket_id)
    value = minutes.strip()
    if not value.isdigit() or len(value) > 6:
        return await _page(
            request,
            actor,
            platform,
            ticket_id,
            status=422,
            errors={"minutes": "Give the minutes as a whole number."},
        )
    try:
        async with platform.db.transaction() as uow:
            ticket = await queries.access_ticket(uow.conn, actor, ticket_id)
            await service.log_time(uow, actor, ticket, int(value), note)
    except Problem as exc:
        field = str(exc.errors[0]["field"]) if exc.errors else "minutes"
        message = str(exc.errors[0]["message"]) if exc.errors else exc.detail
        return await _page(request, actor, platform, ticket_id, status=exc.status, errors={field: message})
    return redirect(ticket_url(request, ticket_id, "logged=1") + "#time-total")


@router.post("/profile/signature")
async def set_signature(
    request: Request, actor: StaffPage, platform: PlatformDep, signature: Text = ""
) -> Response:
    try:
        async with platform.db.transaction() as uow:
            await service.set_signature(uow, actor, signature)
    except Problem as exc:
        return render(
            request,
            "tickets/signature.html",
            {"title": "Signature", "signature": signature, "errors": {"signature": exc.detail}},
            status=exc.status,
        )
    return redirect("/profile?signature=1#signature")


@router.get("/profile/signature")
async def signature_page(request: Request, actor: StaffPage, platform: PlatformDep) -> HTMLResponse:
    """The signature form on a page of its own (the profile page's card posts the same form)."""
    async with platform.db.read() as conn:
        current = await queries.signature_of(conn, actor)
    return render(
        request, "tickets/signature.html", {"title": "Signature", "signature": current, "errors": {}}
    )
