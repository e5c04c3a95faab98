"""Server-rendered pages: one Jinja2 environment over the shared chrome and each domain's templates.

Autoescaping is on for every template; text from outside is never marked safe, and stored HTML
(sanitized on the way in) is the only thing rendered with ``|safe``. Templates get ``static()``
(a cache-busted URL), the request's CSRF token and the workspace's branding.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup, escape

from helpline import timezones

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "static"
#: The shared chrome, then every domain's ``templates/`` (``domains/x/`` and ``domains/channels/y/``).
TEMPLATE_DIRS = [
    ROOT / "templates",
    *sorted(
        p
        for pattern in ("*/templates", "*/*/templates")
        for p in (ROOT / "domains").glob(pattern)
        if p.is_dir()
    ),
]


@cache
def _static_hash(path: str) -> str:
    try:
        return hashlib.sha256((STATIC / path).read_bytes()).hexdigest()[:10]
    except OSError:
        return "0"


def static(path: str) -> str:
    return f"/static/{path}?v={_static_hash(path)}"


def viewer_timezone(ctx: dict[str, Any] | Context) -> str:
    """Whose clock a page shows: the signed-in person's own time zone, else their workspace's."""
    actor = ctx.get("actor")
    own = getattr(actor, "timezone", None)
    if own:
        return str(own)
    brand = ctx.get("brand") or {}
    return str(brand.get("timezone") or "UTC")


@pass_context
def _localtime(
    ctx: Context, value: datetime | None, fmt: str = timezones.FORMAT, *, bare: bool = False
) -> str:
    """``<time datetime="UTC ISO">local text</time>`` in the viewer's time zone (:func:`viewer_timezone`);
    ``bare=True`` gives the text alone (inside an ``<option>`` or an attribute)."""
    if value is None:
        return ""
    shown = timezones.text(value, viewer_timezone(ctx), fmt)
    if bare:
        return shown
    return Markup('<time datetime="{}">{}</time>').format(timezones.utc_iso(value), escape(shown))


@pass_context
def _when(ctx: Context, value: datetime | None, fmt: str = timezones.FORMAT) -> str:
    """The text of :func:`_localtime` alone (kept for templates written before it)."""
    return "" if value is None else timezones.text(value, viewer_timezone(ctx), fmt)


def _ago(value: datetime | None) -> str:
    if value is None:
        return ""
    from helpline.db.base import utcnow

    seconds = int((utcnow() - value).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return "just now"


def _stored_html(value: str) -> Markup:
    """HTML that was sanitized when it was stored, made fit to show (image alternative text)."""
    from helpline.domains.tickets.content import with_image_alts

    return Markup(with_image_alts(value or ""))  # noqa: S704 (sanitized on the way in)


env = Environment(
    loader=FileSystemLoader([str(p) for p in TEMPLATE_DIRS]),
    autoescape=select_autoescape(["html", "xml"], default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
env.globals["static"] = static
env.filters["when"] = _when
env.filters["ago"] = _ago
env.filters["localtime"] = _localtime
env.filters["stored_html"] = _stored_html
env.filters["zip_self"] = lambda values: [(v, v) for v in values]


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """Render ``name`` with the request's page context (actor, CSRF token, branding) and ``context``."""
    ctx: dict[str, Any] = {
        "request": request,
        "actor": getattr(request.state, "actor", None),
        "csrf_token": getattr(request.state, "csrf_token", ""),
        "brand": getattr(request.state, "brand", None) or {},
        "path": request.url.path,
        "nav": getattr(request.state, "nav", None) or {},
    }
    ctx.update(context or {})
    html = env.get_template(name).render(ctx)
    return HTMLResponse(html, status_code=status, headers=headers)
