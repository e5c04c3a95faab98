"""Shared fixtures: real databases (SQLite always, PostgreSQL when reachable), the app, and a
factory for workspaces with users and tokens.

Tests that take the ``platform`` fixture run once per database backend. PostgreSQL runs are skipped,
with the reason printed, when no server answers at HELPLINE_TEST_POSTGRES_URL
(default ``postgresql://postgres@127.0.0.1:5432/test``).

``make test`` runs the suite in several processes (pytest-xdist). Each process has its own SQLite
file and PostgreSQL databases (named after :data:`WORKER`), its own Redis prefix
(:data:`REDIS_PREFIX`: workspace ids repeat across the processes' databases, and Redis channels and
keys are named by them), and servers on ports the system hands out (:func:`free_port`), so no two
processes ever share state; the same holds for two ``make test`` runs side by side.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import re
import shutil
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from helpline.app import create_app
from helpline.db.migrate import upgrade
from helpline.domains.accounts import service as accounts
from helpline.domains.accounts.models import Role
from helpline.platform.feed import REGISTRY as FEED
from helpline.platform.feed import FeedWorker
from helpline.platform.jobs import JobRunner
from helpline.platform.runtime import Platform, build_platform
from helpline.settings import Settings

PG_URL = os.environ.get("HELPLINE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("HELPLINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
PASSWORD = "correct horse battery"

#: This test process under pytest-xdist (``gw0``, ``gw1``, …), ``main`` without it.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
#: Put before every Redis key and channel of this process's tests (``HELPLINE_REDIS_PREFIX``): the
#: worker and the process id, so neither another worker nor another run of the suite hears them.
REDIS_PREFIX = f"helpline-test:{WORKER}:{os.getpid()}:"


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> None:
    """Every ``async def test_*`` runs under anyio (marked before parametrization sees it)."""
    if name.startswith("test") and inspect.iscoroutinefunction(obj):
        pytest.mark.anyio(obj)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


def _pg_reachable(url: str) -> str | None:
    import asyncpg

    async def probe() -> None:
        conn = await asyncpg.connect(url.replace("+asyncpg", ""), timeout=3)
        await conn.close()

    try:
        asyncio.run(probe())
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that the system just handed out (never a fixed one: several test
    processes run at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def redis_or_skip() -> None:
    """Skip the test when no Redis answers at :data:`REDIS_URL`; fail it instead under
    ``HELPLINE_TEST_REQUIRE_SERVICES`` (CI)."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as exc:
        if os.environ.get("HELPLINE_TEST_REQUIRE_SERVICES"):
            pytest.fail(f"Redis is required here but not reachable at {REDIS_URL}: {exc}")
        pytest.skip(f"Redis not reachable at {REDIS_URL} ({exc}); start it or set HELPLINE_TEST_REDIS_URL")


@pytest.fixture(scope="session")
def tmp_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="helpline-tests-"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def sqlite_url(tmp_root: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_root / 'test.db'}"
    upgrade(url)
    return url


