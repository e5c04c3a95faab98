"""Mailbox pages: the list with each mailbox's health (the email status page), create, edit, delete,
and the connection test."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from helpline.domains.accounts.admin_views import AdminPage, workspace_groups
from helpline.domains.accounts.principal import Principal
from helpline.domains.channels.email import mailboxes as mailbox_service
from helpline.domains.channels.email import queries
from helpline.domains.channels.email.connection import test_connection
from helpline.domains.channels.email.health import mailbox_health
from helpline.domains.channels.email.views._common import (
    AUTH_CHOICES,
    DEFAULTS,
    FLASHES,
    TLS_CHOICES,
    ValidationError,
    create_values,
    form_errors,
    resubmitted,
    router,
    shown_values,
    update_values,
)
from helpline.errors import Problem
from helpline.web.deps import PlatformDep
from helpline.web.forms import flash_of, form_of
from helpline.web.pages import public_url, redirect
from helpline.web.templating import render
from helpline.web.types import IdPath


@router.get("/admin/mailboxes")
async def mailboxes_page(request: Request, actor: AdminPage, platform: PlatformDep) -> HTMLResponse:
    async with platform.db.read() as conn:
        items = await queries.mailbox_overview(conn, actor)
    return render(
        request,
        "email/mailboxes.html",
        {"title": "Mailboxes", "items": items, "flash": flash_of(request, FLASHES), "section": "mailboxes"},
    )


async def _form_page(
    request: Request,
    actor: Principal,
    platform: Any,
    mailbox_id: int | None = None,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    test: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    """The new-mailbox form (``mailbox_id`` None) or a mailbox's page: its settings, health, the
    connection test (``test``: its result, when one just ran) and delete."""
    mailbox, health = None, None
    async with platform.db.read() as conn:
        groups = await workspace_groups(conn, actor)
        if mailbox_id is not None:
            mailbox = await queries.access_mailbox(conn, actor, mailbox_id)
            health = next(
                (h for h in await mailbox_health(conn, actor.workspace_id) if h["id"] == mailbox_id), None
            )
    shown = shown_values(mailbox) if mailbox else {**DEFAULTS, "active": "on"}
    if values is not None:
        shown = values
    base = public_url(request)
    return render(
        request,
        "email/mailbox.html",
        {
            "title": f"Mailbox {mailbox['address']}" if mailbox else "New mailbox",
            "mailbox": mailbox,
            "health": health,
            "values": shown,
            "errors": errors or {},
            "test": test,
            "groups": [(g["id"], g["name"]) for g in groups],
            "tls_choices": TLS_CHOICES,
            "auth_choices": AUTH_CHOICES,
            "webhook_url": f"{base}/api/v1/mailboxes/{mailbox_id}/inbound" if mailbox else "",
            "flash": flash_of(request, FLASHES),
            "section": "mailboxes",
        },
        status=status,
    )


@router.get("/admin/mailboxes/new")
async def new_mailbox_page(request: Request, actor: AdminPage, platform: PlatformDep) -> HTMLResponse:
    return await _form_page(request, actor, platform)


@router.post("/admin/mailboxes")
async def create_mailbox(request: Request, actor: AdminPage, platform: PlatformDep) -> Response:
    form = await form_of(request)
    try:
        values = create_values(form)
        mailbox_service.check_admin(actor)
        await mailbox_service.check_servers(platform.settings, values)  # may resolve names: before the write
        async with platform.db.transaction() as uow:
            mailbox_id = await mailbox_service.create_mailbox(uow, actor.workspace_id, values, actor=actor)
    except (ValidationError, Problem) as exc:
        if isinstance(exc, Problem) and exc.status in (403, 404):
            raise
        return await _form_page(
            request, actor, platform, values=resubmitted(form), errors=form_errors(exc), status=422
        )
    return redirect(f"/admin/mailboxes/{mailbox_id}?done=created")


@router.get("/admin/mailboxes/{mailbox_id}")
async def mailbox_page(
    request: Request, mailbox_id: IdPath, actor: AdminPage, platform: PlatformDep
) -> HTMLResponse:
    return await _form_page(request, actor, platform, mailbox_id)


@router.post("/admin/mailboxes/{mailbox_id}")
async def update_mailbox(
    request: Request, mailbox_id: IdPath, actor: AdminPage, platform: PlatformDep
) -> Response:
    form = await form_of(request)
    try:
        # The servers are checked before the write transaction (resolving a name takes a while) …
        async with platform.db.read() as conn:
            before = await queries.access_mailbox(conn, actor, mailbox_id, secrets=True)
        await mailbox_service.check_servers(platform.settings, update_values(form, before), before)
        async with platform.db.transaction() as uow:
            # … and the change is worked out again over the row as it is now.
            current = await queries.access_mailbox(uow.conn, actor, mailbox_id, secrets=True)
            values = update_values(form, current)
            if values:
                await mailbox_service.update_mailbox(uow, actor.workspace_id, mailbox_id, values, actor=actor)
    except (ValidationError, Problem) as exc:
        if isinstance(exc, Problem) and exc.status in (403, 404):
            raise
        return await _form_page(
            request,
            actor,
            platform,
            mailbox_id,
            values=resubmitted(form),
            errors=form_errors(exc),
            status=422,
        )
    return redirect(f"/admin/mailboxes/{mailbox_id}?done=saved")


@router.post("/admin/mailboxes/{mailbox_id}/test")
async def test_mailbox(
    request: Request, mailbox_id: IdPath, actor: AdminPage, platform: PlatformDep
) -> HTMLResponse:
    """Log in to the mailbox's IMAP and SMTP servers with its saved settings; the page shows each result."""
    async with platform.db.read() as conn:
        row = await queries.access_mailbox(conn, actor, mailbox_id, secrets=True)
    result = await test_connection(platform, row)
    return await _form_page(request, actor, platform, mailbox_id, test=result)


@router.post("/admin/mailboxes/{mailbox_id}/delete")
async def delete_mailbox(
    request: Request, mailbox_id: IdPath, actor: AdminPage, platform: PlatformDep
) -> Response:
    form = await form_of(request)
    async with platform.db.read() as conn:
        await queries.access_mailbox(conn, actor, mailbox_id)
    if form.get("confirm") != "on":
        return await _form_page(
            request,
            actor,
            platform,
            mailbox_id,
            errors={"confirm": "Tick the box to confirm that this mailbox and its mail records go."},
            status=422,
        )
    mailbox_service.check_admin(actor)
    async with platform.db.transaction() as uow:
        await mailbox_service.delete_mailbox(uow, actor.workspace_id, mailbox_id, actor=actor)
    return redirect("/admin/mailboxes?done=deleted")
