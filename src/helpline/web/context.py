"""What the domains may know of the request being served, without importing HTTP: the client's
address, for the audit log (``accounts.audit.client_ip``)."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from helpline.domains.accounts.audit import client_ip


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        token = client_ip.set(str(client[0]) if client else "")
        try:
            await self.app(scope, receive, send)
        finally:
            client_ip.reset(token)
