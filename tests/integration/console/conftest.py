"""Fixtures of the console tests.

These tests may run in the same pytest session as ``tests/browser``, whose Playwright (sync API) leaves
its event loop marked as running in the main thread for the rest of the session; ``asyncio.run`` and
anyio then refuse to start. The loop is idle between browser tests, so it is unmarked while these
tests run and marked again afterwards, for Playwright's own teardown.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session", autouse=True)
def _no_foreign_running_loop() -> Iterator[None]:
    foreign = asyncio.events._get_running_loop()
    asyncio.events._set_running_loop(None)
    try:
        yield
    finally:
        asyncio.events._set_running_loop(foreign)
