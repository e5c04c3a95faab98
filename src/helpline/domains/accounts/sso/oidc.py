"""OpenID Connect, authorization code flow with PKCE (S256), against a workspace's provider.

- Discovery: ``<issuer>/.well-known/openid-configuration``, whose ``issuer`` must be the configured
  one exactly (OpenID Connect Discovery 1.0 section 4.3); kept in the platform cache for an hour.
- The authorization request carries ``state`` and ``nonce`` (kept server-side by ``flows``) and the
  PKCE challenge of a verifier that never leaves the server until the token request.
- The token request authenticates the client with its secret (``client_secret_basic``, else
  ``client_secret_post`` when that is all the provider offers) and sends the verifier.
- The id token is verified with :mod:`joserfc`: an asymmetric signature (RS/PS/ES; never ``none`` or
  an HMAC) by a key of the provider's JWKS (fetched again once when a ``kid`` is unknown: key
  rotation), then ``iss``, ``aud`` (the client id), ``azp`` (when present, or when there are
  several audiences), ``exp``, ``iat``, ``nbf`` and the ``nonce`` of this very flow.

Every request to the provider goes through :func:`_idp_client`, which is where outbound traffic is
guarded. Protocol building blocks (the grant URI, PKCE) come from Authlib; the HTTP client is ours so
that the egress guard owns it (docs/adr/0013-single-sign-on.md).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import orjson
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import ClaimError, ExpiredTokenError, InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from helpline.domains.accounts.sso.service import Assertion, SignInRefused, groups_of
from helpline.platform import egress
from helpline.settings import Settings

TIMEOUT = 10.0
#: Discovery documents, JWKS and token responses are a few KB; more is refused, not buffered.
MAX_BODY = 512 * 1024
META_TTL = 3600
#: Signature algorithms accepted on id tokens: asymmetric only, so a key in the JWKS is needed to sign
#: (``none`` and the HMAC family, keyed by the client secret, are refused).
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]
#: Clock difference tolerated on ``exp``, ``iat`` and ``nbf``.
LEEWAY = 60


def _idp_client(settings: Settings) -> httpx.AsyncClient:
    """The HTTP client for every request to an identity provider (discovery, token, JWKS): through the
    egress guard, so a provider an admin names cannot reach this machine's or the network's insides
    unless the instance operator allows that host (``HELPLINE_EGRESS_ALLOW``)."""
    return egress.http_client(settings, purpose=egress.HTTPS, timeout=TIMEOUT, follow_redirects=False)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be an issuer or endpoint, or None: ``https://`` only (codes, secrets and
    tokens travel there), except ``http://`` to this machine, where nothing crosses a network."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return "not a URL"
    if not host or parts.username is not None or parts.password is not None or parts.fragment:
        return "an https:// URL with a host name and no user name or #fragment"
    if parts.scheme == "https" or (parts.scheme == "http" and _loopback(host)):
        return None
    return "must start with https:// (http:// only to this machine: 127.0.0.1, ::1 or localhost)"


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


async def _json(client: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> tuple[int, Any]:
    """(status, parsed JSON or None) of one request, reading at most :data:`MAX_BODY` bytes."""
    try:
        headers = {"Accept": "application/json", **kwargs.pop("headers", {})}
        async with client.stream(method, url, headers=headers, **kwargs) as response:
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_BODY:
                    raise SignInRefused(
                        "idp_error", "The identity provider sent an answer too large to read.", status=502
                    )
            status = response.status_code
    except httpx.HTTPError as exc:
        raise SignInRefused(
            "idp_unreachable",
            f"The identity provider could not be reached ({type(exc).__name__}).",
            status=502,
        ) from exc
    try:
        return status, orjson.loads(body)
    except orjson.JSONDecodeError:
        return status, None


async def metadata(platform: Any, provider: dict[str, Any]) -> dict[str, Any]:
    """The provider's endpoints from its discovery document (cached for :data:`META_TTL` seconds,
    per provider and issuer, so a changed issuer is looked up afresh)."""
    config = provider["config"]
    issuer = str(config["issuer"])
    key = f"sso:oidc:meta:{provider['id']}:{_digest(issuer)}"
    cached = (await platform.cache.get_many([key]))[0]
    if cached is not None:
        return dict(orjson.loads(cached))
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    async with _idp_client(platform.settings) as client:
        status, doc = await _json(client, "GET", url)
    if status != 200 or not isinstance(doc, dict):
        raise SignInRefused(
            "idp_error",
            f"The identity provider's discovery document could not be read (HTTP {status}).",
            status=502,
        )
    if doc.get("issuer") != issuer:
        raise SignInRefused(
            "idp_error", "The identity provider's discovery document names another issuer.", status=502
        )
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        value = doc.get(name)
        if not isinstance(value, str) or url_problem(value):
            raise SignInRefused(
                "idp_error", f"The identity provider's {name} is missing or not https://.", status=502
            )
    challenge = doc.get("code_challenge_methods_supported")
    if isinstance(challenge, list) and "S256" not in challenge:
        raise SignInRefused("idp_error", "The identity provider does not offer PKCE with S256.", status=502)
    methods = doc.get("token_endpoint_auth_methods_supported")
    meta = {
        "issuer": issuer,
        "authorization_endpoint": doc["authorization_endpoint"],
        "token_endpoint": doc["token_endpoint"],
        "jwks_uri": doc["jwks_uri"],
        "token_endpoint_auth_methods_supported": methods if isinstance(methods, list) else [],
    }
    await platform.cache.set(key, orjson.dumps(meta), META_TTL)
    return meta


def authorization_url(
    meta: dict[str, Any],
    provider: dict[str, Any],
    *,
    redirect_uri: str,
    state: str,
    nonce: str,
    verifier: str,
) -> str:
    """Where to send the browser: the authorization request with PKCE (S256), ``state`` and ``nonce``."""
    config = provider["config"]
    url: str = prepare_grant_uri(
        meta["authorization_endpoint"],
        config["client_id"],
        "code",
        redirect_uri=redirect_uri,
        scope=config.get("scopes") or "openid email profile",
        state=state,
        nonce=nonce,
        code_challenge=create_s256_code_challenge(verifier),
        code_challenge_method="S256",
    )
    return url


async def exchange(
    platform: Any,
    provider: dict[str, Any],
    meta: dict[str, Any],
    *,
    code: str,
    redirect_uri: str,
    verifier: str,
) -> str:
    """Trade the authorization code (and the PKCE verifier) for tokens; the id token."""
    config = provider["config"]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }
    headers: dict[str, str] = {}
    methods = meta.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    if "client_secret_basic" in methods:
        # RFC 6749 section 2.3.1: both parts form-encoded before Basic encoding.
        pair = f"{quote(config['client_id'], safe='')}:{quote(config['client_secret'], safe='')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    elif "client_secret_post" in methods:
        form.update(client_id=config["client_id"], client_secret=config["client_secret"])
    else:
        raise SignInRefused(
            "idp_error", "The identity provider accepts no client secret at its token endpoint.", status=502
        )
    async with _idp_client(platform.settings) as client:
        status, body = await _json(client, "POST", meta["token_endpoint"], data=form, headers=headers)
    if status != 200 or not isinstance(body, dict):
        error = body.get("error") if isinstance(body, dict) else None
        why = f": {str(error)[:80]}" if error else f" (HTTP {status})"
        raise SignInRefused("token_refused", f"The identity provider refused the sign-in code{why}.")
    id_token = body.get("id_token")
    if not isinstance(id_token, str) or not id_token:
        raise SignInRefused("token_invalid", "The identity provider sent no id token.")
    return id_token


async def _keys(platform: Any, provider: dict[str, Any], meta: dict[str, Any], *, fresh: bool) -> KeySet:
    key = f"sso:oidc:jwks:{provider['id']}:{_digest(meta['jwks_uri'])}"
    raw = None if fresh else (await platform.cache.get_many([key]))[0]
    if raw is None:
        async with _idp_client(platform.settings) as client:
            status, doc = await _json(client, "GET", meta["jwks_uri"])
        if status != 200 or not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
            raise SignInRefused(
                "idp_error",
                f"The identity provider's signing keys could not be read (HTTP {status}).",
                status=502,
            )
        raw = orjson.dumps({"keys": [k for k in doc["keys"] if isinstance(k, dict)]})
        await platform.cache.set(key, raw, META_TTL)
    try:
        return KeySet.import_key_set(orjson.loads(raw))
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise SignInRefused(
            "idp_error", "The identity provider's signing keys are not usable.", status=502
        ) from exc


async def verify_id_token(
    platform: Any, provider: dict[str, Any], meta: dict[str, Any], id_token: str, *, nonce: str
) -> dict[str, Any]:
    """The id token's claims once its signature and claims check out; :class:`SignInRefused` else."""
    config = provider["config"]
    token = None
    for fresh in (False, True):
        keys = await _keys(platform, provider, meta, fresh=fresh)
        try:
            token = jwt.decode(id_token, keys, algorithms=ALGORITHMS)
            break
        except InvalidKeyIdError:
            continue  # a key we have not seen: the provider may have rotated; fetch the set once more
        except (JoseError, ValueError, TypeError) as exc:
            raise SignInRefused("token_invalid", "The id token's signature does not verify.") from exc
    if token is None:
        raise SignInRefused("token_invalid", "The id token is signed by a key the provider does not publish.")
    claims = dict(token.claims)
    registry = jwt.JWTClaimsRegistry(
        leeway=LEEWAY,
        iss={"essential": True, "value": config["issuer"]},
        aud={"essential": True, "value": config["client_id"]},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    try:
        registry.validate(claims)
    except ExpiredTokenError as exc:
        raise SignInRefused("token_invalid", "The id token has expired.") from exc
    except ClaimError as exc:
        raise SignInRefused("token_invalid", f"The id token's {exc.claim} claim is wrong.") from exc
    except JoseError as exc:
        raise SignInRefused("token_invalid", "The id token's claims are not valid.") from exc
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    azp = claims.get("azp")
    if (len(audiences) > 1 or azp is not None) and azp != config["client_id"]:
        raise SignInRefused("token_invalid", "The id token's azp claim is wrong.")
    return claims


def assertion_of(claims: dict[str, Any], group_claim: str) -> Assertion:
    """Who the verified claims say the person is. The address must be ``email_verified``."""
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject or len(subject) > 255:
        raise SignInRefused("token_invalid", "The id token's sub claim is wrong.")
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email:
        raise SignInRefused(
            "no_email",
            "The identity provider did not send an email address (ask for the email scope).",
            status=403,
        )
    verified = claims.get("email_verified")
    if verified is not True and verified != "true":
        raise SignInRefused(
            "email_unverified", "The identity provider has not verified this email address.", status=403
        )
    name = claims.get("name")
    if not isinstance(name, str) or not name.strip():
        parts = [claims.get("given_name"), claims.get("family_name")]
        name = " ".join(p for p in parts if isinstance(p, str) and p.strip())
    return Assertion(
        subject=subject,
        email=email,
        name=name.strip() if isinstance(name, str) else "",
        groups=groups_of(claims.get(group_claim) if group_claim else None),
    )
