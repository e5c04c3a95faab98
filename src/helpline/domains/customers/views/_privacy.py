"""A contact's privacy actions on the console (admins): download everything held about them as a
ZIP, and erase them after typing the confirmation word. The same functions as the API's."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from helpline.domains.accounts.principal import Principal
from helpline.domains.customers import privacy, queries
from helpline.domains.customers.views._common import ContactId, contact_label
from helpline.errors import Problem
from helpline.web.deps import PlatformDep
from helpline.web.forms import errors_of, form_of
from helpline.web.pages import StaffPage, redirect
from helpline.web.templating import render

router = APIRouter(include_in_schema=False)


@router.post("/contacts/{contact_id}/export")
async def export_contact(contact_id: ContactId, actor: StaffPage, platform: PlatformDep) -> Response:
    """A POST (with the session's CSRF token), so no link or prefetch starts an audited export."""
    archive = await privacy.export_archive(platform, actor, contact_id)
    return StreamingResponse(
        privacy.chunks_of(archive),
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="contact-{contact_id}-export.zip"',
            "Cache-Control": "no-store",
        },
    )


async def _erase_page(
    request: Request,
    actor: Principal,
    platform: Any,
    contact_id: int,
    *,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    privacy.check_privacy(actor)
    async with platform.db.read() as conn:
        contact = await queries.contact_detail(conn, actor, contact_id)
    return render(
        request,
        "customers/contact_erase.html",
        {
            "title": f"Erase {contact_label(contact)}",
            "contact": contact,
            "confirm_word": privacy.CONFIRM,
            "errors": errors or {},
        },
        status=status,
    )


@router.get("/contacts/{contact_id}/erase")
async def erase_form(
    request: Request, contact_id: ContactId, actor: StaffPage, platform: PlatformDep
) -> Response:
    return await _erase_page(request, actor, platform, contact_id)


@router.post("/contacts/{contact_id}/erase")
async def erase(request: Request, contact_id: ContactId, actor: StaffPage, platform: PlatformDep) -> Response:
    form = await form_of(request)
    try:
        async with platform.db.transaction() as uow:
            await privacy.do_erase_contact(
                uow, platform.pubsub, actor, contact_id, confirm=form.get("confirm", "")
            )
    except Problem as exc:
        if exc.status in (403, 404):
            raise
        return await _erase_page(request, actor, platform, contact_id, errors=errors_of(exc), status=422)
    return redirect(f"/contacts/{contact_id}?done=erased")
