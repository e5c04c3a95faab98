"""The OpenAPI document as clients should read it: every error answer is RFC 9457 problem+json.

FastAPI documents validation errors as its own ``HTTPValidationError`` (``detail`` a list); Helpline
answers them, like every other error, as a ``Problem``. This rewrites the generated document once.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from helpline.web.errors import PROBLEM_JSON

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": (
        "RFC 9457 problem details. `code` is a stable machine-readable name of the error (branch on it, "
        "not on `title` or `detail`); `errors` names each field that was wrong."
    ),
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}
_REF = {"$ref": "#/components/schemas/Problem"}


def install(app: FastAPI) -> None:
    """Replace ``app.openapi`` with a cached generator that documents errors as problem+json."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(
                title=app.title,
                version=app.version,
                openapi_version=app.openapi_version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = problem_errors(doc)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def problem_errors(doc: dict[str, Any]) -> dict[str, Any]:
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Problem"] = PROBLEM_SCHEMA
    for ops in doc.get("paths", {}).values():
        for op in ops.values():
            for code, answer in op.get("responses", {}).items():
                if code[:1] in ("4", "5"):
                    if code == "422":
                        answer["description"] = "Invalid request: `errors` names each field"
                    answer["content"] = {PROBLEM_JSON: {"schema": _REF}}
    return doc
