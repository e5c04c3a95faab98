"""HTTP API of the email channel: mailboxes (admin), the raw-MIME webhook, failed mail, deliveries."""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request, Response

from helpline.domains.channels.email import mailboxes as mailbox_service
from helpline.domains.channels.email import outbound, queries, service
from helpline.domains.channels.email.connection import test_connection
from helpline.domains.channels.email.schemas import (
    Accepted,
    ConnectionTest,
    DeliveryPage,
    InboundPage,
    InboundRead,
    MailboxCreate,
    MailboxRead,
    MailboxUpdate,
    no_nul,
)
from helpline.errors import NotFound, Problem, Unauthorized
from helpline.settings import Settings
from helpline.web.deps import CurrentPrincipal, PlatformDep
from helpline.web.downloads import stored_file
from helpline.web.responses import JSON
from helpline.web.types import IdPath

router = APIRouter(tags=["email"])


def body_limits(settings: Settings, prefix: str) -> list[tuple[re.Pattern[str], int]]:
    """This router's request body limits that are not the API's (``web.limits``): the raw-MIME
    webhook's body is one whole email, so it takes what mail takes by any transport."""
    return [(re.compile(re.escape(prefix) + r"/mailboxes/[0-9]+/inbound"), settings.email_max_message_bytes)]


