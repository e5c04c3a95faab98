"""Refuse request bodies over the configured size before they are read into memory."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl

import orjson
from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from helpline.errors import code_of_status
from helpline.web.errors import PROBLEM_JSON


class BodyTooLarge(HTTPException):
    """Raised while the body is read; FastAPI lets an HTTPException through its body parsing."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"body: the request body is larger than {_size(limit)}")
        self.limit = limit


class BodyLimitMiddleware:
    """413 for bodies over ``max_json`` (JSON) or ``max_other`` (uploads), by header or by counting.

    ``routes`` are ``(path pattern, limit)`` pairs for routes whose body is neither (a raw email):
    the first pattern that matches the whole path sets the limit, whatever the content type."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_json: int,
        max_other: int,
        routes: Sequence[tuple[re.Pattern[str], int]] = (),
    ) -> None:
        self.app, self.max_json, self.max_other, self.routes = app, max_json, max_other, tuple(routes)

    def _limit(self, path: str, content_type: str) -> int:
        for pattern, limit in self.routes:
            if pattern.fullmatch(path):
                return limit
        is_json = "json" in content_type or "multipart" not in content_type
        return self.max_json if is_json else self.max_other

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        limit = self._limit(scope["path"], headers.get("content-type", ""))
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await _reject(send, limit)
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await _reject(send, limit)


class QueryNulMiddleware:
    """422 naming the parameter when a query string holds U+0000 (``%00``), which no database column
    can be compared with on PostgreSQL and no real search needs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query: bytes = scope.get("query_string", b"") if scope["type"] == "http" else b""
        if b"%00" in query or b"\x00" in query:
            names = [
                k for k, v in parse_qsl(query.decode("latin-1"), keep_blank_values=True) if "\x00" in k + v
            ]
            if names:
                await _send_problem(
                    send,
                    422,
                    "Invalid request",
                    [
                        {
                            "field": name.replace("\x00", ""),
                            "message": "must not contain the NUL character (U+0000)",
                        }
                        for name in names
                    ],
                )
                return
        await self.app(scope, receive, send)


async def _reject(send: Send, limit: int) -> None:
    await _send_problem(
        send, 413, "Request too large", [{"field": "body", "message": f"larger than {_size(limit)}"}]
    )


def _size(limit: int) -> str:
    """``26214400 bytes (25 MiB)``: exact for programs, readable for people."""
    mib = limit / (1024 * 1024)
    return f"{limit} bytes ({mib:g} MiB)" if limit >= 1024 * 1024 else f"{limit} bytes"


async def _send_problem(send: Send, status: int, title: str, errors: list[dict[str, str]]) -> None:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": "; ".join(f"{e['field']}: {e['message']}" for e in errors),
        "code": code_of_status(status),
        "errors": errors,
    }
    payload = orjson.dumps(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
