"""Test certificates, a token introspection endpoint and an OAuth2 token endpoint, for the TLS and
OAuth2 tests of the email transports.

Certificates are made with the ``openssl`` command line tool (no Python dependency): a private CA,
as a company or a self-hosted mail server has, and a server certificate it signed for
one loopback address only (``IP:127.0.0.2``: reaching the same server as ``127.0.0.1`` is a host
name mismatch).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import ssl
import subprocess
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote_plus

import pytest


@dataclass
class Certs:
    ca: Path  # the private CA's certificate (PEM): what HELPLINE_EMAIL_CA_FILE points at
    cert: Path  # the server's certificate, for one IP address
    key: Path  # the server's private key
    other_ca: Path  # an unrelated CA: trusting it must not help

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.cert, self.key)
        return ctx


def _openssl() -> str:
    found = shutil.which("openssl")
    if found is None:
        why = "the openssl command line tool is not installed (apt-get install -y openssl)"
        if os.environ.get("HELPLINE_TEST_REQUIRE_SERVICES"):
            pytest.fail(f"openssl is required here: {why}")
        print(f"skipping TLS tests: {why}")
        pytest.skip(why)
    return found


def _ca(openssl: str, d: Path, name: str) -> tuple[Path, Path]:
    key, cert = d / f"{name}.key", d / f"{name}.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            f"/CN=Helpline test {name}",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-addext",
            "subjectKeyIdentifier=hash",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def make_certs(d: Path, ip: str) -> Certs:
    """A private CA, a server certificate it signs for ``ip``, and an unrelated second CA."""
    openssl = _openssl()
    d.mkdir(parents=True, exist_ok=True)
    ca, ca_key = _ca(openssl, d, "ca")
    other, _ = _ca(openssl, d, "other-ca")
    key, csr, cert, ext = d / "server.key", d / "server.csr", d / "server.pem", d / "server.ext"
    ext.write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        f"subjectAltName=IP:{ip}\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid,issuer\n"
    )
    subprocess.run(
        [
            openssl,
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(csr),
            "-subj",
            f"/CN={ip}",
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            openssl,
            "x509",
            "-req",
            "-in",
            str(csr),
            "-CA",
            str(ca),
            "-CAkey",
            str(ca_key),
            "-CAcreateserial",
            "-out",
            str(cert),
            "-days",
            "2",
            "-extfile",
            str(ext),
        ],
        check=True,
        capture_output=True,
    )
    return Certs(ca=ca, cert=cert, key=key, other_ca=other)


@dataclass
class Introspection:
    """An OAuth2 token introspection endpoint (RFC 7662) on loopback: ``tokens`` maps each active
    token to the user it belongs to; any other token is answered ``{"active": false}``."""

    url: str
    tokens: dict[str, str] = field(default_factory=dict)
    seen: list[str] = field(default_factory=list)  # the tokens asked about, in order


@contextmanager
def introspection_server() -> Iterator[Introspection]:
    state = Introspection(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(length).decode())
            token = (form.get("token") or [""])[0]
            state.seen.append(token)
            user = state.tokens.get(token)
            body: dict[str, Any] = {"active": True, "username": user} if user else {"active": False}
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/introspect"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class TokenEndpoint:
    """An OAuth2 token endpoint (RFC 6749 section 6: ``grant_type=refresh_token``) on loopback.

    ``refresh_tokens`` maps each good refresh token to its user. Every access token it issues is
    added to ``introspection.tokens`` (the very dict the introspection server answers from), so
    Dovecot, or any server checking tokens there, accepts it. ``refreshes`` records each request
    (its form, plus ``auth``: ``body`` or ``basic``, how the client authenticated)."""

    url: str
    introspection: Introspection
    client_id: str = "helpline-test-client"
    client_secret: str = "client-secret-for-tests"
    lifetime: int = 3600  # expires_in of each access token
    rotate: bool = False  # issue a new refresh token with each refresh (the old one stops working)
    basic_only: bool = False  # refuse client credentials in the body (invalid_client), like strict servers
    answer: int | None = None  # answer every request with this status instead (e.g. 503)
    refresh_tokens: dict[str, str] = field(default_factory=dict)
    refreshes: list[dict[str, str]] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)  # access tokens, in order

    def grant(self, user: str) -> str:
        """A new refresh token for ``user`` (what signing in at the provider gives)."""
        token = f"1//rt-{uuid.uuid4().hex}"
        self.refresh_tokens[token] = user
        return token

    def revoke(self, refresh_token: str) -> None:
        self.refresh_tokens.pop(refresh_token, None)

    def respond(self, form: dict[str, str], authorization: str) -> tuple[int, dict[str, Any]]:
        client: tuple[str, str] | None = None
        form["auth"] = "none"
        if authorization.startswith("Basic "):
            user, _, password = base64.b64decode(authorization[6:]).decode().partition(":")
            client = (unquote_plus(user), unquote_plus(password))
            form["auth"] = "basic"
        elif "client_id" in form:
            client = (form.get("client_id", ""), form.get("client_secret", ""))
            form["auth"] = "body"
        self.refreshes.append(form)
        if self.answer is not None:
            return self.answer, {"error": "temporarily_unavailable"}
        if client != (self.client_id, self.client_secret) or (self.basic_only and form["auth"] != "basic"):
            return 401, {"error": "invalid_client", "error_description": "Unauthorized"}
        if form.get("grant_type") != "refresh_token":
            return 400, {"error": "unsupported_grant_type"}
        owner = self.refresh_tokens.get(form.get("refresh_token", ""))
        if owner is None:
            return 400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
        access = f"ya29.{uuid.uuid4().hex}"
        self.introspection.tokens[access] = owner
        self.issued.append(access)
        body: dict[str, Any] = {"access_token": access, "token_type": "Bearer", "expires_in": self.lifetime}
        if self.rotate:
            self.revoke(form["refresh_token"])
            body["refresh_token"] = self.grant(owner)
        return 200, body


@contextmanager
def token_endpoint(
    introspection: Introspection, *, host: str = "127.0.0.1", context: ssl.SSLContext | None = None
) -> Iterator[TokenEndpoint]:
    """Serve a :class:`TokenEndpoint` at ``/token`` on ``host``; over TLS (``https://``) with a
    server ``context``, else plain ``http://`` (Helpline allows that only to loopback)."""
    state = TokenEndpoint(url="", introspection=introspection)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            status, body = state.respond(form, self.headers.get("Authorization") or "")
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((host, 0), Handler)
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    scheme = "https" if context is not None else "http"
    state.url = f"{scheme}://{host}:{server.server_address[1]}/token"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
