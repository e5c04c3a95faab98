"""HTTP API of tickets, their conversation and history: parse, call one service or query, render."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import StringConstraints
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.domains.accounts.principal import Principal
from helpline.domains.automation.sla import read as sla_read
from helpline.domains.tickets import fields, queries, relations, service
from helpline.domains.tickets.models import Channel, Priority, Status, TicketType
from helpline.domains.tickets.schemas import (
    BulkResult,
    BulkUpdate,
    EventPage,
    LinkCreate,
    MergeRequest,
    MessageCreate,
    MessagePage,
    MessageRead,
    SplitRequest,
    TicketCreate,
    TicketDetail,
    TicketPage,
    TicketRead,
    TicketUpdate,
)
from helpline.errors import Forbidden, Problem
from helpline.platform.db import UnitOfWork
from helpline.web import idempotency
from helpline.web.deps import CurrentPrincipal, PlatformDep
from helpline.web.responses import JSON
from helpline.web.types import IdPath, IdQuery

router = APIRouter(tags=["tickets"])

IdemKey = Annotated[str | None, Header(alias="Idempotency-Key", description="Makes a retried POST safe")]
Limit = Annotated[int, Query(ge=1, le=100)]


async def render_tickets(
    conn: AsyncConnection, actor: Principal, rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    tag_map = await queries.tags_of(conn, [r["id"] for r in rows])
    defs = await fields.definitions(conn, actor.workspace_id) if actor.is_customer else {}
    out = []
    for r in rows:
        item = {k: r[k] for k in TicketRead.model_fields if k in r}
        item["tags"] = tag_map[r["id"]]
        item["custom_fields"] = fields.visible_values(defs, r["custom"], customer=actor.is_customer)
        out.append(item)
    return out


async def render_detail(conn: AsyncConnection, actor: Principal, ticket_id: IdPath) -> dict[str, Any]:
    row = await queries.access_ticket(conn, actor, ticket_id)
    (item,) = await render_tickets(conn, actor, [row])
    item.update(await queries.detail_extras(conn, ticket_id))
    item["sla"] = [] if actor.is_customer else (await sla_read.targets(conn, [ticket_id]))[ticket_id]
    return item


def _ticket_headers(item: dict[str, Any]) -> dict[str, str]:
    return {"ETag": service.etag(item["version"]), "Location": f"/api/v1/tickets/{item['id']}"}


#: What a customer may not choose when filing a ticket through the API (the service refuses the rest).
CUSTOMER_CANNOT_SET = ("priority", "type", "tags", "channel", "cc_emails")


@router.post("/tickets", status_code=201, response_model=TicketDetail, summary="Create a ticket")
async def create_ticket(
    body: TicketCreate,
    request: Request,
    actor: CurrentPrincipal,
    platform: PlatformDep,
    idempotency_key: IdemKey = None,
) -> Response:
    """Customers file tickets as themselves: they may send the subject, body, custom fields marked for
    customers and attachments; the fields staff decide (priority, type, tags, channel, CCs, assignee,
    group, requester, due date, internal notes) are refused with 403 naming the field, as on PATCH."""
    if actor.is_customer:
        for name in CUSTOMER_CANNOT_SET:
            if name in body.model_fields_set:
                raise Forbidden(
                    f"{name}: customers cannot set this", errors=[{"field": name, "message": "not allowed"}]
                )

    async def work(uow: UnitOfWork) -> tuple[int, Any, dict[str, str]]:
        ticket_id = await service.create_ticket(uow, platform.pubsub, actor, body)
        item = await render_detail(uow.conn, actor, ticket_id)
        return 201, item, _ticket_headers(item)

    return await idempotency.run(platform, actor, request, idempotency_key, work)


@router.get("/tickets", response_model=TicketPage, summary="List and search tickets")
async def list_tickets(
    actor: CurrentPrincipal,
    platform: PlatformDep,
    status: Annotated[list[Status] | None, Query()] = None,
    priority: Annotated[list[Priority] | None, Query()] = None,
    type: Annotated[list[TicketType] | None, Query()] = None,
    channel: Annotated[list[Channel] | None, Query()] = None,
    assignee_id: IdQuery = None,
    unassigned: bool = False,
    group_id: IdQuery = None,
    requester_id: IdQuery = None,
    organization_id: IdQuery = None,
    tag: Annotated[
        list[Annotated[str, StringConstraints(max_length=80)]] | None, Query(max_length=20)
    ] = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    updated_after: datetime | None = None,
    updated_before: datetime | None = None,
    q: Annotated[
        str | None, Query(max_length=500, description="Full-text search; results newest first")
    ] = None,
    sla: Annotated[
        Literal["at_risk", "breached"] | None,
        Query(
            description="Staff only: tickets warned about a target not yet missed (at_risk), or with "
            "a missed target (breached)"
        ),
    ] = None,
    sort: Annotated[
        str | None,
        Query(
            pattern=r"^-?(updated_at|created_at|number|id|next_breach)$",
            description="next_breach (staff only): the soonest running SLA due time first, none last",
        ),
    ] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Limit = 25,
) -> JSON:
    filters: dict[str, Any] = {
        "status": [s.value for s in status or []],
        "priority": [p.value for p in priority or []],
        "type": [t.value for t in type or []],
        "channel": [c.value for c in channel or []],
        "assignee_id": assignee_id,
        "group_id": group_id,
        "requester_id": requester_id,
        "organization_id": organization_id,
        "tags": tag,
        "unassigned": unassigned,
        "created_after": created_after,
        "created_before": created_before,
        "updated_after": updated_after,
        "updated_before": updated_before,
        "sla": sla,
    }
    for key in ("created_after", "created_before", "updated_after", "updated_before"):
        value = filters[key]
        if value is not None and value.tzinfo is None:
            raise Problem(
                f"{key}: give a time zone, e.g. 2026-01-31T09:00:00Z",
                status=422,
                title="Invalid request",
                errors=[{"field": key, "message": "needs a time zone"}],
            )
    async with platform.db.read() as conn:
        rows, next_cursor = await queries.list_tickets(
            conn,
            actor,
            dialect=platform.db.dialect,
            filters=filters,
            q=q,
            sort=sort,
            cursor=cursor,
            limit=limit,
        )
        items = await render_tickets(conn, actor, rows)
    return JSON({"items": items, "next_cursor": next_cursor})


@router.get(
    "/tickets/{ticket_id}",
    response_model=TicketDetail,
    summary="Get a ticket",
    responses={404: {"description": "No such ticket, or not yours to see"}},
)
async def get_ticket(ticket_id: IdPath, actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    async with platform.db.read() as conn:
        item = await render_detail(conn, actor, ticket_id)
    return JSON(item, headers={"ETag": service.etag(item["version"])})


@router.patch(
    "/tickets/{ticket_id}",
    response_model=TicketDetail,
    summary="Change a ticket",
    responses={412: {"description": "If-Match no longer matches: someone else changed it"}},
)
async def update_ticket(
    ticket_id: IdPath,
    body: TicketUpdate,
    actor: CurrentPrincipal,
    platform: PlatformDep,
    if_match: Annotated[str | None, Header(alias="If-Match")] = None,
) -> JSON:
    async with platform.db.transaction() as uow:
        ticket = await queries.access_ticket(uow.conn, actor, ticket_id)
        await service.update_ticket(uow, platform.pubsub, actor, ticket, body, if_match=if_match)
        item = await render_detail(uow.conn, actor, ticket_id)
    return JSON(item, headers={"ETag": service.etag(item["version"])})


@router.post("/tickets/bulk-update", response_model=BulkResult, summary="Change many tickets at once")
async def bulk_update(body: BulkUpdate, actor: CurrentPrincipal, platform: PlatformDep) -> JSON:
    """Each ticket is changed in its own transaction; the ones that fail are listed with the reason."""

    async def change(uow: UnitOfWork, ticket: dict[str, Any]) -> None:
        await service.update_ticket(uow, platform.pubsub, actor, ticket, body.changes)

    updated, failed = await service.for_each_ticket(platform.db, actor, body.ids, change)
    return JSON({"updated": updated, "failed": failed})


@router.get(
    "/tickets/{ticket_id}/messages", response_model=MessagePage, summary="The conversation, oldest first"
)
async def list_messages(
    ticket_id: IdPath,
    actor: CurrentPrincipal,
    platform: PlatformDep,
    cursor: Annotated[str | None, Query(pattern=r"^\d{1,18}$")] = None,
    limit: Limit = 100,
) -> JSON:
    async with platform.db.read() as conn:
        items, nxt = await queries.list_messages(
            conn, actor, ticket_id, after_id=int(cursor) if cursor else None, limit=limit
        )
    return JSON({"items": items, "next_cursor": nxt})


@router.post(
    "/tickets/{ticket_id}/messages",
    status_code=201,
    response_model=MessageRead,
    summary="Reply publicly or add an internal note",
    description="On a ticket held by a channel, a public reply leaves through it in the same "
    "transaction: numbered onto a live chat, or queued as an email. Retry with the same "
    "Idempotency-Key to get the same message back, delivered once.",
)
async def add_message(
    ticket_id: IdPath,
    body: MessageCreate,
    request: Request,
    actor: CurrentPrincipal,
    platform: PlatformDep,
    idempotency_key: IdemKey = None,
) -> Response:
    async def work(uow: UnitOfWork) -> tuple[int, Any, dict[str, str]]:
        ticket = await queries.access_ticket(uow.conn, actor, ticket_id)
        message_id = await service.add_message(uow, platform.pubsub, actor, ticket, body)
        items, _ = await queries.list_messages(uow.conn, actor, ticket_id, after_id=message_id - 1, limit=1)
        return 201, items[0], {}

    return await idempotency.run(platform, actor, request, idempotency_key, work)


@router.get("/tickets/{ticket_id}/events", response_model=EventPage, summary="The audit history of a ticket")
async def list_events(
    ticket_id: IdPath,
    actor: CurrentPrincipal,
    platform: PlatformDep,
    cursor: Annotated[str | None, Query(pattern=r"^\d{1,18}$")] = None,
    limit: Limit = 100,
) -> JSON:
    if actor.is_customer:
        raise Problem("customers do not see the audit history", status=403, title="Forbidden")
    async with platform.db.read() as conn:
        items, nxt = await queries.list_events(
            conn, actor, ticket_id, after_id=int(cursor) if cursor else None, limit=limit
        )
    return JSON({"items": items, "next_cursor": nxt})


@router.post(
    "/tickets/{ticket_id}/merge", response_model=TicketDetail, summary="Merge this ticket into another"
)
async def merge(
    ticket_id: IdPath, body: MergeRequest, actor: CurrentPrincipal, platform: PlatformDep
) -> JSON:
    async with platform.db.transaction() as uow:
        source = await queries.access_ticket(uow.conn, actor, ticket_id)
        target = await queries.access_ticket(uow.conn, actor, body.target_id)
        await relations.merge(uow, platform.pubsub, actor, source, target)
        item = await render_detail(uow.conn, actor, body.target_id)
    return JSON(item)


@router.post(
    "/tickets/{ticket_id}/split",
    status_code=201,
    response_model=TicketDetail,
    summary="Move one message into a new ticket",
)
async def split(
    ticket_id: IdPath, body: SplitRequest, actor: CurrentPrincipal, platform: PlatformDep
) -> JSON:
    async with platform.db.transaction() as uow:
        ticket = await queries.access_ticket(uow.conn, actor, ticket_id)
        new_id = await relations.split(uow, platform.pubsub, actor, ticket, body.message_id, body.subject)
        item = await render_detail(uow.conn, actor, new_id)
    return JSON(item, status_code=201, headers=_ticket_headers(item))


@router.post(
    "/tickets/{ticket_id}/links", status_code=201, response_model=TicketDetail, summary="Link two tickets"
)
async def add_link(
    ticket_id: IdPath, body: LinkCreate, actor: CurrentPrincipal, platform: PlatformDep
) -> JSON:
    async with platform.db.transaction() as uow:
        source = await queries.access_ticket(uow.conn, actor, ticket_id)
        target = await queries.access_ticket(uow.conn, actor, body.target_id)
        await relations.link(uow, actor, source, target, body.kind)
        item = await render_detail(uow.conn, actor, ticket_id)
    return JSON(item, status_code=201)


@router.delete("/tickets/{ticket_id}/links/{target_id}", status_code=204, summary="Remove a link")
async def remove_link(
    ticket_id: IdPath, target_id: IdPath, actor: CurrentPrincipal, platform: PlatformDep
) -> Response:
    async with platform.db.transaction() as uow:
        source = await queries.access_ticket(uow.conn, actor, ticket_id)
        await relations.unlink(uow, actor, source, target_id)
    return Response(status_code=204)
