"""Stored files served to a browser: attachments, the original .eml, help-centre files.

What someone uploaded or mailed must never run on our origin: it goes out as a download
(``Content-Disposition: attachment``) unless the caller knows its type is inert, with ``nosniff`` and a
sandboxing Content-Security-Policy. File names are sent both as plain ASCII and RFC 5987 UTF-8, so no
name can break the header. A file the storage has lost is a 410, never a 500.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import Response

from helpline.errors import Gone

__all__ = ["Gone", "disposition", "stored_file"]


def disposition(filename: str, *, inline: bool = False) -> str:
    ascii_name = "".join(c for c in filename if c.isascii() and c.isprintable() and c not in '"\\') or "file"
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


async def stored_file(
    platform: Any,
    sha256: str,
    filename: str,
    *,
    media_type: str = "application/octet-stream",
    inline: bool = False,
    cache: str = "private, no-store",
    headers: dict[str, str] | None = None,
) -> Response:
    """The stored bytes ``sha256`` as ``filename``; :class:`Gone` when storage no longer has them."""
    try:
        data = await platform.storage.get(sha256)
    except (FileNotFoundError, ValueError):
        raise Gone(f"{filename} is missing from storage") from None
    return Response(
        data,
        media_type=media_type,
        headers={
            "Content-Disposition": disposition(filename, inline=inline),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": cache,
            **(headers or {}),
        },
    )
