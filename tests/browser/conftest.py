"""Browser tests: Playwright driving Debian's Chromium (headless) against a real ``helpline serve``.

One server per session, on a SQLite file in a temporary folder, with outgoing mail sent over SMTP to an
aiosmtpd server inside the test process (so tests can open the links that mail carries). Each test
makes its own workspace-scoped people through the domain services, against the same database file.

Without ``/usr/bin/chromium`` the tests are skipped with a reason (``apt-get install -y chromium``);
with ``HELPLINE_TEST_REQUIRE_SERVICES=1`` (CI) they fail instead. Every page a test visits can be
checked by axe-core (no serious or critical violation) and saved as desktop and phone screenshots
under ``artifacts/screenshots/``.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest

from helpline.db import migrate
from helpline.domains.accounts import service as accounts
from helpline.domains.accounts.models import Role
from helpline.platform.runtime import Platform, build_platform
from helpline.settings import Settings
from tests.conftest import WORKER, free_port
from tests.oidc_provider import LocalOidcProvider, local_oidc_provider

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
PASSWORD = "correct horse battery"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 360, "height": 740}
SECRET = "browser-tests-secret-key-0123456789abcdef"


def _need_chromium() -> None:
    if not Path(CHROMIUM).exists():
        reason = f"{CHROMIUM} is missing: install it with `apt-get install -y chromium`"
        if os.environ.get("HELPLINE_TEST_REQUIRE_SERVICES"):
            pytest.fail(reason)
        pytest.skip(reason)


class MailBox:
    """Messages received by the in-test SMTP server."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"

    def wait_for(self, to: str, subject_part: str, timeout: float = 15) -> Message:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for m in reversed(self.messages):
                if to in (m["To"] or "") and subject_part in (m["Subject"] or ""):
                    return m
            time.sleep(0.1)
        raise AssertionError(
            f"no mail to {to} about {subject_part!r}; got {[m['Subject'] for m in self.messages]}"
        )

    @staticmethod
    def link(message: Message) -> str:
        body = (
            message.get_payload(decode=True)
            if not message.is_multipart()
            else message.get_payload(0).get_payload(decode=True)
        )
        found = re.search(r"https?://\S+", body.decode())
        assert found, body
        return found.group(0)


@dataclass
class Person:
    user_id: int
    email: str
    name: str
    password: str
    totp_secret: str | None = None

    def otp(self) -> str:
        assert self.totp_secret
        return pyotp.TOTP(self.totp_secret).now()


