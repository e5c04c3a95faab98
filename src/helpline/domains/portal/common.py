"""What every portal page shares: the workspace its URL names (with that workspace's branding), the
signed-in customer of that workspace, safe ``next`` targets, and the colours that keep text readable
on the workspace's brand colour."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.datastructures import UploadFile

from helpline.domains.accounts.principal import Principal
from helpline.domains.portal import queries
from helpline.errors import NotFound
from helpline.web.deps import PlatformDep
from helpline.web.pages import (
    LoginRequired,
    contrast,
    customer_page,
    login_url_for,
    safe_next,
    workspace_brand,
)


@dataclass(frozen=True)
class Portal:
    """The workspace a portal URL names."""

    id: int
    slug: str
    name: str

    def url(self, path: str = "") -> str:
        return f"/portal/{self.slug}{path}"


async def portal_of(request: Request, platform: Any, slug: str) -> Portal:
    """The workspace named ``slug`` (404 if none); its branding becomes the page's."""
    async with platform.db.read() as conn:
        row = await queries.workspace_by_slug(conn, slug)
    if row is None:
        raise NotFound("There is no help centre at this address.")
    request.state.brand = await workspace_brand(platform, row["id"])
    return Portal(row["id"], row["slug"], row["name"])


async def anonymous_portal(request: Request, platform: PlatformDep, slug: str) -> Portal:
    return await portal_of(request, platform, slug)


@dataclass(frozen=True)
class Visit:
    """A signed-in customer on their own workspace's portal."""

    actor: Principal
    portal: Portal


async def customer_visit(request: Request, platform: PlatformDep, slug: str) -> Visit:
    """The signed-in customer, whose session must belong to this portal's workspace; anyone else is sent
    to this portal's sign-in (a session of another workspace does not open this one)."""
    portal = await portal_of(request, platform, slug)
    actor = await customer_page(request, platform)
    if actor.workspace_id != portal.id:
        raise LoginRequired(login_url_for(request, portal.url("/login")))
    request.state.brand = await workspace_brand(platform, portal.id)
    return Visit(actor, portal)


AnonPortal = Annotated[Portal, Depends(anonymous_portal)]
CustomerVisit = Annotated[Visit, Depends(customer_visit)]


def portal_next(target: str | None, portal: Portal) -> str:
    """Where to go after signing in: a page of this portal only (no other site, no other page)."""
    home = portal.url("/requests")
    target = safe_next(target, home)
    return target if target.startswith(portal.url("/")) else home


def theme_css(colour: str | None) -> str:
    """CSS for the portal on the brand colour: text on it in black or white, whichever reads better, and
    links in the brand colour only when it reads on white (WCAG AA, 4.5:1); else in dark ink."""
    if not colour:
        return ""
    ink = "#ffffff" if contrast(colour, "#ffffff") >= contrast(colour, "#000000") else "#000000"
    link = colour if contrast(colour, "#ffffff") >= 4.5 else "#111827"
    # The current page's tab darkens the bar under white text and lightens it under black text.
    current = "rgba(0,0,0,.28)" if ink == "#ffffff" else "rgba(255,255,255,.45)"
    return (
        f"body.portal {{ --brand: {colour}; --brand-ink: {ink}; --portal-link: {link}; "
        f"--portal-current: {current}; }}\n"
    )


def files_of(form: Any, name: str = "attachments") -> list[UploadFile]:
    """The files chosen in a form's file input (a browser sends an empty part when none was)."""
    return [f for f in form.getlist(name) if isinstance(f, UploadFile) and (f.filename or f.size)]
