"""Fixtures of the console tests.

These tests may run in the same pytest session as ``tests/browser``, whose Playwright (sync API) leaves
its event loop marked as running in the main thread for the rest of the session; ``asyncio.run`` and
anyio then refuse to start. The loop is idle between browser tests, so it is unmarked while these
tests run and marked again afterwards, for Playwright's own teardown.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest

from helpline.domains.accounts.models import Role


@pytest.fixture(scope="session", autouse=True)
def _no_foreign_running_loop() -> Iterator[None]:
    foreign = asyncio.events._get_running_loop()
    asyncio.events._set_running_loop(None)
    try:
        yield
    finally:
        asyncio.events._set_running_loop(foreign)


PASSWORD = "correct horse battery"


class Console:
    """An httpx client signed in to the console with a session cookie, and that session's CSRF token."""

    def __init__(self, client: httpx.AsyncClient, csrf: str) -> None:
        self.client, self.csrf = client, csrf

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        return await self.client.get(path, **kw)

    async def post(
        self, path: str, data: dict[str, Any] | None = None, *, csrf: bool = True, **kw: Any
    ) -> httpx.Response:
        form = dict(data or {})
        if csrf:
            form["csrf_token"] = self.csrf
        return await self.client.post(path, data=form, **kw)

    async def aclose(self) -> None:
        await self.client.aclose()


@pytest.fixture
async def console(ws: Any) -> AsyncIterator[Callable[..., Awaitable[tuple[Any, Console]]]]:
    """``await console(role, groups=[...])``: a new person of ``ws`` and a console signed in as them."""
    opened: list[Console] = []

    async def make(role: Role | str = Role.agent, **kw: Any) -> tuple[Any, Console]:
        person = await ws.person(role, password=PASSWORD, **kw)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=ws.app), base_url="http://testserver")
        r = await client.post("/api/v1/session", json={"email": person.email, "password": PASSWORD})
        assert r.status_code == 200, r.text
        c = Console(client, r.json()["csrf_token"])
        opened.append(c)
        return person, c

    yield make
    for c in opened:
        await c.aclose()
