"""A WebAuthn authenticator in software, with the browser's part of the ceremonies, for tests.

It is an implementation of the other side of the protocol (WebAuthn level 2: authenticator data
§6.1, attested credential data §6.5.1, the "none" attestation format §8.7, client data §5.8.1,
assertion signatures §6.3.3), not a stand-in for our code: it makes ES256 (P-256) keys with
``cryptography``, answers ``navigator.credentials.create/get`` options as the server sent them
(JSON, binary values as base64url), and keeps its discoverable credentials like a platform
authenticator. Knobs let a test play a phishing site (another origin or RP id), a cloned key (a
counter that goes back), an authenticator that always reports 0, or one that does not verify the user.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

UP, UV, AT = 0x01, 0x04, 0x40


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Credential:
    id: bytes
    key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    sign_count: int = 0


class SoftAuthenticator:
    def __init__(self, origin: str, *, counter_step: int = 1, user_verifying: bool = True) -> None:
        self.origin = origin
        self.counter_step = counter_step  # 0: an authenticator that never counts
        self.user_verifying = user_verifying
        self.credentials: list[Credential] = []

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": origin or self.origin, "crossOrigin": False}
        ).encode()

    def _flags(self, *extra: int) -> int:
        flags = UP | (UV if self.user_verifying else 0)
        for f in extra:
            flags |= f
        return flags

    def create(
        self,
        options: dict[str, Any],
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        credential_id: bytes | None = None,
    ) -> dict[str, Any]:
        """The PublicKeyCredential (as JSON) for ``navigator.credentials.create({publicKey: options})``;
        ``credential_id`` makes it a rogue authenticator that reuses an id it did not make."""
        rp = rp_id or options["rp"]["id"]
        excluded = {d["id"] for d in options.get("excludeCredentials", [])}
        if any(b64url(c.id) in excluded for c in self.credentials if c.rp_id == rp):
            raise ValueError("InvalidStateError: this authenticator holds an excluded credential")
        cred = Credential(
            credential_id or os.urandom(32),
            ec.generate_private_key(ec.SECP256R1()),
            rp,
            unb64url(options["user"]["id"]),
        )
        numbers = cred.key.public_key().public_numbers()
        cose_key = {1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")}
        attested = bytes(16) + len(cred.id).to_bytes(2, "big") + cred.id + cbor2.dumps(cose_key)
        auth_data = (
            hashlib.sha256(rp.encode()).digest()
            + bytes([self._flags(AT)])
            + cred.sign_count.to_bytes(4, "big")
            + attested
        )
        self.credentials.append(cred)
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        return {
            "id": b64url(cred.id),
            "rawId": b64url(cred.id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(
                    cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
                ),
                "transports": ["internal"],
            },
        }

    def get(
        self,
        options: dict[str, Any],
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        credential: Credential | None = None,
        sign_count: int | None = None,
        user_handle: bytes | None = None,
    ) -> dict[str, Any]:
        """The PublicKeyCredential (as JSON) for ``navigator.credentials.get({publicKey: options})``:
        the first allowed credential, or the first discoverable one for this RP when none is named.
        ``rp_id`` signs for another RP id than the options name (a confused or rogue client)."""
        rp = options["rpId"]
        if credential is None:
            allowed = {d["id"] for d in options.get("allowCredentials", [])}
            found = [
                c for c in self.credentials if c.rp_id == rp and (not allowed or b64url(c.id) in allowed)
            ]
            if not found:
                raise ValueError("NotAllowedError: no credential for this relying party")
            credential = found[0]
        credential.sign_count += self.counter_step
        count = credential.sign_count if sign_count is None else sign_count
        rp_hash = hashlib.sha256((rp_id or rp).encode()).digest()
        auth_data = rp_hash + bytes([self._flags()]) + count.to_bytes(4, "big")
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        signature = credential.key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        return {
            "id": b64url(credential.id),
            "rawId": b64url(credential.id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(user_handle if user_handle is not None else credential.user_handle),
            },
        }