@router.get("/mailboxes", response_model=list[MailboxRead], summary="List mailboxes (admins)")
async def list_mailboxes(actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    async with platform.db.read() as conn:
        return JSON(await queries.list_mailboxes(conn, actor))


@router.post("/mailboxes", status_code=201, response_model=MailboxRead, summary="Create a mailbox (admins)")
async def create_mailbox(body: MailboxCreate, actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    mailbox_service.check_admin(actor)
    values = no_nul(body.model_dump(exclude_none=True))
    await mailbox_service.check_servers(platform.settings, values)  # may resolve names: before the write
    async with platform.db.transaction() as uow:
        mailbox_id = await mailbox_service.create_mailbox(uow, actor.workspace_id, values, actor=actor)
        item = await queries.access_mailbox(uow.conn, actor, mailbox_id)
    return JSON(item, status_code=201, headers={"Location": f"/api/v1/mailboxes/{mailbox_id}"})


@router.get("/mailboxes/{mailbox_id}", response_model=MailboxRead, summary="Get a mailbox (admins)")
async def get_mailbox(mailbox_id: IdPath, actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    async with platform.db.read() as conn:
        return JSON(await queries.access_mailbox(conn, actor, mailbox_id))


@router.patch("/mailboxes/{mailbox_id}", response_model=MailboxRead, summary="Change a mailbox (admins)")
async def update_mailbox(
    mailbox_id: IdPath, body: MailboxUpdate, actor: CurrentPrincipal, platform: PlatformDep
) -> JSON:
    mailbox_service.check_admin(actor)
    values = no_nul(body.model_dump(exclude_unset=True))
    if any(k in values for k in mailbox_service.SERVER_FIELDS):
        async with platform.db.read() as conn:
            current = await queries.access_mailbox(conn, actor, mailbox_id)
        await mailbox_service.check_servers(platform.settings, values, current)  # before the write
    async with platform.db.transaction() as uow:
        if values:
            await mailbox_service.update_mailbox(uow, actor.workspace_id, mailbox_id, values, actor=actor)
        item = await queries.access_mailbox(uow.conn, actor, mailbox_id)
    return JSON(item)


@router.delete(
    "/mailboxes/{mailbox_id}", status_code=204, summary="Delete a mailbox and its mail records (admins)"
)
async def delete_mailbox(mailbox_id: IdPath, actor: CurrentPrincipal, platform: PlatformDep) -> Response:
    mailbox_service.check_admin(actor)
    async with platform.db.transaction() as uow:
        await mailbox_service.delete_mailbox(uow, actor.workspace_id, mailbox_id, actor=actor)
    return Response(status_code=204)


@router.post(
    "/mailboxes/{mailbox_id}/test",
    response_model=ConnectionTest,
    summary="Test the mailbox's IMAP and SMTP connections (admins)",
)
async def test_mailbox(mailbox_id: IdPath, actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    async with platform.db.read() as conn:
        row = await queries.access_mailbox(conn, actor, mailbox_id, secrets=True)
    return JSON(await test_connection(platform, row))


@router.post(
    "/mailboxes/{mailbox_id}/inbound",
    status_code=202,
    response_model=Accepted,
    summary="Receive one raw MIME message (webhook)",
    description="The body is the message (message/rfc822), up to `HELPLINE_EMAIL_MAX_MESSAGE_BYTES` "
    "(25 MiB by default; larger answers 413). `X-Helpline-Signature: sha256=<hex>` is the "
    "HMAC-SHA256 of the body with the mailbox's webhook secret. Stored before this answers 202; the "
    "same message again answers 202 with `duplicate: true`.",
    openapi_extra={"security": []},
    responses={
        401: {"description": "Missing or wrong signature"},
        413: {"description": "Larger than the mail size limit"},
    },
)
async def webhook(
    mailbox_id: IdPath,
    request: Request,
    platform: PlatformDep,
    signature: Annotated[str | None, Header(alias="X-Helpline-Signature")] = None,
) -> JSON:
    mailbox = await service.mailbox_by_id(platform, mailbox_id)
    if mailbox is None or not mailbox["webhook_secret"]:
        raise NotFound(f"mailbox {mailbox_id} has no webhook")
    raw = await request.body()
    expected = "sha256=" + hmac.new(mailbox["webhook_secret"].encode(), raw, hashlib.sha256).hexdigest()
    if not signature or not hmac.compare_digest(signature.strip().lower(), expected):
        raise Unauthorized("X-Helpline-Signature is missing or does not match the body")
    if not raw.strip():
        raise Problem("the body is empty; send the raw message", status=400, title="Empty message")
    got = await service.ingest(platform, mailbox, raw, source="webhook")
    return JSON({"id": got.id, "duplicate": not got.created}, status_code=202)


@router.get(
    "/email/inbound",
    response_model=InboundPage,
    summary="Inbound mail, newest first; state=failed is the failed-mail list",
)
async def list_inbound(
    actor: CurrentPrincipal,
    platform: PlatformDep,
    state: Annotated[str | None, Query(pattern="^(received|processed|failed)$")] = None,
    mailbox_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    cursor: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
) -> JSON:
    async with platform.db.read() as conn:
        items, nxt = await queries.list_inbound(
            conn, actor, state=state, mailbox_id=mailbox_id, cursor=cursor, limit=limit
        )
    return JSON({"items": items, "next_cursor": nxt})


@router.get(
    "/email/inbound/{inbound_id}",
    response_model=InboundRead,
    summary="One inbound message: state, reason, ticket, auth results",
)
async def get_inbound(inbound_id: IdPath, actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    async with platform.db.read() as conn:
        return JSON(await queries.access_inbound(conn, actor, inbound_id))


@router.get(
    "/email/inbound/{inbound_id}/raw",
    response_class=Response,
    summary="Download the original .eml",
    responses={200: {"content": {"message/rfc822": {}}}},
)
async def raw_inbound(inbound_id: IdPath, actor: CurrentPrincipal, platform: PlatformDep) -> Response:
    async with platform.db.read() as conn:
        row = await queries.access_inbound(conn, actor, inbound_id)
    return await stored_file(
        platform, row["raw_sha256"], f"message-{inbound_id}.eml", media_type="message/rfc822"
    )


@router.post(
    "/email/inbound/{inbound_id}/reprocess",
    status_code=202,
    response_model=Accepted,
    summary="Process a failed message again (admins)",
)
async def reprocess(inbound_id: IdPath, actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    mailbox_service.check_admin(actor)
    await service.reprocess(platform, actor.workspace_id, inbound_id)
    return JSON({"id": inbound_id, "state": "received"}, status_code=202)


@router.get(
    "/tickets/{ticket_id}/email-deliveries",
    response_model=DeliveryPage,
    summary="Delivery state of the emails sent on a ticket",
)
async def ticket_deliveries(ticket_id: IdPath, actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    async with platform.db.read() as conn:
        return JSON({"items": await queries.deliveries(conn, actor, ticket_id)})


@router.post(
    "/email/outbound/{outbound_id}/retry",
    status_code=202,
    response_model=Accepted,
    summary="Send a failed email again",
)
async def retry_outbound(outbound_id: IdPath, actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    await outbound.do_retry(platform, actor, outbound_id)  # the ticket page's Retry button's service
    return JSON({"id": outbound_id, "state": "queued"}, status_code=202)


@router.get(
    "/email/inline/{sha256}",
    response_class=Response,
    summary="An inline (cid:) image of a message",
    responses={200: {"content": {"image/*": {}}}},
)
async def inline(
    sha256: Annotated[str, Path(pattern="^[0-9a-f]{64}$")], actor: CurrentPrincipal, platform: PlatformDep
) -> Response:
    async with platform.db.read() as conn:
        row = await queries.inline_image(conn, actor, sha256)
    ctype = (
        row["content_type"]
        if str(row["content_type"]).startswith("image/") and "svg" not in row["content_type"]
        else "application/octet-stream"
    )
    return Response(
        await platform.storage.get(sha256),
        media_type=ctype,
        headers={
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, max-age=86400",
        },
    )