@dataclass
class Site:
    url: str
    settings: Settings
    mail: MailBox
    #: The port of the IMAP server the mailbox tests start on 127.0.0.1: the install allows it
    #: (HELPLINE_EGRESS_ALLOW) as an operator allows an internal mail server.
    imap_port: int = 0
    workspace_id: int = 0
    slug: str = ""
    #: The single sign-on tests' local OpenID Connect provider (tests/oidc_provider.py).
    idp: LocalOidcProvider | None = None
    _people: list[Person] = field(default_factory=list)

    def run(self, fn: Callable[[Platform], Awaitable[Any]]) -> Any:
        """Run ``fn(platform)`` against the server's database (a separate connection, same file)."""

        async def go() -> Any:
            platform = build_platform(self.settings)
            try:
                return await fn(platform)
            finally:
                await platform.close()

        # Playwright's sync API keeps an event loop running in this thread: run ours in another.
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, go()).result()

    def person(
        self,
        role: Role | str = Role.agent,
        *,
        name: str = "",
        groups: list[str] | None = None,
        email: str | None = None,
        two_factor: bool = False,
        workspace_id: int | None = None,
    ) -> Person:
        role = Role(role)
        email = email or f"{role.value}-{uuid.uuid4().hex[:8]}@example.test"
        name = name or f"{role.value.title()} {uuid.uuid4().hex[:4]}"
        ws = workspace_id or self.workspace_id

        async def make(platform: Platform) -> Person:
            async with platform.db.transaction() as uow:
                for g in groups or []:
                    await accounts.group_id_for(uow, ws, g, create=True)
                uid = await accounts.create_user(
                    uow, ws, email=email, role=role, name=name, password=PASSWORD, group_names=groups or []
                )
                secret = None
                if two_factor:
                    secret = await accounts.begin_totp(uow, uid)
                    await accounts.confirm_totp(uow, uid, pyotp.TOTP(secret).now())
            return Person(uid, email, name, PASSWORD, secret)

        return self.run(make)  # type: ignore[no-any-return]

    def workspace(self, name: str, *, settings: dict[str, Any] | None = None) -> tuple[int, str]:
        """A new workspace (id, slug) with ``settings`` (branding), for tests that need their own."""
        slug = f"ws-{uuid.uuid4().hex[:10]}"

        async def make(platform: Platform) -> tuple[int, str]:
            import sqlalchemy as sa

            async with platform.db.transaction() as uow:
                ws = await accounts.create_workspace(uow, name, slug)
                if settings:
                    await uow.execute(
                        sa.text("UPDATE workspaces SET settings = :s WHERE id = :i"),
                        {"s": __import__("json").dumps(settings), "i": ws},
                    )
            return ws, slug

        return self.run(make)  # type: ignore[no-any-return]

    def api(self, person: Person, *, workspace_id: int | None = None) -> httpx.Client:
        """An HTTP client of the running server's API, authenticated as ``person`` by a new bearer token."""
        ws = workspace_id or self.workspace_id

        async def make(platform: Platform) -> str:
            async with platform.db.transaction() as uow:
                _, token = await accounts.create_token(uow, ws, person.user_id, name="browser test")
            return token

        token = self.run(make)
        return httpx.Client(
            base_url=f"{self.url}/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=15
        )


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with _serve(tmp_path_factory, "127.0.0.1") as served:
        yield served


