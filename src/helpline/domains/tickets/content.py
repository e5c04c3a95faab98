"""Message bodies and files: sanitize HTML on the way in, derive text, attach uploaded files."""

from __future__ import annotations

import html as htmllib
import mimetypes
import re
import secrets
from typing import Any

import nh3
import sqlalchemy as sa

from helpline.db.base import utcnow
from helpline.domains.tickets.models import Attachment, Upload
from helpline.errors import Invalid, Problem
from helpline.platform.db import UnitOfWork
from helpline.platform.storage import Storage

uploads = Upload.__table__
attachments = Attachment.__table__

_ALLOWED_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "code",
    "details",
    "div",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "li",
    "ol",
    "p",
    "pre",
    "s",
    "small",
    "span",
    "strong",
    "sub",
    "summary",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "u",
    "ul",
}
_ALLOWED_ATTRS = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
}
_BLOCK_END = re.compile(r"</(p|div|h[1-6]|li|tr|blockquote|pre)>|<br\s*/?>", re.I)
_SPACES = re.compile(r"[ \t]+")
_BLANKS = re.compile(r"\n{3,}")


_IMG_NO_ALT = re.compile(r"<img(?![^>]*\salt=)", re.IGNORECASE)


def with_image_alts(safe_html: str) -> str:
    """Give every image without alternative text an empty one (decorative), as screen readers need."""
    return _IMG_NO_ALT.sub('<img alt=""', safe_html)


#: Attributes by which mail clients mark quotes and signatures (``class="gmail_quote"``,
#: ``type="cite"``, ``id="divRplyFwdMsg"``), kept only on the way to folding them.
_MARKER_ATTRS = {"*": {"class", "id", "type"}}


def sanitize_html(raw: str, *, keep_markers: bool = False) -> str:
    """HTML safe to show: no script, no event handlers, no javascript: URLs, links open safely.

    ``keep_markers`` also keeps ``class``, ``id`` and ``type`` (for the email channel's quote folding,
    whose output is sanitized again without them); never store or show that form.
    """
    return with_image_alts(
        nh3.clean(
            raw,
            tags=_ALLOWED_TAGS,
            attributes={**_ALLOWED_ATTRS, **_MARKER_ATTRS} if keep_markers else _ALLOWED_ATTRS,
            url_schemes={"http", "https", "mailto", "cid", "data"},
            link_rel="noopener noreferrer nofollow",
            strip_comments=True,
        )
    )


def html_to_text(safe_html: str) -> str:
    marked = _BLOCK_END.sub("\n", safe_html)
    text = htmllib.unescape(nh3.clean(marked, tags=set()))
    lines = [_SPACES.sub(" ", line).strip() for line in text.splitlines()]
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip()


def text_to_html(text: str) -> str:
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p]
    return "".join("<p>" + htmllib.escape(p).replace("\n", "<br>") + "</p>" for p in paragraphs)


def render_body(body: str, *, is_html: bool) -> tuple[str, str]:
    """(text, sanitized html) of a message body given as text or as HTML."""
    if is_html:
        safe = sanitize_html(body)
        return html_to_text(safe), safe
    return body.strip(), text_to_html(body)


def guess_type(filename: str, declared: str | None) -> str:
    declared = (declared or "").split(";")[0].strip().lower()
    if declared and declared != "application/octet-stream":
        return declared
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


def clean_filename(name: str) -> str:
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable() and c not in '<>:"|?*').strip(" .")
    return name[:200] or "file"


async def store_upload(
    uow: UnitOfWork,
    storage: Storage,
    *,
    workspace_id: int,
    user_id: int,
    filename: str,
    content_type: str | None,
    data: bytes,
    max_bytes: int,
    blocked: list[str],
) -> dict[str, Any]:
    if not data:
        raise Invalid("file", "the file is empty")
    if len(data) > max_bytes:
        raise Problem(
            f"file: larger than {max_bytes} bytes",
            status=413,
            title="File too large",
            errors=[{"field": "file", "message": f"larger than {max_bytes} bytes"}],
        )
    filename = clean_filename(filename)
    ctype = guess_type(filename, content_type)
    if ctype in blocked:
        raise Invalid("file", f"files of type {ctype} are not accepted")
    digest = await storage.put(data)
    token = secrets.token_urlsafe(24)
    await uow.execute(
        uploads.insert().values(
            workspace_id=workspace_id,
            token=token,
            uploader_user_id=user_id,
            filename=filename,
            content_type=ctype,
            size=len(data),
            sha256=digest,
            created_at=utcnow(),
        )
    )
    return {"token": token, "filename": filename, "content_type": ctype, "size": len(data)}


async def attach_uploads(
    uow: UnitOfWork, *, workspace_id: int, user_id: int, message_id: int, tokens: list[str]
) -> None:
    """Turn the caller's own uploads into attachments of ``message_id``; each upload is used once."""
    if not tokens:
        return
    rows = (
        (
            await uow.execute(
                sa.select(uploads).where(
                    uploads.c.token.in_(tokens),
                    uploads.c.workspace_id == workspace_id,
                    uploads.c.uploader_user_id == user_id,
                )
            )
        )
        .mappings()
        .all()
    )
    found = {r["token"]: r for r in rows}
    missing = [t for t in tokens if t not in found]
    if missing:
        raise Invalid("attachments", f"unknown upload token(s): {', '.join(missing)}")
    now = utcnow()
    await uow.execute(
        attachments.insert(),
        [
            {
                "workspace_id": workspace_id,
                "message_id": message_id,
                "filename": found[t]["filename"],
                "content_type": found[t]["content_type"],
                "size": found[t]["size"],
                "sha256": found[t]["sha256"],
                "created_at": now,
            }
            for t in tokens
        ],
    )
    await uow.execute(uploads.delete().where(uploads.c.token.in_(tokens)))
