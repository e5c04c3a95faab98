"""The core's errors carry a stable code, and the HTTP layer sends it in problem+json."""

from __future__ import annotations

import ast
from pathlib import Path

import helpline
from helpline.errors import Conflict, Gone, Invalid, NotFound, Problem, TooManyRequests
from helpline.web.errors import problem_response


def test_each_error_has_its_own_code_and_a_raise_can_be_more_precise() -> None:
    assert NotFound("no ticket 3").code == "not_found"
    assert Invalid("email", "not an email address").code == "invalid"
    assert Invalid("email", "taken", code="email_taken").code == "email_taken"
    assert Conflict("x", code="already_merged").code == "already_merged"
    assert Gone("lost").code == "gone"
    assert TooManyRequests("slow down").code == "too_many_requests"
    # A plain Problem raised with only a status takes that status's code.
    assert Problem("too many failed attempts", status=429).code == "too_many_requests"
    assert Problem("empty", status=400, title="Empty message").code == "bad_request"


def test_problem_json_carries_the_code() -> None:
    response = problem_response(409, "Conflict", "merged already", code="already_merged")
    assert b'"code":"already_merged"' in response.body
    assert b'"code":"not_found"' in problem_response(404, "Not found", "gone").body


def test_the_core_errors_module_imports_no_web_framework() -> None:
    source = Path(helpline.__file__).parent / "errors.py"
    imported = {
        (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(ast.parse(source.read_text()))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert not {m for m in imported if m.split(".")[0] in {"fastapi", "starlette"} or "web" in m}
