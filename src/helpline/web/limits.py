"""Refuse request bodies over the configured size before they are read into memory."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from helpline.web.errors import PROBLEM_JSON


class BodyTooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """413 for bodies over ``max_json`` (JSON) or ``max_other`` (uploads), by header or by counting."""

    def __init__(self, app: ASGIApp, *, max_json: int, max_other: int) -> None:
        self.app, self.max_json, self.max_other = app, max_json, max_other

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        is_json = "json" in headers.get("content-type", "") or "multipart" not in headers.get("content-type", "")
        limit = self.max_json if is_json else self.max_other
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
                    raise BodyTooLarge
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


async def _reject(send: Send, limit: int) -> None:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": "Request too large",
        "status": 413,
        "detail": f"body: the request body is larger than {limit} bytes",
        "errors": [{"field": "body", "message": f"larger than {limit} bytes"}],
    }
    payload = orjson.dumps(body)
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(payload)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": payload})