@contextmanager
def empty_pg_database(prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database (its SQLAlchemy URL), dropped afterwards. Skips the test when
    PostgreSQL is not reachable; fails it instead under ``HELPLINE_TEST_REQUIRE_SERVICES`` (CI)."""
    why = _pg_reachable(PG_URL)
    if why is not None:
        if os.environ.get("HELPLINE_TEST_REQUIRE_SERVICES"):
            pytest.fail(f"PostgreSQL is required here but not reachable at {PG_URL}: {why}")
        pytest.skip(
            f"PostgreSQL not reachable at {PG_URL} ({why}); start it or set HELPLINE_TEST_POSTGRES_URL"
        )
    import asyncpg

    name = f"helpline_{prefix}_{WORKER}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    base = PG_URL.replace("+asyncpg", "")

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(base)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield Settings(database_url=base.rsplit("/", 1)[0] + f"/{name}").effective_database_url
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with empty_pg_database("test") as url:
        upgrade(url)
        yield url


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test that needs a database runs on SQLite and on PostgreSQL."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(name))


@pytest.fixture
def settings(database_url: str, tmp_root: Path) -> Settings:
    return Settings(
        database_url=database_url,
        var_dir=tmp_root / "var",
        secret_key="test-secret-key-not-for-production",
        mail_transport="console",
        run_jobs_in_process=False,
        redis_prefix=REDIS_PREFIX,  # used where a test adds a redis_url
    )


@pytest.fixture
async def platform(settings: Settings) -> AsyncIterator[Platform]:
    p = build_platform(settings)
    # As `helpline migrate` does: the feed's consumers (the SLA engine) start before any data.
    await FeedWorker(p, FEED).setup()
    yield p
    await p.close()


@pytest.fixture
def app(platform: Platform) -> Any:
    return create_app(platform=platform)


async def drain(platform: Platform) -> int:
    """Run every queued background job now (tests run no worker in the background)."""
    return await JobRunner(platform).drain()


@dataclass
class Person:
    user_id: int
    email: str
    role: Role
    token: str
    contact_id: int | None = None
    workspace_id: int = 0


@dataclass
class WS:
    """A fresh workspace: every test gets its own, so tests never see each other's rows."""

    platform: Platform
    app: Any
    id: int
    groups: dict[str, int] = field(default_factory=dict)

    async def person(
        self,
        role: Role | str = Role.agent,
        *,
        groups: list[str] = (),
        name: str = "",
        email: str | None = None,
        password: str | None = None,
    ) -> Person:
        role = Role(role)
        email = email or f"{role.value}-{uuid.uuid4().hex[:10]}@example.test"
        async with self.platform.db.transaction() as uow:
            for g in groups:
                if g not in self.groups:
                    self.groups[g] = await accounts.create_group(uow, self.id, g)
            user_id = await accounts.create_user(
                uow,
                self.id,
                email=email,
                role=role,
                name=name or email.split("@")[0],
                password=password,
                group_names=list(groups),
            )
            _, token = await accounts.create_token(uow, self.id, user_id, name="test")
        contact_id = None
        if role is Role.customer:
            from helpline.domains.customers.service import contact_by_identity

            async with self.platform.db.transaction() as uow:
                contact_id = await contact_by_identity(uow, self.id, "email", email)
        return Person(user_id, email, role, token, contact_id, self.id)

    def client(self, who: Person | str | None = None) -> httpx.AsyncClient:
        headers = {}
        token = who.token if isinstance(who, Person) else who
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://testserver/api/v1", headers=headers
        )


@pytest.fixture
async def make_ws(platform: Platform, app: Any) -> Any:
    async def make(name: str = "Acme Support") -> WS:
        async with platform.db.transaction() as uow:
            ws_id = await accounts.create_workspace(uow, name, f"ws-{uuid.uuid4().hex[:12]}")
        return WS(platform, app, ws_id)

    return make


@pytest.fixture
async def ws(make_ws: Any) -> WS:
    return await make_ws()


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
async def console(ws: WS) -> AsyncIterator[Callable[..., Awaitable[tuple[Person, Console]]]]:
    """``await console(role, groups=[...])``: a new person of ``ws`` and a console signed in as them."""
    opened: list[Console] = []

    async def make(role: Role | str = Role.agent, **kw: Any) -> tuple[Person, Console]:
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


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """Assert ``response`` is an RFC 9457 problem with ``status``; its body."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    assert re.fullmatch(r"[a-z][a-z0-9_]*", body.get("code", "")), f"no machine-readable code: {body}"
    return body


def field_error(html: str, name: str) -> str:
    """The error a console form page shows under its field ``name`` (fails when there is none)."""
    found = re.search(rf'<p class="error" id="e-{name}">([^<]*)</p>', html)
    assert found, f"no error shown for {name}"
    return found.group(1)
