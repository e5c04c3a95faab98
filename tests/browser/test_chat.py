"""The chat widget and the agent console side by side, in Chromium.

A host page on another origin (a local http.server) with a strict Content-Security-Policy embeds the
widget with one script tag. The visitor starts a chat from the pre-chat form; the agent, online in
the console, gets it by auto-assignment and answers; typing indicators and read receipts flow both
ways; the visitor's network drops mid-chat while both sides write, and after it comes back nothing is
lost or doubled. The widget is also measured: under 40 KB gzipped."""

from __future__ import annotations

import gzip
import http.server
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from helpline.domains.accounts.models import Role
from tests.conftest import free_port

WIDGET = Path(__file__).resolve().parents[2] / "src" / "helpline" / "static" / "widget" / "widget.js"


def test_widget_is_small() -> None:
    size = len(gzip.compress(WIDGET.read_bytes(), 9)) + len(
        gzip.compress(WIDGET.with_name("widget.css").read_bytes(), 9)
    )
    assert size < 40 * 1024, size


@contextmanager
def embedding(site: Any, ws_id: int, **widget: Any) -> Iterator[dict[str, Any]]:
    """A shop's page on its own origin, strict CSP, embedding a new widget of workspace ``ws_id``."""
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    admin = site.person(Role.admin, workspace_id=ws_id)
    with site.api(admin, workspace_id=ws_id) as api:
        r = api.post("/chat/widgets", json={**widget, "allowed_origins": [origin]})
        assert r.status_code == 201, r.text
        made = r.json()
    helpline = site.url
    csp = (
        f"default-src 'self'; script-src 'self' {helpline}; style-src 'self' {helpline}; "
        f"connect-src 'self' {helpline} {helpline.replace('http', 'ws', 1)}; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'"
    )
    html = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title></head>'
        f"<body><main><h1>Our shop</h1><p>Mugs and more.</p></main>"
        f'<script src="{helpline}/widget.js" data-widget="{made["key"]}" async></script></body></html>'
    ).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Security-Policy", csp)
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, *_: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield {"url": origin + "/", "workspace_id": ws_id, "widget": made}
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def host_page(site: Any) -> Iterator[dict[str, Any]]:
    """The shop's page embedding the widget of a fresh workspace."""
    ws_id, _slug = site.workspace(f"Shop {uuid.uuid4().hex[:4]}")
    with embedding(
        site, ws_id, name="Shop help", greeting="Hi! Ask us anything.", theme={"colour": "#0b6e4f"}
    ) as page:
        yield page


def check_host(visitor: Any, name: str) -> None:
    """``Page.check`` for the host page: axe (the widget's shadow DOM included) and screenshots. The
    CSP assertion is made by the caller before this: the screenshot tool injects a style of its own
    that the host page's strict policy blocks, which is no fault of the widget."""
    from axe_playwright_python.sync_playwright import Axe

    from .conftest import ARTIFACTS, DESKTOP, PHONE

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    bad = []
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        visitor.page.set_viewport_size(size)
        visitor.page.screenshot(path=str(ARTIFACTS / f"{name}-{label}.png"), full_page=True)
        result = Axe().run(visitor.page, options={"resultTypes": ["violations"]})
        bad += [
            f"{label}: {v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
            for v in result.response["violations"]
            if v.get("impact") in ("serious", "critical")
        ]
    visitor.page.set_viewport_size(DESKTOP)
    visitor.no_script_ran()
    assert not bad, "\n".join(bad)
    visitor.console_errors.clear()


