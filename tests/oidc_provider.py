"""A local OpenID Connect provider for tests: the real protocol on loopback, in a thread.

- ``/.well-known/openid-configuration`` (discovery), ``/jwks`` (an RSA key made with ``cryptography``),
- ``/authorize``: a page with an **Approve** button (a browser test clicks it) that posts back and is
  redirected to the client's ``redirect_uri`` with a code and the ``state``,
- ``/token``: checks the client secret (Basic or in the body), the code (once), the ``redirect_uri``
  and the PKCE verifier against the S256 challenge, then returns a signed id token.

Tests choose who approves (:meth:`LocalOidcProvider.as_user`) and can make the provider misbehave:
``claims`` overrides id token claims (``None`` removes one), ``sign_with`` signs with a key it does not
publish (``"other"``) or with the client secret (``"hs256"``), ``kid`` names another key id.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlencode, urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey


def _rsa_key(kid: str) -> RSAKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return RSAKey.import_key(pem, {"kid": kid, "use": "sig", "alg": "RS256"})


@dataclass
class LocalOidcProvider:
    issuer: str = ""
    client_id: str = "helpline-test-client"
    client_secret: str = "client-secret-for-tests"
    key: RSAKey = field(default_factory=lambda: _rsa_key("key-1"))
    other_key: RSAKey = field(default_factory=lambda: _rsa_key("key-1"))
    #: Who the next approval signs in (id token claims).
    user: dict[str, Any] = field(default_factory=dict)
    #: Overrides of id token claims; a value of None removes the claim.
    claims: dict[str, Any] = field(default_factory=dict)
    sign_with: str = "key"  # "key", "other" (unpublished key), "hs256" (the client secret)
    auth_methods: list[str] = field(default_factory=lambda: ["client_secret_basic", "client_secret_post"])
    discovery: dict[str, Any] = field(default_factory=dict)  # overrides of the discovery document
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    token_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)  # "METHOD /path" of every request

    @property
    def hostport(self) -> str:
        return self.issuer.removeprefix("http://")

    def as_user(
        self, sub: str, email: str, *, name: str = "", groups: list[str] | None = None, **more: Any
    ) -> None:
        self.user = {"sub": sub, "email": email, "email_verified": True, "name": name or email.split("@")[0]}
        if groups is not None:
            self.user["groups"] = groups
        self.user.update(more)

    def config(self) -> dict[str, Any]:
        doc = {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": self.auth_methods,
        }
        doc.update(self.discovery)
        return doc

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.key.as_dict(private=False)]}

    def approval_page(self, query: dict[str, str]) -> tuple[int, str]:
        problems = []
        if query.get("client_id") != self.client_id:
            problems.append("unknown client")
        if query.get("response_type") != "code":
            problems.append("response_type must be code")
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            problems.append("PKCE with S256 is required")
        if not query.get("state") or not query.get("nonce"):
            problems.append("state and nonce are required")
        if "openid" not in query.get("scope", "").split():
            problems.append("scope must include openid")
        if problems:
            return 400, f"<!doctype html><title>Error</title><p>{html.escape('; '.join(problems))}</p>"
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in query.items()
        )
        who = html.escape(str(self.user.get("email", "nobody")))
        return 200, (
            "<!doctype html><html lang='en'><head><title>Local provider</title></head><body><main>"
            f"<h1>Sign in to Helpline as {who}?</h1>"
            f'<form method="post" action="/authorize">{hidden}<button type="submit">Approve</button></form>'
            "</main></body></html>"
        )

    def approve(self, form: dict[str, str]) -> str:
        """The redirect after the Approve button: the client's redirect_uri with a new code."""
        code = secrets.token_urlsafe(24)
        self.codes[code] = {**form, "user": dict(self.user), "used": False}
        sep = "&" if "?" in form["redirect_uri"] else "?"
        return form["redirect_uri"] + sep + urlencode({"code": code, "state": form["state"]})

    def _client_of(self, form: dict[str, str], authorization: str) -> tuple[str, str] | None:
        if authorization.startswith("Basic "):
            user, _, password = base64.b64decode(authorization[6:]).decode().partition(":")
            return unquote_plus(user), unquote_plus(password)
        if "client_id" in form:
            return form.get("client_id", ""), form.get("client_secret", "")
        return None

    def token(self, form: dict[str, str], authorization: str) -> tuple[int, dict[str, Any]]:
        self.token_requests.append(dict(form))

        def error(code: str) -> tuple[int, dict[str, Any]]:
            self.token_errors.append(code)
            return 400 if code != "invalid_client" else 401, {"error": code}

        if self._client_of(form, authorization) != (self.client_id, self.client_secret):
            return error("invalid_client")
        if form.get("grant_type") != "authorization_code":
            return error("unsupported_grant_type")
        grant = self.codes.get(form.get("code", ""))
        if grant is None or grant["used"]:
            return error("invalid_grant")
        grant["used"] = True
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return error("invalid_grant")
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if not verifier or challenge != grant["code_challenge"]:
            return error("invalid_grant")
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.client_id,
            "iat": now,
            "exp": now + 300,
            "nonce": grant["nonce"],
            **grant["user"],
        }
        for k, v in self.claims.items():
            if v is None:
                claims.pop(k, None)
            else:
                claims[k] = v
        if self.sign_with == "hs256":
            id_token = jwt.encode(
                {"alg": "HS256"}, claims, OctKey.import_key(self.client_secret), algorithms=["HS256"]
            )
        else:
            key = self.other_key if self.sign_with == "other" else self.key
            id_token = jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)
        return 200, {
            "access_token": secrets.token_urlsafe(16),
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": id_token,
        }


@contextmanager
def local_oidc_provider(host: str = "127.0.0.1", port: int = 0) -> Iterator[LocalOidcProvider]:
    """Serve a :class:`LocalOidcProvider` on ``host`` (plain http: Helpline allows that to loopback)."""
    state = LocalOidcProvider()

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: str | dict[str, Any], *, location: str | None = None) -> None:
            data = (json.dumps(body) if isinstance(body, dict) else body).encode()
            self.send_response(status)
            self.send_header(
                "Content-Type", "application/json" if isinstance(body, dict) else "text/html; charset=utf-8"
            )
            self.send_header("Cache-Control", "no-store")
            if location:
                self.send_header("Location", location)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _form(self) -> dict[str, str]:
            length = int(self.headers.get("Content-Length") or 0)
            return {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            state.requests.append(f"GET {url.path}")
            if url.path == "/.well-known/openid-configuration":
                self._send(200, state.config())
            elif url.path == "/jwks":
                self._send(200, state.jwks())
            elif url.path == "/authorize":
                status, page = state.approval_page({k: v[0] for k, v in parse_qs(url.query).items()})
                self._send(status, page)
            elif url.path == "/favicon.ico":  # what a browser asks every site for
                self._send(204, "")
            else:
                self._send(404, {"error": "not_found"})

        def do_POST(self) -> None:
            url = urlsplit(self.path)
            state.requests.append(f"POST {url.path}")
            if url.path == "/authorize":
                self._send(302, "", location=state.approve(self._form()))
            elif url.path == "/token":
                status, body = state.token(self._form(), self.headers.get("Authorization") or "")
                self._send(status, body)
            else:
                self._send(404, {"error": "not_found"})

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    state.issuer = f"http://{host}:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
