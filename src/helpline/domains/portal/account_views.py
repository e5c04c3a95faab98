"""The customer's own account on the portal (``/portal/<slug>/profile``: name, email, time zone, and a
password change for those who have one) and their "Mark as solved" on a request of their own.

Writes go through the accounts service (the person's name and password) and the tickets service
(``solve_by_customer``, recorded as the customer's action), as the console's do.
"""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from helpline import timezones
from helpline.domains.accounts import audit
from helpline.domains.accounts import service as accounts
from helpline.domains.accounts.models import User
from helpline.domains.accounts.security import verify_password
from helpline.domains.portal.auth import _login_page
from helpline.domains.portal.common import CustomerVisit, Visit
from helpline.domains.tickets import queries as ticket_queries
from helpline.domains.tickets import service as tickets
from helpline.errors import Problem
from helpline.web.deps import PlatformDep
from helpline.web.pages import redirect
from helpline.web.templating import render
from helpline.web.types import IdPath

router = APIRouter(include_in_schema=False)
users = User.__table__
Text = Annotated[str, Form()]
FLASHES = {"saved": "Saved.", "solved": "Marked as solved. Reply here if you need us again."}


async def _profile(
    request: Request,
    visit: Visit,
    platform: Any,
    *,
    errors: dict[str, str] | None = None,
    flash: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    async with platform.db.read() as conn:
        user = (
            await conn.execute(
                sa.select(users.c.name, users.c.email, users.c.timezone, users.c.password_hash).where(
                    users.c.id == visit.actor.user_id
                )
            )
        ).one()
    return render(
        request,
        "portal/profile.html",
        {
            "portal": visit.portal,
            "title": "Your profile",
            "user": user,
            "has_password": bool(user.password_hash),
            "zones": timezones.names(),
            "errors": errors or {},
            "flash": flash or FLASHES.get(request.query_params.get("done", "")),
        },
        status=status,
    )


@router.get("/portal/{slug}/profile")
async def profile(request: Request, visit: CustomerVisit, platform: PlatformDep) -> HTMLResponse:
    return await _profile(request, visit, platform)


@router.post("/portal/{slug}/profile")
async def save_profile(
    request: Request, visit: CustomerVisit, platform: PlatformDep, name: Text = "", timezone: Text = ""
) -> Response:
    actor = visit.actor
    try:
        async with platform.db.transaction() as uow:
            await accounts.update_own_profile(uow, actor, name=name, timezone=timezone)
    except Problem as exc:
        field, said = (
            (exc.errors[0]["field"], exc.errors[0]["message"]) if exc.errors else ("name", exc.detail)
        )
        return await _profile(request, visit, platform, errors={field: said}, status=exc.status)
    return redirect(visit.portal.url("/profile?done=saved"))


@router.post("/portal/{slug}/profile/password")
async def change_password(
    request: Request, visit: CustomerVisit, platform: PlatformDep, current: Text = "", password: Text = ""
) -> Response:
    actor = visit.actor
    async with platform.db.read() as conn:
        stored = (
            await conn.execute(sa.select(users.c.password_hash).where(users.c.id == actor.user_id))
        ).scalar()
    if not stored or not verify_password(stored, current):
        said = "That is not your current password." if stored else "You sign in without a password."
        return await _profile(request, visit, platform, errors={"current": said}, status=422)
    try:
        async with platform.db.transaction() as uow:
            await accounts.check_identity_change(uow, actor)
            await accounts.set_password(uow, actor.user_id, password)
            await audit.record_own(uow, "password.changed", actor)
    except Problem as exc:
        said = exc.errors[0]["message"] if exc.errors else exc.detail
        return await _profile(request, visit, platform, errors={"password": said}, status=exc.status)
    return _login_page(
        request,
        visit.portal,
        next_url=visit.portal.url("/requests"),
        flash="Your password is changed and every session ended. Sign in with the new one.",
    )


@router.post("/portal/{slug}/requests/{ticket_id}/solve")
async def solve(ticket_id: IdPath, visit: CustomerVisit, platform: PlatformDep) -> Response:
    """The customer's own request, marked solved (404 for any other, as if it did not exist)."""
    async with platform.db.transaction() as uow:
        ticket = await ticket_queries.access_ticket(uow.conn, visit.actor, ticket_id)
        await tickets.solve_by_customer(uow, platform.pubsub, visit.actor, ticket)
    return redirect(visit.portal.url(f"/requests/{ticket_id}?done=solved"))
