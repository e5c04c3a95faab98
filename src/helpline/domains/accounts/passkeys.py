"""Passkeys (WebAuthn): registering them, signing in or finishing a sign-in with them, and a person's
list of them. The writes of the ``passkey_credentials`` table all live here.

The ceremonies' cryptography (CBOR, COSE keys, attestation, signatures, origin and RP id checks) is
py_webauthn's; this module decides what is asked for, keeps the challenges and stores the result.

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
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from helpline.db.base import utcnow
from helpline.domains.accounts import audit, service
from helpline.domains.accounts.models import PasskeyCredential, User, WebSession
from helpline.platform.cache import Cache
from helpline.platform.db import UnitOfWork
from helpline.web.errors import Conflict, Forbidden, Invalid, NotFound, Problem, Unauthorized
from helpline.web.principal import Principal

log = logging.getLogger(__name__)

passkeys = PasskeyCredential.__table__
users = User.__table__
sessions = WebSession.__table__

#: How long a challenge waits for its answer (the browser is told a little less: :data:`TIMEOUT_MS`).
CHALLENGE_SECONDS = 180
TIMEOUT_MS = 150_000
#: Registering or removing a passkey needs a sign-in (or re-authentication) this recent.
REAUTH_SECONDS = 300
MAX_NAME = 120
#: The longest credential id we look up (the column's size); anything longer is not ours.
MAX_CREDENTIAL_ID = 1400

SIGNIN, SECOND_STEP, REGISTER = "signin", "second-step", "register"
CLONED = "this passkey's counter went backwards: it may have been copied"


@dataclass(frozen=True, slots=True)
class RelyingParty:
    id: str
    origin: str
    name: str


def relying_party(settings: Any) -> RelyingParty:
    """The RP id (the host of ``HELPLINE_BASE_URL``) and the one origin assertions may come from (its
    scheme, host and port, the default port left out as browsers write it)."""
    parts = urlsplit(settings.base_url)
    host = (parts.hostname or "").lower()
    port = parts.port
    default = {"http": 80, "https": 443}.get(parts.scheme)
    shown = f"[{host}]" if ":" in host else host
    origin = f"{parts.scheme}://{shown}" + (f":{port}" if port and port != default else "")
    return RelyingParty(id=host, origin=origin, name="Helpline")


def user_handle(user_id: int) -> bytes:
    """The WebAuthn user handle of a person: their user id as 8 bytes. Stable (it must not change while
    their passkeys live, so no key that may be rotated goes into it), names nobody outside this site,
    and carries no personal data (the spec forbids email addresses and names)."""
    return user_id.to_bytes(8, "big")


# --- challenges -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Challenge:
    purpose: str
    challenge: bytes
    user_id: int | None = None
    session_id: int | None = None


async def _keep(cache: Cache, key: str, ch: Challenge) -> None:
    value = {"p": ch.purpose, "c": bytes_to_base64url(ch.challenge), "u": ch.user_id, "s": ch.session_id}
    await cache.set(f"passkey:ch:{key}", orjson.dumps(value), CHALLENGE_SECONDS)


async def _take(cache: Cache, key: str, purpose: str) -> Challenge | None:
    """The challenge kept under ``key`` for ``purpose``, at most once: a second taker (a replay, or two
    requests racing) gets None, because only the first increment of its used-counter returns 1."""
    raw = (await cache.get_many([f"passkey:ch:{key}"]))[0]
    if raw is None:
        return None
    await cache.delete(f"passkey:ch:{key}")
    value = orjson.loads(raw)
    if await cache.incr(f"passkey:used:{value['c']}", CHALLENGE_SECONDS) != 1 or value["p"] != purpose:
        return None
    return Challenge(value["p"], base64url_to_bytes(value["c"]), value["u"], value["s"])


def _expired() -> Problem:
    return Unauthorized("the passkey request expired or was already used; try again")


# --- fresh proof ------------------------------------------------------------------------------------


async def require_fresh_proof(
    conn: AsyncConnection | UnitOfWork, actor: Principal, *, within: int = REAUTH_SECONDS
) -> None:
    """Refuse (403) unless ``actor`` is a browser session whose holder proved who they are (signed in,
    or re-authenticated) within ``within`` seconds: ``web_sessions.reauth_at``. An API token alone
    never qualifies, whatever its age. The rule for sensitive changes to one's own sign-in methods."""
    if actor.session_id is None:
        raise Forbidden(
            "this needs a signed-in browser session; an API token alone cannot do it",
            errors=[{"field": "session", "message": "a browser session is required"}],
        )
    at: datetime | None = (
        await conn.execute(
            sa.select(sessions.c.reauth_at).where(
                sessions.c.id == actor.session_id,
                sessions.c.user_id == actor.user_id,
                sessions.c.revoked_at.is_(None),
            )
        )
    ).scalar()
    if at is None or utcnow() - at > timedelta(seconds=within):
        raise Forbidden(
            f"confirm it is you: sign in again, then do this within {within // 60} minutes",
            title="Fresh sign-in required",
            errors=[{"field": "session", "message": "sign in again"}],
        )


