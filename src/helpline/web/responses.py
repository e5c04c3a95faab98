"""JSON responses rendered by orjson (fast, and datetimes as RFC 3339)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse


class JSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def plain(content: Any) -> Any:
    """``content`` as plain JSON values (what would be sent), for storing answers."""
    return orjson.loads(orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS))
