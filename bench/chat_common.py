"""Shared set-up of the chat benchmarks: a fresh database with a workspace, an agent and a widget,
and a real ``helpline serve`` process (optionally pinned to CPUs with ``taskset``)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from common import VAR, async_url, log  # noqa: E402

ORIGIN = "http://bench-shop.test"
PASSWORD = "bench password 123"
SECRET = "chat-bench-secret-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kib(pid: int) -> int:
    """Resident memory of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used, from /proc (independent of what else runs)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu_seconds(pid: int) -> dict[int, float]:
    """User + system CPU time of each thread of a process (the main thread runs the event loop;
    the SQLite driver and the job runner's work run in others)."""
    out: dict[int, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[int(task.name)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


async def _seed(url: str, agents: int, max_chats: int) -> dict[str, Any]:
    from helpline.domains.accounts import service as accounts
    from helpline.domains.accounts.models import Role
    from helpline.domains.accounts.principal import Principal
    from helpline.domains.channels.chat import widgets
    from helpline.platform.runtime import build_platform
    from helpline.settings import Settings

    platform = build_platform(Settings(database_url=url, secret_key=SECRET))
    try:
        async with platform.db.transaction() as uow:
            ws = await accounts.create_workspace(uow, "Chat bench", f"chat-{uuid.uuid4().hex[:8]}")
            admin = await accounts.create_user(
                uow,
                ws,
                email=f"admin-{uuid.uuid4().hex[:6]}@bench.test",
                role=Role.admin,
                name="Admin",
                password=PASSWORD,
            )
            emails = []
            for i in range(agents):
                email = f"agent{i}-{uuid.uuid4().hex[:6]}@bench.test"
                await accounts.create_user(
                    uow, ws, email=email, role=Role.agent, name=f"Agent {i}", password=PASSWORD
                )
                emails.append(email)
            actor = Principal(user_id=admin, workspace_id=ws, role=Role.admin, email="", name="")
            wid = await widgets.create(
                uow,
                actor,
                widgets.WidgetWrite(name="Bench", allowed_origins=[ORIGIN], max_chats_per_agent=max_chats),
            )
            key = (
                (await uow.execute(widgets.widgets.select().where(widgets.widgets.c.id == wid)))
                .mappings()
                .one()["key"]
            )
        return {"workspace_id": ws, "agents": emails, "key": key}
    finally:
        await platform.close()


class Server:
    """A fresh database and one ``helpline serve`` on it."""

    def __init__(
        self, database: str | None, *, cpus: str | None, agents: int = 1, max_chats: int = 50
    ) -> None:
        self.dir = VAR / "chat"
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        self.url_db = database or f"sqlite:///{self.dir / 'chat.db'}"
        from helpline.db import migrate

        migrate.upgrade(async_url(self.url_db))
        self.seed = asyncio.run(_seed(async_url(self.url_db), agents, max_chats))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("HELPLINE_")}
        env.update(
            HELPLINE_DATABASE_URL=self.url_db,
            HELPLINE_SECRET_KEY=SECRET,
            HELPLINE_VAR_DIR=str(self.dir),
            HELPLINE_CHAT_MESSAGES_PER_MINUTE="1000000",
            HELPLINE_CHAT_STARTS_PER_HOUR="1000000",
            PYTHONPATH=str(ROOT / "src"),
        )
        cmd = [sys.executable, "-m", "helpline.cli", "serve", "--port", str(self.port)]
        if cpus and shutil.which("taskset"):
            cmd = ["taskset", "-c", cpus, *cmd]
        self.log = open(self.dir / "serve.log", "w")  # noqa: SIM115 (open for the server's life)
        self.proc = subprocess.Popen(cmd, env=env, cwd=self.dir, stdout=self.log, stderr=subprocess.STDOUT)
        end = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > end:
                raise RuntimeError("helpline serve did not start:\n" + (self.dir / "serve.log").read_text())
            time.sleep(0.2)
        log(f"helpline serve pid {self.proc.pid} on {self.url} ({self.url_db.split(':')[0]})")

    @property
    def pid(self) -> int:
        """The uvicorn process (the child of taskset when pinned)."""
        return self.proc.pid

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(20)
        self.log.close()


async def sign_in(base: str, email: str) -> str:
    async with httpx.AsyncClient(base_url=base) as c:
        r = await c.post("/api/v1/session", json={"email": email, "password": PASSWORD})
        r.raise_for_status()
        return "; ".join(f"{k}={v}" for k, v in c.cookies.items())


def frame(**f: Any) -> str:
    return json.dumps(f)
