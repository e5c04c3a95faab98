"""Console pages: the inbox (views, saved views, counts, bulk actions, live refresh) and global search."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from helpline.domains.accounts import live, principal_cache
from helpline.domains.accounts.principal import Principal
from helpline.domains.customers import queries as customer_queries
from helpline.domains.tickets import queries, service
from helpline.domains.tickets.models import Priority, SavedView, Status, Ticket
from helpline.domains.tickets.page_reads import (
    COUNT_CAP,
    _ints,
    _saved_views,
    agents_of,
    builtin_views,
    filters_from,
    groups_for,
    people_names,
    requester_names,
    view_counts,
)
from helpline.domains.tickets.schemas import TicketUpdate
from helpline.errors import NotFound, Problem
from helpline.platform.db import UnitOfWork
from helpline.web import deps
from helpline.web.deps import PlatformDep
from helpline.web.pages import StaffPage, redirect
from helpline.web.templating import render

router = APIRouter(include_in_schema=False)
tickets, views_t = Ticket.__table__, SavedView.__table__
PAGE = 25


async def _inbox_context(request: Request, actor: Principal, platform: Any) -> dict[str, Any]:
    view_key = request.query_params.get("view") or "mine"
    async with platform.db.read() as conn:
        group_names = await groups_for(conn, actor)
        views = builtin_views(actor, group_names) + await _saved_views(conn, actor)
        current = next((v for v in views if v["key"] == view_key), None)
        if current is None:
            raise NotFound("no such view")
        given = filters_from(request)
        f = {**current["filters"], **{k: v for k, v in given.items() if v}}
        if "tag" in f:
            f["tags"] = f.pop("tag")
        sort = request.query_params.get("sort") or current.get("sort") or f.get("sort") or "-updated_at"
        if sort not in (
            "-updated_at",
            "updated_at",
            "-created_at",
            "created_at",
            "-id",
            "id",
            "-number",
            "number",
        ):
            sort = "-updated_at"
        q = f.pop("q", None)
        f.pop("sort", None)
        cursor = request.query_params.get("cursor") or None
        try:
            rows, next_cursor = await queries.list_tickets(
                conn,
                actor,
                dialect=platform.db.dialect,
                filters=f,
                q=q,
                sort=sort if not q else "-id",
                cursor=cursor,
                limit=PAGE,
            )
        except Problem:
            rows, next_cursor = [], None
        counts = await view_counts(platform, conn, actor, views)
        names = await people_names(conn, actor, {r["assignee_id"] for r in rows if r.get("assignee_id")})
        requesters = await requester_names(conn, {r["requester_id"] for r in rows if r.get("requester_id")})
        agents = await agents_of(conn, actor)
        tag_map = await queries.tags_of(conn, [r["id"] for r in rows])
        snoozed = await queries.snoozes_of(conn, [r["id"] for r in rows])
    qs = request.url.query
    return {
        "title": current["name"],
        "views": views,
        "view": current,
        "rows": rows,
        "next_cursor": next_cursor,
        "counts": counts,
        "names": names,
        "requesters": requesters,
        "agents": agents,
        "groups": group_names,
        "tag_map": tag_map,
        "snoozed": snoozed,
        "sort": sort,
        "q": q or "",
        "filters": f,
        "count_cap": COUNT_CAP,
        "statuses": [s.value for s in Status],
        "priorities": [p.value for p in Priority],
        "query": qs,
        "view_key": view_key,
        "flash": request.query_params.get("flash"),
    }


@router.get("/inbox")
async def inbox(request: Request, actor: StaffPage, platform: PlatformDep) -> HTMLResponse:
    ctx = await _inbox_context(request, actor, platform)
    if request.headers.get("hx-request") and request.headers.get("hx-target") == "ticket-list":
        return render(request, "tickets/_list.html", ctx)
    return render(request, "tickets/inbox.html", ctx)


@router.get("/inbox/live")
async def inbox_live(request: Request, actor: StaffPage, platform: PlatformDep) -> StreamingResponse:
    """Server-sent events: one ``changed`` event per ticket change in the workspace (no ids, no content:
    the list re-reads what this agent may see)."""
    return sse(request, platform, actor, [f"ws:{actor.workspace_id}:tickets"], lambda _m: {"kind": "changed"})


def sse(
    request: Request, platform: Any, actor: Principal, channels: list[str], shape: Any
) -> StreamingResponse:
    """A console event stream of ``channels``' messages as ``shape`` makes them (None: skipped),
    for the session that asked. The stream is a live connection (``accounts.live``): it ends when an
    account change ends the session or changes the agent's role or groups, and a message published
    after such a change committed is not sent (the change's notice rides on the same subscription,
    so it is handled first)."""
    digest = deps.session_digest(request)  # console pages are signed in by their session cookie

    async def stream() -> AsyncIterator[bytes]:
        if digest is None:
            return
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(maxsize=100)
        registry = live.registry_of(platform)

        async def end(_code: int, _reason: str) -> None:
            with contextlib.suppress(asyncio.QueueFull):  # (a full queue: the loop sees ``ended``)
                queue.put_nowait(None)

        registered: list[live.Live] = []

        async def pump() -> None:
            async for message in platform.pubsub.subscribe(*channels, principal_cache.AUTH_CHANNEL):
                if principal_cache.is_auth_notice(message):
                    # (before registering: the check that follows it covers the change)
                    if registered and await registered[0].check(registry.noticed()) is None:
                        return
                    continue
                if live.is_probe(message):
                    continue
                out = shape(message)
                if out is not None and not queue.full():
                    queue.put_nowait(out)

        task = asyncio.create_task(pump())  # subscribing first: events are not held up by registering
        try:
            conn = await registry.register(live.SESSION, digest, actor, end)
            registered.append(conn)
            # A change committed between the page's sign-in check and registering: look once now.
            if await conn.check() is None:
                return
            yield b"retry: 3000\n\n"
            while not conn.ended and not await request.is_disconnected():
                try:
                    item = await asyncio.wait_for(queue.get(), timeout=15)
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                if item is None or conn.ended:
                    break
                yield f"data: {json.dumps(item)}\n\n".encode()
        finally:
            task.cancel()
            for conn in registered:
                conn.unregister()

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.post("/inbox/bulk")
async def bulk(
    request: Request,
    actor: StaffPage,
    platform: PlatformDep,
    ticket_ids: Annotated[list[str], Form()] = [],  # noqa: B006 (FastAPI form default)
    assignee: Annotated[str, Form(alias="bulk_assignee")] = "",
    status: Annotated[str, Form(alias="bulk_status")] = "",
    add_tag: Annotated[str, Form(alias="bulk_tag")] = "",
    merge_into: Annotated[str, Form(alias="bulk_merge")] = "",
    back: Annotated[str, Form()] = "/inbox",
) -> Response:
    ids = list(dict.fromkeys(_ints(ticket_ids)))[:100]
    if not ids:
        return redirect(_with_flash(back, "Select at least one ticket."))
    changes: dict[str, Any] = {}
    if assignee == "me":
        changes["assignee_id"] = actor.user_id
    elif assignee.isdigit():
        changes["assignee_id"] = int(assignee)
    if status in {s.value for s in Status}:
        changes["status"] = status
    if add_tag.strip():
        changes["add_tags"] = [add_tag.strip()]
    if merge_into.strip():
        from helpline.domains.tickets import relations

        target_id = await ticket_id_by_number(platform, actor, merge_into)

        async def change(uow: UnitOfWork, ticket: dict[str, Any]) -> None:
            target = await queries.access_ticket(uow.conn, actor, target_id)
            await relations.merge(uow, platform.pubsub, actor, ticket, target)

        ids = [i for i in ids if i != target_id]
    elif changes:
        try:
            update = TicketUpdate(**changes)
        except ValueError:
            return redirect(_with_flash(back, "Those changes are not valid."))

        async def change(uow: UnitOfWork, ticket: dict[str, Any]) -> None:
            await service.update_ticket(uow, platform.pubsub, actor, ticket, update)

    else:
        return redirect(_with_flash(back, "Choose what to change."))
    updated, failures = await service.for_each_ticket(platform.db, actor, ids, change)
    done, failed = len(updated), [f["detail"] for f in failures]
    message = f"Updated {done} ticket{'s' if done != 1 else ''}."
    if failed:
        message += f" {len(failed)} failed: {failed[0]}"
    return redirect(_with_flash(back, message))


def _with_flash(back: str, message: str) -> str:
    from urllib.parse import parse_qsl, urlencode, urlsplit

    parts = urlsplit(back if back.startswith("/inbox") else "/inbox")
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "flash"] + [("flash", message)]
    return f"{parts.path}?{urlencode(query)}"


async def ticket_id_by_number(platform: Any, actor: Principal, ref: str) -> int:
    ref = ref.strip().lstrip("#")
    if not ref.isdigit() or int(ref) >= 2**63:
        raise NotFound("no such ticket")
    async with platform.db.read() as conn:
        found = (
            await conn.execute(
                sa.select(tickets.c.id).where(
                    tickets.c.workspace_id == actor.workspace_id,
                    tickets.c.number == int(ref),
                    queries.visible(actor),
                )
            )
        ).first()
    if found is None:
        raise NotFound(f"no ticket #{ref} that you can see")
    return int(found[0])


@router.post("/inbox/views")
async def save_view(
    request: Request,
    actor: StaffPage,
    platform: PlatformDep,
    name: Annotated[str, Form()] = "",
    query: Annotated[str, Form()] = "",
    share_group: Annotated[str, Form()] = "",
) -> Response:
    from urllib.parse import parse_qs

    name = name.strip()[:100]
    if not name:
        return redirect(_with_flash("/inbox?" + query, "Give the view a name."))
    qp = parse_qs(query)
    stored: dict[str, Any] = {}
    for key in ("status", "priority"):
        if qp.get(key):
            stored[key] = qp[key]
    for key in ("assignee_id", "group_id"):
        if qp.get(key):
            stored[key] = _ints(qp[key])
    if qp.get("tag"):
        stored["tag"] = qp["tag"][:5]
    if qp.get("q"):
        stored["q"] = qp["q"][0][:500]
    if qp.get("unassigned"):
        stored["unassigned"] = True
    group_id = int(share_group) if share_group.isdigit() and int(share_group) in actor.group_ids else None
    async with platform.db.transaction() as uow:
        new_id = (
            await uow.execute(
                views_t.insert()
                .values(
                    workspace_id=actor.workspace_id,
                    owner_id=actor.user_id,
                    group_id=group_id,
                    name=name,
                    filters=stored,
                )
                .returning(views_t.c.id)
            )
        ).scalar_one()
    return redirect(f"/inbox?view=saved:{new_id}")


@router.post("/inbox/views/{view_id}/delete")
async def delete_view(view_id: int, actor: StaffPage, platform: PlatformDep) -> Response:
    """Delete one of the actor's own saved views; any other id (another person's or workspace's, or
    none) is 404, like the view page, not a silent success."""
    async with platform.db.transaction() as uow:
        gone = await uow.execute(
            views_t.delete().where(
                views_t.c.id == view_id,
                views_t.c.owner_id == actor.user_id,
                views_t.c.workspace_id == actor.workspace_id,
            )
        )
    if gone.rowcount != 1:
        raise NotFound("no such view")
    return redirect("/inbox")


@router.get("/search")
async def search(request: Request, actor: StaffPage, platform: PlatformDep, q: str = "") -> HTMLResponse:
    q = q.strip()[:200]
    found: dict[str, Any] = {"tickets": [], "contacts": [], "organizations": []}
    if q:
        async with platform.db.read() as conn:
            if q.lstrip("#").isdigit() and int(q.lstrip("#")) < 2**63:
                found["tickets"] = [
                    dict(r)
                    for r in (
                        await conn.execute(
                            sa.select(tickets).where(
                                tickets.c.workspace_id == actor.workspace_id,
                                tickets.c.number == int(q.lstrip("#")),
                                queries.visible(actor),
                            )
                        )
                    ).mappings()
                ]
            try:
                rows, _ = await queries.list_tickets(
                    conn,
                    actor,
                    dialect=platform.db.dialect,
                    filters={},
                    q=q,
                    sort="-id",
                    cursor=None,
                    limit=20,
                )
            except Problem:
                rows = []
            found["tickets"] += [r for r in rows if r["id"] not in {t["id"] for t in found["tickets"]}]
            found["contacts"] = await _safe(
                customer_queries.list_contacts(conn, actor, q=q, organization_id=None, cursor=None, limit=20)
            )
            found["organizations"] = await _safe(
                customer_queries.list_organizations(conn, actor, q=q, cursor=None, limit=20)
            )
    return render(
        request, "tickets/search.html", {"title": f"Search: {q}" if q else "Search", "q": q, **found}
    )


async def _safe(call: Any) -> list[dict[str, Any]]:
    try:
        result = await call
    except Problem:
        return []
    items = result[0] if isinstance(result, tuple) else result
    return list(items)
