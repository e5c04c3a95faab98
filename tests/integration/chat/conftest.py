"""Fixtures of the chat tests: the app served by a real uvicorn on a free port inside the test's
event loop (WebSockets need a real server), clients that speak the chat protocol, and a widget."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import uvicorn
import websockets

from helpline.db import migrate
from helpline.domains.accounts.models import Role
from tests.conftest import REDIS_PREFIX, REDIS_URL, empty_pg_database, free_port, redis_or_skip

HOST_ORIGIN = "http://shop.test:8080"
PASSWORD = "correct horse battery"


@pytest.fixture
async def server(app: Any) -> AsyncIterator[str]:
    """``http://127.0.0.1:<port>`` serving ``app`` (uvicorn, in this event loop)."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan="off", log_level="warning", ws_ping_interval=None
    )
    srv = uvicorn.Server(config)
    task = asyncio.create_task(srv.serve())
    for _ in range(200):
        if srv.started:
            break
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    with contextlib.suppress(Exception):
        await asyncio.wait_for(task, 10)


class Wire:
    """One chat WebSocket: JSON frames out, JSON frames in."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def send(self, **frame: Any) -> None:
        await self.conn.send(json.dumps(frame))

    async def recv(self, timeout: float = 10) -> dict[str, Any]:  # noqa: ASYNC109
        return json.loads(await asyncio.wait_for(self.conn.recv(), timeout))  # type: ignore[no-any-return]

    async def until(self, t: str, timeout: float = 10, **match: Any) -> dict[str, Any]:  # noqa: ASYNC109
        """The next frame of type ``t`` (and fields ``match``), skipping others."""
        end = asyncio.get_running_loop().time() + timeout
        while True:
            f = await self.recv(max(0.01, end - asyncio.get_running_loop().time()))
            if f.get("t") == t and all(f.get(k) == v for k, v in match.items()):
                return f

    async def start(self, body: str, cid: str, **fields: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """Start a chat: the ``started`` frame and the first message (they may come in either order)."""
        await self.send(t="start", fields=fields, body=body, cid=cid)
        got: dict[str, dict[str, Any]] = {}
        while len(got) < 2:
            f = await self.recv()
            if f["t"] in ("started", "msg") and f["t"] not in got:
                got[f["t"]] = f
            elif f["t"] == "error":
                raise AssertionError(f)
        return got["started"], got["msg"]

    async def drain(self, seconds: float = 0.5) -> list[dict[str, Any]]:
        """Every frame that arrives within ``seconds``."""
        out = []
        with contextlib.suppress(TimeoutError):
            while True:
                out.append(await self.recv(seconds))
        return out

    async def close(self) -> None:
        await self.conn.close()


def ws_url(base: str) -> str:
    return base.replace("http://", "ws://", 1)


async def visitor(
    base: str,
    key: str,
    *,
    token: str | None = None,
    after: int = 0,
    origin: str = HOST_ORIGIN,
    user: dict[str, Any] | None = None,
) -> tuple[Wire, dict[str, Any]]:
    conn = await websockets.connect(f"{ws_url(base)}/chat/ws?widget={key}", origin=origin)  # type: ignore[arg-type]
    w = Wire(conn)
    hello: dict[str, Any] = {"token": token, "after": after}
    if user:
        hello["user"] = user
    await w.send(t="hello", **hello)
    return w, await w.until("welcome")


async def agent_socket(base: str, cookie: str) -> tuple[Wire, dict[str, Any]]:
    conn = await websockets.connect(
        f"{ws_url(base)}/chat/agent/ws",
        origin=base,  # type: ignore[arg-type]
        additional_headers={"Cookie": cookie},
    )
    w = Wire(conn)
    return w, await w.until("welcome")


async def sign_in(base: str, email: str) -> tuple[str, str]:
    """(Cookie header, CSRF token) of a console session on the running server."""
    # (30 s: a password check is slow on purpose, and slower still when every core runs tests)
    async with httpx.AsyncClient(base_url=base, timeout=30) as c:
        r = await c.post("/api/v1/session", json={"email": email, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return "; ".join(f"{k}={v}" for k, v in c.cookies.items()), r.json()["csrf_token"]


async def set_status(base: str, cookie: str, csrf: str, status: str) -> None:
    """Set the signed-in agent's chat status from the console page (admins and agents are online
    until they set another)."""
    async with httpx.AsyncClient(base_url=base, headers={"Cookie": cookie}, timeout=30) as c:
        r = await c.post("/chats/status", data={"csrf_token": csrf, "status": status})
        assert r.status_code == 303, r.text


async def latest_ticket(platform: Any) -> int:
    """The ticket of the newest chat."""
    import sqlalchemy as sa

    from helpline.domains.channels.chat.models import ChatSession

    t = ChatSession.__table__
    async with platform.db.read() as conn:
        return int(
            (await conn.execute(sa.select(t.c.ticket_id).order_by(t.c.id.desc()).limit(1))).scalar_one()
        )


def principal(ws: Any, person: Any, groups: list[str] = ()) -> Any:  # type: ignore[assignment]
    """The principal a signed-in ``person`` acts as (with the ids of ``groups``)."""
    from helpline.domains.accounts.principal import Principal

    return Principal(
        user_id=person.user_id,
        workspace_id=ws.id,
        role=person.role,
        email=person.email,
        name=person.email.split("@")[0],
        group_ids=frozenset(ws.groups[g] for g in groups),
    )


@pytest.fixture
async def widget(ws: Any) -> dict[str, Any]:
    admin = await ws.person(Role.admin)
    async with ws.client(admin) as c:
        r = await c.post(
            "/chat/widgets",
            json={
                "name": f"Shop {uuid.uuid4().hex[:4]}",
                "allowed_origins": [HOST_ORIGIN],
                "max_chats_per_agent": 2,
            },
        )
        assert r.status_code == 201, r.text
        return dict(r.json())


# --- two `helpline serve` processes sharing PostgreSQL and Redis (module-scoped: one pair per module) ---

SECRET = "two-process-test-secret-0123456789"


@pytest.fixture(scope="module")
def pg_database() -> Iterator[str]:
    """A migrated PostgreSQL database of this module's two processes (skipped, or failed in CI, when
    PostgreSQL or Redis is not reachable)."""
    redis_or_skip()
    with empty_pg_database("chat2p") as url:
        migrate.upgrade(url)
        yield url


@pytest.fixture(scope="module")
def processes(pg_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    root = tmp_path_factory.mktemp("chat2p")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPLINE_")}
    env.update(
        HELPLINE_DATABASE_URL=pg_database,
        HELPLINE_REDIS_URL=REDIS_URL,
        HELPLINE_REDIS_PREFIX=REDIS_PREFIX,
        HELPLINE_SECRET_KEY=SECRET,
        HELPLINE_VAR_DIR=str(root / "var"),
        HELPLINE_MAIL_TRANSPORT="console",
    )
    urls, procs, logs = [], [], []
    for i in range(2):
        port = free_port()
        log = open(root / f"serve{i}.log", "w")  # noqa: SIM115 (open for the process's life)
        # Jobs run in process A only, as with one worker beside N web processes.
        e = {**env, "HELPLINE_RUN_JOBS_IN_PROCESS": "true" if i == 0 else "false"}
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "helpline.cli", "serve", "--port", str(port)],
                env=e,
                cwd=root,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        logs.append(log)
        urls.append(f"http://127.0.0.1:{port}")
    try:
        for url, proc in zip(urls, procs, strict=True):
            end = time.monotonic() + 60  # (a loaded machine starts Python slowly)
            while True:
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None or time.monotonic() > end:
                    raise RuntimeError(
                        "helpline serve did not start:\n"
                        + "".join((root / f"serve{i}.log").read_text() for i in range(2))
                    )
                time.sleep(0.2)
        yield urls
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)
        for log in logs:
            log.close()
        for i in range(2):
            text = (root / f"serve{i}.log").read_text()
            assert "Traceback" not in text, text


from tests.integration.email.conftest import smtp_sink  # noqa: E402, F401  (the SMTP sink, for transcripts)
