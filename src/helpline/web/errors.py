"""RFC 9457 problem+json for every error the HTTP layer returns.

Services raise the core's errors (:mod:`helpline.errors`: ``Problem`` and its subclasses, each with a
stable ``code``); FastAPI's own validation errors and unexpected exceptions are turned into the same
shape, so clients parse one format (with ``code`` to branch on) and never see a traceback.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from helpline.errors import Problem, code_of_status

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


def problem_response(
    status: int,
    title: str,
    detail: str,
    *,
    code: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code or code_of_status(status),
    }
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or str(loc[0] if loc else "body")


def _validation_errors(exc: RequestValidationError) -> tuple[int, list[dict[str, Any]]]:
    errors = []
    status = 422
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            status = 400
            errors.append(
                {"field": "body", "message": "malformed JSON: " + str(err.get("ctx", {}).get("error", ""))}
            )
            continue
        msg = err.get("msg", "invalid")
        if err.get("type") == "extra_forbidden":
            msg = "unknown field"
        errors.append({"field": _field_name(tuple(err.get("loc", ()))), "message": msg})
    return status, errors


def is_page(request: Request) -> bool:
    """A request for an HTML page (not the API, not the chat widget's JSON under ``/chat/``, not a static
    file): errors render as a page."""
    path = request.url.path
    return not path.startswith(("/api/", "/static/", "/chat/")) and path != "/healthz"


def page_error(
    request: Request, status: int, title: str, detail: str, headers: dict[str, str] | None = None
) -> Response:
    from helpline.web.templating import render

    return render(
        request,
        "error.html",
        {"status": status, "title": title, "detail": detail},
        status=status,
        headers=headers,
    )


def install(app: FastAPI) -> None:
    from helpline.web.pages import LoginRequired

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        if request.headers.get("hx-request"):
            return Response(status_code=204, headers={"HX-Redirect": exc.login_url})
        return RedirectResponse(exc.login_url, status_code=303)

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> Response:
        if is_page(request):
            return page_error(request, exc.status, exc.title, exc.detail, exc.headers)
        return problem_response(
            exc.status, exc.title, exc.detail, code=exc.code, errors=exc.errors, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        status, errors = _validation_errors(exc)
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        title = "Malformed request body" if status == 400 else "Invalid request"
        if is_page(request):
            return page_error(request, status, title, detail)
        return problem_response(
            status, title, detail, code="malformed_body" if status == 400 else "invalid", errors=errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        titles = {404: "Not found", 405: "Method not allowed", 413: "Request too large"}
        if is_page(request):
            return page_error(request, exc.status_code, titles.get(exc.status_code, "Error"), str(exc.detail))
        errors = [{"field": "body", "message": str(exc.detail)}] if exc.status_code in (400, 413) else None
        return problem_response(
            exc.status_code,
            titles.get(exc.status_code, "Error"),
            str(exc.detail),
            headers=getattr(exc, "headers", None),
            errors=errors,
        )

    @app.exception_handler(OverflowError)
    async def _overflow(_req: Request, exc: OverflowError) -> JSONResponse:
        # A number past 64 bits in a query parameter reaches the driver; it is bad input, not a crash.
        return problem_response(
            422,
            "Invalid request",
            "a number in the request is too large",
            code="number_too_large",
            errors=[{"field": "query", "message": "number too large"}],
        )

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error")
        if is_page(request):
            return page_error(
                request, 500, "Something went wrong", "It has been logged. Try again in a moment."
            )
        return problem_response(
            500, "Internal error", "Something went wrong; it has been logged.", code="internal_error"
        )
