"""Passkeys (WebAuthn): registering them, signing in or finishing a sign-in with them, and a person's
list of them. The writes of the ``passkey_credentials`` table all live here.

The ceremonies' cryptography (CBOR, COSE keys, attestation, signatures, origin and RP id checks) is
py_webauthn's; this package decides what is asked for, keeps the challenges and stores the result.

- The relying party is ``HELPLINE_BASE_URL``: its host is the RP id and its origin the only origin
  accepted (:func:`relying_party`).
- A challenge is kept server-side in the platform cache for :data:`CHALLENGE_SECONDS`, taken once
  (:func:`_take`: a counter that only the first taker sees at 1, atomic in memory and in Redis) and
  bound: a registration to the browser session that asked for it, a sign-in to the browser that asked
  (the caller keeps the handle in an HttpOnly cookie), a second step to the person whose password
  was just checked.
- A signature counter that does not go up is refused (a cloned authenticator), except for
  authenticators that always report 0.
- Registering or removing a passkey needs a fresh proof (:func:`require_fresh_proof`).

A package of private modules (``_common``: relying party, challenges, fresh proof; ``_register``: the
list, rename, remove and registration; ``_assert``: signing in and the second step); import from here.
"""

from __future__ import annotations

from helpline.domains.accounts.passkeys._assert import (
    Proof,
    assertion_options,
    second_step,
    sign_in,
    verify_assertion,
)
from helpline.domains.accounts.passkeys._common import (
    CHALLENGE_SECONDS,
    MAX_NAME,
    REAUTH_SECONDS,
    REGISTER,
    SECOND_STEP,
    SIGNIN,
    TIMEOUT_MS,
    RelyingParty,
    check_name,
    is_fresh,
    relying_party,
    require_fresh_proof,
    user_handle,
)
from helpline.domains.accounts.passkeys._register import (
    do_remove,
    do_rename,
    list_passkeys,
    register,
    registration_options,
)

__all__ = [
    "CHALLENGE_SECONDS",
    "MAX_NAME",
    "REAUTH_SECONDS",
    "REGISTER",
    "SECOND_STEP",
    "SIGNIN",
    "TIMEOUT_MS",
    "Proof",
    "RelyingParty",
    "assertion_options",
    "check_name",
    "do_remove",
    "do_rename",
    "is_fresh",
    "list_passkeys",
    "register",
    "registration_options",
    "relying_party",
    "require_fresh_proof",
    "second_step",
    "sign_in",
    "user_handle",
    "verify_assertion",
]