async def is_fresh(platform: Any, actor: Principal) -> bool:
    """Whether :func:`require_fresh_proof` would let ``actor`` through now (for pages to say so)."""
    async with platform.db.read() as conn:
        try:
            await require_fresh_proof(conn, actor)
        except Forbidden:
            return False
    return True


# --- the person's passkeys --------------------------------------------------------------------------


def _public(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "transports": list(row.transports or []),
        "created_at": row.created_at,
        "last_used_at": row.last_used_at,
    }


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


def check_name(name: str, *, blank: str | None = "Passkey") -> str:
    """A passkey's name: trimmed, printable, at most :data:`MAX_NAME` characters; ``blank`` when empty
    (or refused when ``blank`` is None)."""
    name = " ".join(name.split())
    if not name:
        if blank is None:
            raise Invalid("name", "enter a name")
        return blank
    if len(name) > MAX_NAME:
        raise Invalid("name", f"at most {MAX_NAME} characters")
    if not name.isprintable():
        raise Invalid("name", "use printable characters only")
    return name


async def do_rename(uow: UnitOfWork, actor: Principal, passkey_id: int, name: str) -> dict[str, Any]:
    name = check_name(name, blank=None)
    await _own(uow, actor, passkey_id)
    await uow.execute(passkeys.update().where(passkeys.c.id == passkey_id).values(name=name))
    return _public(await _own(uow, actor, passkey_id))


async def do_remove(uow: UnitOfWork, actor: Principal, passkey_id: int) -> None:
    """Remove one of the actor's passkeys; needs a fresh proof (:func:`require_fresh_proof`)."""
    row = await _own(uow, actor, passkey_id)
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


def _descriptors(rows: Any) -> list[PublicKeyCredentialDescriptor]:
    return [
        PublicKeyCredentialDescriptor(
            id=base64url_to_bytes(r.credential_id), transports=_transports(r.transports)
        )
        for r in rows
    ]


def _transports(values: Any) -> list[AuthenticatorTransport]:
    known = {t.value for t in AuthenticatorTransport}
    return [AuthenticatorTransport(v) for v in values or [] if isinstance(v, str) and v in known]


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
            ws = await service.membership_workspace(uow, proof.user_id, workspace or None)
            await audit.record(
                uow,
                "signin.succeeded",
                workspace_id=ws,
                actor_user_id=proof.user_id,
                actor_email=proof.email,
                target_type="passkey",
                target_id=proof.passkey_id,
                detail={"method": "passkey"},
            )
    except Unauthorized:
        raise await _refuse(
            platform, "this passkey's account cannot sign in to that workspace", who
        ) from None
    return proof.user_id, ws


async def second_step(
    platform: Any, handle: str | None, credential: Any, user_id: int, workspace_id: int
) -> None:
    """The second step of a password sign-in done with one of ``user_id``'s passkeys instead of a code."""
    proof = await verify_assertion(platform, SECOND_STEP, handle, credential, user_id=user_id)
    async with platform.db.transaction() as uow:
        await audit.record(
            uow,
            "signin.succeeded",
            workspace_id=workspace_id,
            actor_user_id=proof.user_id,
            actor_email=proof.email,
            target_type="passkey",
            target_id=proof.passkey_id,
            detail={"method": "password", "second_factor": "passkey"},
        )
