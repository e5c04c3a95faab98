"""JSON responses rendered by orjson (fast, and datetimes as RFC 3339)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse

_INT64 = (-(2**63), 2**64 - 1)


def _wide_ints_as_floats(value: Any) -> Any:
    """PostgreSQL's jsonb prints a float such as 6.9e+270 as a 271-digit integer; orjson stops at 64
    bits. Such numbers go out as floats, which is what the client sent."""
    if isinstance(value, int) and not isinstance(value, bool) and not _INT64[0] <= value <= _INT64[1]:
        return float(value)
    if isinstance(value, dict):
        return {k: _wide_ints_as_floats(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_wide_ints_as_floats(v) for v in value]
    return value


def dumps(content: Any) -> bytes:
    try:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:
        return orjson.dumps(_wide_ints_as_floats(content), option=orjson.OPT_NON_STR_KEYS)


class JSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        return dumps(content)


def plain(content: Any) -> Any:
    """``content`` as plain JSON values (what would be sent), for storing answers."""
    return orjson.loads(dumps(content))
