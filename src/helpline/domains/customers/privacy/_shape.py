"""How rows become the export's JSON values, and where the ZIP keeps each file."""

from __future__ import annotations

import contextlib
import email.header
from datetime import datetime
from email.parser import BytesHeaderParser
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

#: Header fields of a stored email beyond this many are left out of the export (the .eml has them all).
_MAX_HEADERS = 200


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def pick(row: Any, *names: str) -> dict[str, Any]:
    return {n: iso(row[n]) if isinstance(row[n], datetime) else row[n] for n in names}


async def rows_of(conn: AsyncConnection, stmt: sa.Select[Any]) -> list[dict[str, Any]]:
    return [dict(r) for r in (await conn.execute(stmt)).mappings()]


def attachment_path(a: dict[str, Any]) -> str:
    """Where the ZIP keeps an attachment: ``attachments/<id>/<file name>``."""
    name = a["filename"].replace("/", "_").replace("\\", "_").lstrip(".") or "file"
    return f"attachments/{a['id']}/{name}"


def eml_path(inbound_id: int) -> str:
    return f"emails/{inbound_id}.eml"


def headers_of(raw: bytes) -> list[list[str]]:
    """The header fields of a stored email as ``[name, decoded value]`` pairs, in order."""
    msg = BytesHeaderParser().parsebytes(raw)
    out: list[list[str]] = []
    for name, value in msg.items()[:_MAX_HEADERS]:
        text = str(value)
        with contextlib.suppress(ValueError, LookupError, UnicodeError):
            text = str(email.header.make_header(email.header.decode_header(text)))
        out.append([name, " ".join(text.split())])
    return out
