"""The assertion ceremony: signing in with a passkey (no email address asked), and a passkey as the
second step of a password sign-in."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from webauthn import generate_authentication_options, options_to_json, verify_authentication_response
from webauthn.helpers import bytes_to_base64url
from webauthn.helpers.structs import PublicKeyCredentialDescriptor, UserVerificationRequirement

from helpline.db.base import utcnow
from helpline.domains.accounts import audit, service
from helpline.domains.accounts.passkeys._common import (
    CLONED,
    MAX_CREDENTIAL_ID,
    SECOND_STEP,
    SIGNIN,
    TIMEOUT_MS,
    Challenge,
    _descriptors,
    _expired,
    _keep,
    _take,
    log,
    passkeys,
    relying_party,
    user_handle,
    users,
)
from helpline.errors import Problem, Unauthorized

# --- assertions (signing in, and the second step) ---------------------------------------------------


async def assertion_options(
    platform: Any, purpose: str, *, user_id: int | None = None
) -> tuple[str, dict[str, Any]]:
    """(handle, ``publicKey`` options for ``navigator.credentials.get``). For :data:`SIGNIN` no
    credential is named (the authenticator offers its discoverable ones: no email address needed);
    for :data:`SECOND_STEP` only ``user_id``'s passkeys are allowed (400 when they have none). The
    caller gives the handle back to :func:`verify_assertion`, kept where only this browser has it."""
    allow: list[PublicKeyCredentialDescriptor] = []
    if purpose == SECOND_STEP:
        async with platform.db.read() as conn:
            rows = (
                await conn.execute(
                    sa.select(passkeys.c.credential_id, passkeys.c.transports).where(
                        passkeys.c.user_id == user_id
                    )
                )
            ).all()
        if not rows:
            raise Problem("there is no passkey on this account: enter the code from your app")
        allow = _descriptors(rows)
    options = generate_authentication_options(
        rp_id=relying_party(platform.settings).id,
        timeout=TIMEOUT_MS,
        allow_credentials=allow,
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    handle = secrets.token_urlsafe(24)
    await _keep(platform.cache, f"{purpose}:{handle}", Challenge(purpose, options.challenge, user_id))
    return handle, orjson.loads(options_to_json(options))


@dataclass(frozen=True, slots=True)
class Proof:
    """A verified assertion: whose passkey, which one, and whether the authenticator verified the
    person (PIN, biometrics) rather than only their presence."""

    user_id: int
    email: str
    passkey_id: int
    user_verified: bool
    totp_enabled: bool


async def _refuse(platform: Any, reason: str, who: tuple[int, str, int]) -> Problem:
    """Record a failed passkey sign-in of a known person ``who`` (user id, email, passkey id) in a
    transaction of its own (nothing else commits), and return the 401 to raise. Unknown credentials
    are not recorded: anyone can send those."""
    user_id, email, passkey_id = who
    async with platform.db.transaction() as uow:
        try:
            ws: int | None = await service.membership_workspace(uow, user_id, None)
        except Problem:
            ws = None
        await audit.record(
            uow,
            "signin.failed",
            workspace_id=ws,
            actor_user_id=user_id,
            actor_email=email,
            target_type="passkey",
            target_id=passkey_id,
            detail={"method": "passkey", "reason": reason},
        )
    return Unauthorized(reason)


async def verify_assertion(
    platform: Any, purpose: str, handle: str | None, credential: Any, *, user_id: int | None = None
) -> Proof:
    """Check the browser's answer to :func:`assertion_options`: the challenge kept under ``handle``
    (once), a passkey registered here to an active person (``user_id``'s when given), the origin and
    RP id, the signature, the user handle when the authenticator sends one, and a signature counter
    that went up. On success the counter and last use are stored. 401 otherwise."""
    ch = await _take(platform.cache, f"{purpose}:{handle}", purpose) if handle else None
    if ch is None or ch.user_id != user_id:
        raise _expired()
    cred_id = credential.get("id") if isinstance(credential, dict) else None
    if not isinstance(cred_id, str) or not cred_id or len(cred_id) > MAX_CREDENTIAL_ID:
        raise Unauthorized("this is not a passkey answer; try again")
    async with platform.db.read() as conn:
        row = (
            await conn.execute(
                sa.select(
                    passkeys.c.id,
                    passkeys.c.user_id,
                    passkeys.c.public_key,
                    passkeys.c.sign_count,
                    users.c.email,
                    users.c.totp_enabled,
                )
                .join(users, users.c.id == passkeys.c.user_id)
                .where(passkeys.c.credential_id == cred_id, users.c.is_active.is_(True))
            )
        ).first()
    if row is None:
        raise Unauthorized("this passkey is not registered here")
    who = (row.user_id, row.email, row.id)
    if user_id is not None and row.user_id != user_id:
        raise await _refuse(platform, "this passkey belongs to another account", who)
    response = credential.get("response")
    given_handle = response.get("userHandle") if isinstance(response, dict) else None
    if given_handle and given_handle != bytes_to_base64url(user_handle(row.user_id)):
        raise await _refuse(platform, "this passkey belongs to another account", who)
    rp = relying_party(platform.settings)
    try:
        # The stored counter is checked below, after the signature: the library would compare it
        # first, and an unsigned counter says nothing about a clone.
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=ch.challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            credential_public_key=row.public_key,
            credential_current_sign_count=0,
        )
    except Exception as exc:  # anything the library raises on an answer means "not verified"
        log.info("passkey assertion refused: %s", exc)
        raise await _refuse(platform, "the passkey answer did not verify", who) from exc
    new = verified.new_sign_count
    if (new > 0 or row.sign_count > 0) and new <= row.sign_count:
        raise await _refuse(platform, CLONED, who)
    async with platform.db.transaction() as uow:
        moved = await uow.execute(
            passkeys.update()
            .where(passkeys.c.id == row.id, passkeys.c.sign_count == row.sign_count)
            .values(sign_count=new, last_used_at=utcnow())
        )
    if moved.rowcount != 1:  # another sign-in with this passkey won the same counter value
        raise await _refuse(platform, CLONED, who)
    return Proof(row.user_id, row.email, row.id, verified.user_verified, bool(row.totp_enabled))


async def sign_in(
    platform: Any, handle: str | None, credential: Any, workspace: str | None
) -> tuple[int, int]:
    """A usernameless sign-in: (user id, workspace id) for a verified passkey, the workspace chosen as
    for a password (``service.membership_workspace``: the named one, else the person's first).

    A person with two-factor authentication on must be *verified* by the authenticator (PIN or
    biometrics); presence alone would make the passkey weaker than their password and code."""
    proof = await verify_assertion(platform, SIGNIN, handle, credential)
    who = (proof.user_id, proof.email, proof.passkey_id)
    if proof.totp_enabled and not proof.user_verified:
        raise await _refuse(
            platform,
            "this passkey did not check it is you (PIN or fingerprint); sign in with your password "
            "and use the passkey as the second step",
            who,
        )
    try:
        async with platform.db.transaction() as uow:
            # signin.open_session records the sign-in with the session it opens.
            ws = await service.membership_workspace(uow, proof.user_id, workspace or None)
    except Unauthorized:
        raise await _refuse(
            platform, "this passkey's account cannot sign in to that workspace", who
        ) from None
    return proof.user_id, ws


async def second_step(
    platform: Any, handle: str | None, credential: Any, user_id: int, workspace_id: int
) -> None:
    """The second step of a password sign-in done with one of ``user_id``'s passkeys instead of a code
    (the caller opens the session, which records the sign-in with ``second_factor: passkey``)."""
    await verify_assertion(platform, SECOND_STEP, handle, credential, user_id=user_id)
