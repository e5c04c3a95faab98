"""What the console's form pages share: the submitted form, its errors by field, the flash line."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request
from pydantic import ValidationError

from helpline.errors import Problem


async def form_of(request: Request, *, many: tuple[str, ...] = ()) -> dict[str, Any]:
    """The submitted form: each field's value as a string (the last, if it came more than once),
    and the fields named in ``many`` (checkbox groups, multiple selects) as lists."""
    form = await request.form()
    out: dict[str, Any] = {}
    for key in form:
        values = [v for v in form.getlist(key) if isinstance(v, str)]
        out[key] = values if key in many else (values[-1] if values else "")
    return out


def errors_of(exc: Exception, where: Mapping[str, str] | None = None) -> dict[str, str]:
    """Form errors by field name (the first part of a dotted field: an error inside a list or an
    object shows at its form field), from a pydantic ``ValidationError`` or a ``Problem``; ``_`` for
    the form as a whole. ``where`` maps a service's field paths to the inputs they came from
    (``week.mon[1]`` -> ``mon_start_3``): an error shows under the input of its path or of the
    nearest path above it."""
    out: dict[str, str] = {}
    if isinstance(exc, ValidationError):
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ()) if not isinstance(p, int)]
            out.setdefault(
                loc[0] if loc else "_", str(err.get("msg", "invalid")).removeprefix("Value error, ")
            )
    elif isinstance(exc, Problem):
        for problem in exc.errors:
            path = str(problem.get("field", "_"))
            out.setdefault(_input_of(path, where or {}), str(problem.get("message", exc.detail)))
        out = out or {"_": exc.detail}
    return out


def _input_of(path: str, where: Mapping[str, str]) -> str:
    field = path
    while field not in where and ("." in field or "[" in field):
        field = field[: max(field.rfind("."), field.rfind("["))]
    return where.get(field) or path.split(".")[0].split("[")[0]


def flash_of(request: Request, flashes: Mapping[str, str]) -> str | None:
    """The sentence for the ``?done=`` a page was redirected with after a successful post."""
    return flashes.get(request.query_params.get("done", ""))
