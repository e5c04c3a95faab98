"""What the passkey ceremonies share: the relying party, user handles, challenges kept in the cache,
the fresh-proof rule, and the shape of a stored passkey."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.structs import AuthenticatorTransport, PublicKeyCredentialDescriptor

from helpline.domains.accounts.models import PasskeyCredential, User, WebSession
from helpline.domains.accounts.principal import Principal
from helpline.domains.accounts.service._signin import REAUTH_SECONDS as REAUTH_SECONDS
from helpline.domains.accounts.service._signin import session_is_fresh
from helpline.errors import Forbidden, Invalid, Problem, Unauthorized
from helpline.platform.cache import Cache
from helpline.platform.db import UnitOfWork

log = logging.getLogger(__name__)

passkeys = PasskeyCredential.__table__
users = User.__table__
sessions = WebSession.__table__

#: How long a challenge waits for its answer (the browser is told a little less: :data:`TIMEOUT_MS`).
CHALLENGE_SECONDS = 180
TIMEOUT_MS = 150_000
#: Registering or removing a passkey needs a sign-in (or re-authentication) this recent.
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


async def require_fresh_proof(conn: AsyncConnection | UnitOfWork, actor: Principal) -> None:
    """Refuse (403) unless ``actor`` is a browser session whose holder proved who they are (signed in,
    or re-authenticated) within the last minutes: ``accounts.service.session_is_fresh``, the one
    definition of "fresh" (passwords, 2FA and tokens use it too). An API token alone never
    qualifies, whatever its age. The rule for changing one's passkeys."""
    if actor.session_id is None:
        raise Forbidden(
            "this needs a signed-in browser session; an API token alone cannot do it",
            errors=[{"field": "session", "message": "a browser session is required"}],
        )
    if not await session_is_fresh(conn, actor.session_id):
        raise Forbidden(
            f"confirm it is you: sign in again, then do this within {REAUTH_SECONDS // 60} minutes",
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


def _public(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "transports": list(row.transports or []),
        "created_at": row.created_at,
        "last_used_at": row.last_used_at,
    }


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
