"""The console workspace's own parts: ticket tabs (recently opened tickets, kept per agent in a
cookie) and the confirmation step of the writes that cannot be undone (merging).

Tabs live in a cookie rather than the browser's localStorage: the strip is drawn by the server, so it
is there on the first paint and without JavaScript, each tab is a plain link (the URL still says what
is shown), and every tab is read back through the agent's access (a ticket they can no longer see
drops out). The cookie names the agent it belongs to: another agent signing in on the same browser
starts with no tabs."""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from helpline.domains.accounts.principal import Principal
from helpline.domains.tickets import queries
from helpline.domains.tickets.models import Ticket
from helpline.errors import NotFound
from helpline.web.deps import PlatformDep
from helpline.web.pages import StaffPage, redirect, safe_next
from helpline.web.templating import render

router = APIRouter(include_in_schema=False)
tickets = Ticket.__table__
COOKIE = "helpline_tabs"
MAX_TABS = 8


def _tab_ids(request: Request, actor: Principal) -> list[int]:
    owner, _, ids = (request.cookies.get(COOKIE) or "").partition(":")
    if owner != f"{actor.workspace_id}.{actor.user_id}":
        return []
    return [int(i) for i in ids.split(",") if i.isdigit() and 0 < int(i) < 2**63][:MAX_TABS]


def _set_tabs(response: Response, actor: Principal, ids: list[int]) -> None:
    value = f"{actor.workspace_id}.{actor.user_id}:" + ",".join(str(i) for i in ids[:MAX_TABS])
    response.set_cookie(COOKIE, value, max_age=30 * 86400, httponly=True, samesite="lax", path="/")


def remember_tab(request: Request, response: Response, actor: Principal, ticket_id: int) -> None:
    """Put ``ticket_id`` in the agent's tab strip (kept in place if it is there already)."""
    ids = _tab_ids(request, actor)
    if ticket_id not in ids:
        _set_tabs(response, actor, [ticket_id, *ids])


async def tabs_of(request: Request, platform: Any, actor: Principal) -> list[dict[str, Any]]:
    """The agent's open tabs that they may still see, in the strip's order."""
    ids = _tab_ids(request, actor)
    if not ids:
        return []
    async with platform.db.read() as conn:
        rows = await conn.execute(
            sa.select(tickets.c.id, tickets.c.number, tickets.c.subject, tickets.c.status).where(
                tickets.c.workspace_id == actor.workspace_id, tickets.c.id.in_(ids), queries.visible(actor)
            )
        )
        found = {r.id: dict(r._mapping) for r in rows}
    return [found[i] for i in ids if i in found]


@router.post("/tickets/{ticket_id}/tab/close")
async def close_tab(
    request: Request,
    ticket_id: int,
    actor: StaffPage,
    platform: PlatformDep,
    back: Annotated[str, Form()] = "/inbox",
) -> Response:
    """Take a ticket out of the tab strip (the ticket itself is untouched); a ticket the agent cannot
    see is 404, like its page."""
    if not 0 < ticket_id < 2**63:
        raise NotFound("no such ticket")
    async with platform.db.read() as conn:
        await queries.access_ticket(conn, actor, ticket_id)
    back = safe_next(back, "/inbox")
    if back.startswith(f"/tickets/{ticket_id}?") or back == f"/tickets/{ticket_id}":
        back = "/inbox?" + back.partition("?")[2]  # closing the ticket shown: back to its list
    response = redirect(back)
    _set_tabs(response, actor, [i for i in _tab_ids(request, actor) if i != ticket_id])
    return response


def confirm_page(
    request: Request,
    *,
    title: str,
    sentence: str,
    action: str,
    fields: list[tuple[str, str]],
    button: str,
    cancel: str,
) -> HTMLResponse:
    """A page that asks before a write that cannot be undone; its form posts the same fields again
    with ``confirm=1`` (works without JavaScript)."""
    return render(
        request,
        "tickets/confirm.html",
        {
            "title": title,
            "sentence": sentence,
            "action": action,
            "fields": [*fields, ("confirm", "1")],
            "button": button,
            "cancel": safe_next(cancel, "/inbox"),
        },
    )


async def confirm_merge_many(
    request: Request, platform: Any, actor: Principal, ids: list[int], target_id: int, back: str
) -> HTMLResponse:
    """Ask before the inbox's bulk merge of ``ids`` into ``target_id``."""
    async with platform.db.read() as conn:
        rows = {
            r.id: r.number
            for r in await conn.execute(
                sa.select(tickets.c.id, tickets.c.number).where(
                    tickets.c.workspace_id == actor.workspace_id,
                    tickets.c.id.in_([*ids, target_id]),
                    queries.visible(actor),
                )
            )
        }
    sources = [i for i in ids if i != target_id and i in rows]
    numbers = ", ".join(f"#{rows[i]}" for i in sources)
    form = await request.form()
    fields = [(k, str(v)) for k, v in form.multi_items() if k not in ("confirm", "csrf_token")]
    return confirm_page(
        request,
        title="Merge tickets?",
        sentence=f"Merge {numbers or 'no ticket'} into #{rows.get(target_id, '?')}? Their messages move to "
        f"#{rows.get(target_id, '?')} and {'they are' if len(sources) != 1 else 'it is'} closed. "
        "This cannot be undone.",
        action="/inbox/bulk",
        fields=fields,
        button="Merge",
        cancel=back,
    )
