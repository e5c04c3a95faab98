"""A person's passkeys: the list, renaming, removing, and the registration ceremony."""

from __future__ import annotations

from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection
from webauthn import generate_registration_options, options_to_json, verify_registration_response
from webauthn.helpers import bytes_to_base64url
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from helpline.db.base import utcnow
from helpline.domains.accounts import audit
from helpline.domains.accounts.passkeys._common import (
    REGISTER,
    TIMEOUT_MS,
    Challenge,
    _descriptors,
    _keep,
    _public,
    _take,
    _transports,
    check_name,
    passkeys,
    relying_party,
    require_fresh_proof,
    user_handle,
)
from helpline.domains.accounts.principal import Principal
from helpline.errors import Conflict, Invalid, NotFound
from helpline.platform.db import UnitOfWork

# --- the person's passkeys --------------------------------------------------------------------------


async def list_passkeys(conn: AsyncConnection, user_id: int) -> list[dict[str, Any]]:
    """The passkeys of ``user_id``, oldest first. Only ever called with the actor's own id: nobody,
    admins included, lists someone else's (a person's sign-in methods are theirs, not a workspace's)."""
    rows = await conn.execute(
        sa.select(passkeys).where(passkeys.c.user_id == user_id).order_by(passkeys.c.id)
    )
    return [_public(r) for r in rows]


async def _own(conn: AsyncConnection | UnitOfWork, actor: Principal, passkey_id: int) -> Any:
    """The actor's passkey ``passkey_id``; someone else's answers 404 exactly like one that does not exist."""
    row = (
        await conn.execute(
            sa.select(passkeys).where(passkeys.c.id == passkey_id, passkeys.c.user_id == actor.user_id)
        )
    ).first()
    if row is None:
        raise NotFound("no such passkey")
    return row


async def do_rename(uow: UnitOfWork, actor: Principal, passkey_id: int, name: str) -> dict[str, Any]:
    name = check_name(name, blank=None)
    await _own(uow, actor, passkey_id)
    await uow.execute(passkeys.update().where(passkeys.c.id == passkey_id).values(name=name))
    return _public(await _own(uow, actor, passkey_id))


async def do_remove(uow: UnitOfWork, actor: Principal, passkey_id: int) -> None:
    """Remove one of the actor's passkeys; needs a fresh proof (:func:`require_fresh_proof`)."""
    row = await _own(uow, actor, passkey_id)  # first: someone else's is 404, whatever the session's age
    await require_fresh_proof(uow, actor)
    await uow.execute(passkeys.delete().where(passkeys.c.id == passkey_id))
    await audit.record(
        uow,
        "passkey.removed",
        workspace_id=actor.workspace_id,
        actor=actor,
        target_type="passkey",
        target_id=passkey_id,
        detail={"name": row.name},
    )


# --- registration -----------------------------------------------------------------------------------


async def registration_options(platform: Any, actor: Principal) -> dict[str, Any]:
    """``publicKey`` options for ``navigator.credentials.create`` for the actor (who needs a fresh
    proof); the challenge is kept for the actor's session, replacing one asked for before."""
    async with platform.db.read() as conn:
        await require_fresh_proof(conn, actor)
        mine = (
            await conn.execute(
                sa.select(passkeys.c.credential_id, passkeys.c.transports).where(
                    passkeys.c.user_id == actor.user_id
                )
            )
        ).all()
    rp = relying_party(platform.settings)
    options = generate_registration_options(
        rp_id=rp.id,
        rp_name=rp.name,
        user_name=actor.email,
        user_id=user_handle(actor.user_id),
        user_display_name=actor.name or actor.email,
        timeout=TIMEOUT_MS,
        attestation=AttestationConveyancePreference.NONE,
        # Preferred, not required: a security key that cannot keep a discoverable credential still
        # works as a second step; one that can also signs in without an email address.
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=_descriptors(mine),
    )
    await _keep(
        platform.cache,
        f"{REGISTER}:{actor.session_id}",
        Challenge(REGISTER, options.challenge, actor.user_id, actor.session_id),
    )
    return orjson.loads(options_to_json(options))  # type: ignore[no-any-return]


async def register(platform: Any, actor: Principal, credential: Any, name: str) -> dict[str, Any]:
    """Verify the browser's answer to :func:`registration_options` and store the passkey. 422 when it
    does not verify or its challenge is gone, 409 when that credential is registered already (by
    anyone: a credential id names one person's key)."""
    name = check_name(name)
    async with platform.db.read() as conn:
        await require_fresh_proof(conn, actor)
    ch = await _take(platform.cache, f"{REGISTER}:{actor.session_id}", REGISTER)
    if ch is None or ch.user_id != actor.user_id or ch.session_id != actor.session_id:
        raise Invalid("credential", "the passkey request expired or was already used; start again")
    rp = relying_party(platform.settings)
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=ch.challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
        )
    except Exception as exc:  # anything the library raises on an answer means "not verified"
        raise Invalid("credential", f"the passkey could not be verified: {str(exc)[:200]}") from exc
    credential_id = bytes_to_base64url(verified.credential_id)
    response = credential.get("response") if isinstance(credential, dict) else None
    transports = [t.value for t in _transports((response or {}).get("transports"))]
    try:
        async with platform.db.transaction() as uow:
            taken = (
                await uow.execute(sa.select(passkeys.c.id).where(passkeys.c.credential_id == credential_id))
            ).first()
            if taken is not None:
                raise Conflict("this passkey is registered already")
            passkey_id = (
                await uow.execute(
                    passkeys.insert()
                    .values(
                        user_id=actor.user_id,
                        credential_id=credential_id,
                        public_key=verified.credential_public_key,
                        sign_count=verified.sign_count,
                        transports=transports,
                        name=name,
                        created_at=utcnow(),
                    )
                    .returning(passkeys.c.id)
                )
            ).scalar_one()
            await audit.record(
                uow,
                "passkey.added",
                workspace_id=actor.workspace_id,
                actor=actor,
                target_type="passkey",
                target_id=passkey_id,
                detail={"name": name},
            )
            return _public(await _own(uow, actor, passkey_id))
    except sa.exc.IntegrityError as exc:  # two registrations of one credential racing
        raise Conflict("this passkey is registered already") from exc
