"""A local HTTP endpoint for the webhook tests: it checks each request's Standard Webhooks
signature with the secret it was given (its own HMAC code, not ``signing.py``), records what it was
sent, and answers as told: a status code, or ``"hang"`` (no answer until released)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Got:
    headers: dict[str, str]
    body: bytes
    verified: bool

    @property
    def json(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


def verify(secret: str, headers: dict[str, str], body: bytes, tolerance: int = 300) -> bool:
    """The receiver's side of Standard Webhooks: any ``v1,`` signature in the header matches the
    HMAC-SHA256 of ``id.timestamp.body`` under the base64 secret, and the timestamp is recent."""
    msg_id, ts = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
    if not msg_id or not ts.isdigit() or abs(time.time() - int(ts)) > tolerance:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    want = base64.b64encode(
        hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    ).decode()
    sigs = [s.split(",", 1)[1] for s in headers.get("webhook-signature", "").split() if s.startswith("v1,")]
    return any(hmac.compare_digest(s, want) for s in sigs)


class Receiver:
    def __init__(self) -> None:
        self.secret = ""
        self.got: list[Got] = []
        #: Answers to give, in order (then 204): a status code or "hang".
        self.answers: list[int | str] = []
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                outer.got.append(Got(headers, body, verify(outer.secret, headers, body)))
                answer = outer.answers.pop(0) if outer.answers else 204
                if answer == "hang":
                    outer.release.wait(10)
                    answer = 204
                text = b"" if answer == 204 else b"receiver says no " + b"x" * 1000
                self.send_response(int(answer))
                self.send_header("content-length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def of_type(self, kind: str) -> list[Got]:
        return [g for g in self.got if g.json["type"] == kind]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.release.set()
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def receiver2() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.release.set()
    r.server.shutdown()
    r.server.server_close()