def test_chat_between_host_page_and_console(site: Any, new_page: Any, host_page: dict[str, Any]) -> None:
    agent = site.person(Role.agent, name="Ari Agent", workspace_id=host_page["workspace_id"])

    # The agent goes online in the console (its page keeps the chat socket open).
    console = new_page()
    c = console.page
    console.sign_in(agent)
    console.go("/chats")
    c.get_by_label("My status").select_option("online")
    c.get_by_role("button", name="Set status").click()
    c.wait_for_url("**/chats")
    console.check("chat-list")

    # The visitor opens the widget on the shop's page and starts a chat.
    visitor = new_page()
    v = visitor.page
    v.goto(host_page["url"])
    v.get_by_role("button", name="Chat with us").click()
    v.get_by_text("Hi! Ask us anything.").wait_for()
    v.get_by_label("Name").fill("Vic Visitor")
    v.get_by_label("Email").fill(f"vic-{uuid.uuid4().hex[:6]}@example.test")
    v.get_by_label("Message *").fill("Do you ship mugs to Norway?")
    v.get_by_role("button", name="Start chat").click()
    v.get_by_text("Ari Agent joined the chat.").wait_for(timeout=10000)

    # Auto-assigned: the agent's list shows it live; open the conversation.
    c.get_by_role("link", name=re.compile("Vic Visitor")).click()
    c.locator("[data-chat-log]").get_by_text("Do you ship mugs to Norway?").wait_for()
    c.wait_for_function("() => document.querySelector('[data-chat-typing]') !== null")

    # Typing both ways. A typing notice is a passing event (never replayed): one sent while the
    # agent's socket is still joining the conversation is lost, as when a person starts typing, so
    # keep typing as people do until it shows.
    def typing_shows(box: Any, text: str, seen_by: Any, notice: str) -> None:
        for n in range(6):
            box.fill(text + " " * n)
            try:
                seen_by.get_by_text(notice).wait_for(timeout=5000)
                return
            except Exception:
                continue
        seen_by.get_by_text(notice).wait_for(timeout=5000)

    typing_shows(v.get_by_label("Message", exact=True), "Also to", c, "The visitor is typing…")
    typing_shows(c.get_by_label("Message"), "Yes we", v, "Ari Agent is typing…")

    # The agent answers; the visitor (panel open, page visible) reads it; the agent sees the receipt.
    c.get_by_label("Message").fill("Yes, we ship to Norway in 3 days.")
    c.get_by_role("button", name="Send").click()
    v.get_by_text("Yes, we ship to Norway in 3 days.").wait_for()
    c.get_by_text("Seen by the visitor").wait_for()
    # And the visitor's message is marked seen once the agent's page has it.
    v.get_by_label("Message", exact=True).fill("Great, thanks!")
    v.get_by_role("button", name="Send").click()
    c.locator("[data-chat-log]").get_by_text("Great, thanks!").wait_for()
    v.locator("li.msg.mine .seen").wait_for()
    assert not [e for e in visitor.console_errors if "Content Security Policy" in e], visitor.console_errors
    check_host(visitor, "chat-widget-host")
    console.check("chat-console")

    # The visitor's network drops mid-chat; both sides keep writing.
    visitor.context.set_offline(True)
    v.evaluate("() => window.HelplineChat._drop()")
    v.get_by_label("Message", exact=True).fill("Written while offline")
    v.get_by_role("button", name="Send").click()
    for text in ("First while you were away", "Second while you were away"):
        c.get_by_label("Message").fill(text)
        c.get_by_role("button", name="Send").click()
        c.locator("[data-chat-log]").get_by_text(text).wait_for()
    visitor.context.set_offline(False)
    v.get_by_text("Second while you were away").wait_for(timeout=20000)
    c.locator("[data-chat-log]").get_by_text("Written while offline").wait_for(timeout=20000)

    bodies = v.locator("li.msg .text").all_inner_texts()
    assert bodies == [
        "Do you ship mugs to Norway?",
        "Yes, we ship to Norway in 3 days.",
        "Great, thanks!",
        "Written while offline",
        "First while you were away",
        "Second while you were away",
    ] or bodies == [
        "Do you ship mugs to Norway?",
        "Yes, we ship to Norway in 3 days.",
        "Great, thanks!",
        "First while you were away",
        "Second while you were away",
        "Written while offline",
    ], bodies
    seqs = v.locator("li.msg[data-seq]").evaluate_all("els => els.map(e => +e.getAttribute('data-seq'))")
    assert len(seqs) == len(set(seqs)) == 6, seqs
    agent_side = c.locator("[data-chat-log] li .body").all_inner_texts()
    assert sorted(agent_side) == sorted(bodies) and len(agent_side) == 6, agent_side
    assert not [e for e in visitor.console_errors if "Content Security Policy" in e], visitor.console_errors
