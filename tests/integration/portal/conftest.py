"""Fixtures of the portal's integration tests."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session", autouse=True)
def _no_foreign_running_loop() -> Iterator[None]:
    """Let these tests run in the same pytest session as the browser tests, in any order.

    Playwright's sync API leaves its event loop marked as running in the main thread for as long as the
    session's browser lives, and then every ``asyncio.run`` (migrations, the anyio test runner) refuses to
    start. That loop is idle while these tests run, so the mark is lifted for them and put back after.
    """
    loop = asyncio.events._get_running_loop()
    if loop is not None:
        asyncio.events._set_running_loop(None)
    yield
    if loop is not None:
        asyncio.events._set_running_loop(loop)