@pytest.fixture(scope="session")
def localhost_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A second server, whose address (``HELPLINE_BASE_URL``) is ``http://localhost:<port>``: browsers
    refuse WebAuthn (passkeys) on an IP address, which is no valid relying party id."""
    with _serve(tmp_path_factory, "localhost") as served:
        yield served


@contextmanager
def _serve(tmp_path_factory: pytest.TempPathFactory, host_name: str) -> Iterator[Site]:
    _need_chromium()
    from aiosmtpd.controller import Controller

    root = tmp_path_factory.mktemp("browser")
    db = f"sqlite+aiosqlite:///{root / 'helpline.db'}"
    migrate.upgrade(db)
    mailbox = MailBox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    port = free_port()
    imap_port = free_port()
    url = f"http://{host_name}:{port}"
    idp_running = local_oidc_provider()
    idp = idp_running.__enter__()  # left in the finally below
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPLINE_")}
    env.update(
        HELPLINE_DATABASE_URL=db,
        HELPLINE_SECRET_KEY=SECRET,
        HELPLINE_BASE_URL=url,
        HELPLINE_VAR_DIR=str(root / "var"),
        HELPLINE_MAIL_TRANSPORT="smtp",
        HELPLINE_SMTP_HOST="127.0.0.1",
        HELPLINE_SMTP_PORT=str(smtp.port),
        # the local mail and identity providers are on loopback, which the guard refuses
        HELPLINE_EGRESS_ALLOW=f"127.0.0.1:{imap_port},{idp.hostport}",
    )
    settings = Settings(database_url=db, secret_key=SECRET, base_url=url, var_dir=root / "var")
    site = Site(url=url, settings=settings, mail=mailbox, imap_port=imap_port, idp=idp)

    async def workspace(platform: Platform) -> tuple[int, str]:
        async with platform.db.transaction() as uow:
            ws = await accounts.default_workspace(uow)
            slug = (
                await uow.execute(
                    __import__("sqlalchemy").text("SELECT slug FROM workspaces WHERE id = :i"), {"i": ws}
                )
            ).scalar_one()
        return ws, slug

    site.workspace_id, site.slug = site.run(workspace)
    log = open(root / "server.log", "w")  # noqa: SIM115 (kept open for the server's life)
    proc = subprocess.Popen(
        [sys.executable, "-m", "helpline.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=root,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        end = time.monotonic() + 60  # a busy machine takes a while to import and migrate
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > end:
                raise RuntimeError("helpline serve did not start:\n" + (root / "server.log").read_text())
            time.sleep(0.2)
        yield site
    finally:
        proc.terminate()
        proc.wait(10)
        smtp.stop()
        idp_running.__exit__(None, None, None)
        log.close()
        server_log = (root / "server.log").read_text()
        if "Traceback" in server_log:
            shutil.copy(
                root / "server.log", ARTIFACTS.parent / f"server-{WORKER}.log"
            ) if ARTIFACTS.parent.exists() else None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Module scope: Playwright's sync API keeps an event loop marked as running in this thread while it
    # is open, which stops asyncio.run and anyio. It unmarks it on leaving, so the asyncio tests that run
    # next in this process (in any order: pytest-xdist shares modules out) start; checked here.
    _need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()
    assert asyncio.events._get_running_loop() is None, "Playwright left its event loop marked as running"


class Page:
    """A browser tab that fails the test on any JavaScript dialog (an XSS payload that ran) or CSP report."""

    def __init__(self, context: Any, site: Site) -> None:
        self.context, self.site = context, site
        self.page = context.new_page()
        self.dialogs: list[str] = []
        self.console_errors: list[str] = []
        self.page.on("dialog", self._dialog)
        self.page.on("console", lambda m: self.console_errors.append(m.text) if m.type == "error" else None)

    def _dialog(self, d: Any) -> None:
        self.dialogs.append(d.message)
        d.dismiss()

    def go(self, path: str) -> Any:
        response = self.page.goto(self.site.url + path)
        return response

    def sign_in(self, person: Person, *, portal: bool = False) -> None:
        self.go(f"/portal/{self.site.slug}/login" if portal else "/login")
        self.page.get_by_label("Email").fill(person.email)
        self.page.get_by_label("Password").fill(person.password)
        self.page.get_by_role("button", name="Sign in", exact=True).click()
        if person.totp_secret:
            self.page.get_by_label("Authentication code").fill(person.otp())
            self.page.get_by_role("button", name="Verify").click()
        self.page.wait_for_load_state()

    def portal_sign_in(self, person: Person, slug: str) -> None:
        """Sign in on the portal of the workspace ``slug`` (``sign_in(portal=True)`` is the default one's)."""
        self.go(f"/portal/{slug}/login")
        self.page.get_by_label("Email").fill(person.email)
        self.page.get_by_label("Password").fill(person.password)
        self.page.get_by_role("button", name="Sign in", exact=True).click()
        if person.totp_secret:
            self.page.get_by_label("Authentication code").fill(person.otp())
            self.page.get_by_role("button", name="Verify").click()
        self.page.wait_for_load_state()

    def no_script_ran(self) -> None:
        ran = self.page.evaluate("() => window.__xss || null")
        assert ran is None and not self.dialogs, f"script from data ran: {ran} {self.dialogs}"

    def check(self, name: str) -> None:
        """axe-core finds no serious or critical violation; save desktop and phone screenshots."""
        from axe_playwright_python.sync_playwright import Axe

        self.no_script_ran()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        bad = []
        for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
            self.page.set_viewport_size(size)
            self.page.screenshot(path=str(ARTIFACTS / f"{name}-{label}.png"), full_page=True)
            result = Axe().run(self.page, options={"resultTypes": ["violations"]})
            bad += [
                f"{label}: {v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
                for v in result.response["violations"]
                if v.get("impact") in ("serious", "critical")
            ]
        self.page.set_viewport_size(DESKTOP)
        assert not bad, f"{name}: accessibility violations:\n" + "\n".join(bad)
        csp = [e for e in self.console_errors if "Content Security Policy" in e]
        assert not csp, f"{name}: CSP blocked something the page needs: {csp}"


@pytest.fixture
def new_page(browser: Any, site: Site) -> Iterator[Callable[[], Page]]:
    contexts: list[Any] = []

    def make() -> Page:
        context = browser.new_context(viewport=DESKTOP)
        contexts.append(context)
        return Page(context, site)

    yield make
    for c in contexts:
        c.close()
