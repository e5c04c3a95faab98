"""The errors of Helpline's core: what domain services and the platform raise when a request breaks a
rule. No web framework here: the HTTP layer (``web.errors``) turns them into problem+json or an
error page, the CLI into one line, jobs into a logged failure.

Every error has a stable machine-readable ``code`` (a class default, or a more precise one given where
it is raised, e.g. ``Conflict(..., code="email_taken")``) that clients can branch on; ``status`` is
the HTTP status the edge answers with, ``title`` a short summary, ``detail`` the sentence a person
reads, and ``errors`` the fields at fault (``[{"field": ..., "message": ...}]``).
"""

from __future__ import annotations

from typing import Any


class Problem(Exception):
    """An error with a code, a status, a short title, a human detail and optionally the fields at fault."""

    status = 400
    title = "Bad request"
    code = "bad_request"

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        title: str | None = None,
        code: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if status is not None:
            self.status = status
        if title is not None:
            self.title = title
        if code is not None:
            self.code = code
        elif status is not None and status != type(self).status:
            self.code = _CODES.get(status, self.code)
        self.errors = errors or []
        self.headers = headers or {}


class NotFound(Problem):
    status, title, code = 404, "Not found", "not_found"


class Forbidden(Problem):
    status, title, code = 403, "Forbidden", "forbidden"


class Unauthorized(Problem):
    status, title, code = 401, "Unauthorized", "unauthorized"


class ReauthRequired(Problem):
    """A sensitive change asked without a fresh proof of who is asking (password, code or passkey)."""

    status, title, code = 403, "Re-authentication required", "reauth_required"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, errors=[{"field": "password", "message": "confirm your password"}])


class Conflict(Problem):
    status, title, code = 409, "Conflict", "conflict"


class Gone(Problem):
    status, title, code = 410, "Gone", "gone"


class PreconditionFailed(Problem):
    status, title, code = 412, "Precondition failed", "precondition_failed"


class Invalid(Problem):
    """A request that parsed but whose values break a rule; ``field`` names the culprit."""

    status, title, code = 422, "Invalid request", "invalid"

    def __init__(self, field: str, message: str, *, code: str | None = None) -> None:
        super().__init__(f"{field}: {message}", code=code, errors=[{"field": field, "message": message}])


class TooManyRequests(Problem):
    status, title, code = 429, "Too many requests", "too_many_requests"


#: The code of a plain ``Problem`` raised with only a status.
_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    410: "gone",
    412: "precondition_failed",
    413: "too_large",
    422: "invalid",
    429: "too_many_requests",
}


def code_of_status(status: int) -> str:
    """The code of an error known only by its HTTP status (the framework's own 404, 405, 413…)."""
    return _CODES.get(status, "method_not_allowed" if status == 405 else "error")
