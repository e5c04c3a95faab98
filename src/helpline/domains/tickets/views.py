"""Console pages: the inbox (views, saved views, counts, bulk actions, live refresh); global search is
in ``search_views.py``."""

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
from helpline.domains.tickets import queries, service
from helpline.domains.tickets.inbox_page import SORTS, list_context
from helpline.domains.tickets.models import SavedView, Status, Ticket
from helpline.domains.tickets.page_reads import _ints, forget_counts
from helpline.domains.tickets.schemas import TicketUpdate
from helpline.domains.tickets.workspace_views import confirm_merge_many, tabs_of
from helpline.errors import NotFound
from helpline.platform.db import UnitOfWork
from helpline.web import deps
from helpline.web.deps import PlatformDep
from helpline.web.flash import clear_flash, flash_redirect, read_flash
from helpline.web.pages import StaffPage, redirect, safe_next
from helpline.web.templating import render

router = APIRouter(include_in_schema=False)
tickets, views_t = Ticket.__table__, SavedView.__table__


@router.get("/inbox")
async def inbox(request: Request, actor: StaffPage, platform: PlatformDep) -> HTMLResponse:
    """The views and list panes, and the ticket pane's place (the ticket page is the same workspace
    with a ticket in it: ``/tickets/<id>?<this list's parameters>``)."""
    async with platform.db.read() as conn:
        ctx = await list_context(platform, conn, actor, request.query_params)
    current = request.query_params.get("current") or ""
    ctx.update(title=ctx["view"]["name"], current_id=int(current) if current.isdigit() else 0)
    if request.headers.get("hx-request") and request.headers.get("hx-target") == "ticket-list":
        return render(request, "tickets/_list.html", ctx)
    shown = read_flash(request, platform.settings.secret_key)
    if shown:
        ctx.update(flash_kind=shown[0], flash=shown[1])
    ctx["tabs"] = await tabs_of(request, platform, actor)
    return clear_flash(request, render(request, "tickets/inbox.html", ctx))  # type: ignore[return-value]


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
    confirm: Annotated[str, Form()] = "",
) -> Response:
    ids = list(dict.fromkeys(_ints(ticket_ids)))[:100]
    back = _back(back)
    secret = platform.settings.secret_key
    if not ids:
        return flash_redirect(request, secret, back, "Select at least one ticket.", kind="error")
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
            return flash_redirect(request, secret, back, "Those changes are not valid.", kind="error")

        async def change(uow: UnitOfWork, ticket: dict[str, Any]) -> None:
            await service.update_ticket(uow, platform.pubsub, actor, ticket, update)

    else:
        return flash_redirect(request, secret, back, "Choose what to change.", kind="error")
    if merge_into.strip() and confirm != "1":
        return await confirm_merge_many(request, platform, actor, ids, target_id, back)
    updated, failures = await service.for_each_ticket(platform.db, actor, ids, change)
    await forget_counts(platform, actor)
    done, failed = len(updated), [f["detail"] for f in failures]
    message = f"Updated {done} ticket{'s' if done != 1 else ''}."
    if failed:
        message += f" {len(failed)} failed: {failed[0]}"
    return flash_redirect(request, secret, back, message, kind="error" if failed and not done else "ok")


def _back(back: str) -> str:
    """Where a bulk action returns: the inbox or a ticket of the workspace, with its list."""
    if back.startswith("/inbox") or (back.startswith("/tickets/") and "//" not in back):
        return safe_next(back, "/inbox")
    return "/inbox"


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
        return flash_redirect(
            request, platform.settings.secret_key, "/inbox?" + query, "Give the view a name.", kind="error"
        )
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
    if qp.get("sla") and qp["sla"][0] in queries.SLA_FILTERS:
        stored["sla"] = qp["sla"][0]
    if qp.get("sort") and qp["sort"][0] in SORTS:
        stored["sort"] = qp["sort"][0]
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
