"""SAML 2.0 Web Browser SSO, service-provider side, with pysaml2 (signatures checked by ``xmlsec1``).

Helpline sends an AuthnRequest by HTTP-Redirect (unsigned: the request asks, it proves nothing) and
reads the Response at its assertion consumer service by HTTP-POST. pysaml2 checks, against the
identity provider's metadata that an admin pasted:

- the signature of the Response or of its Assertion (one of them must be signed; only keys from the
  metadata are trusted, never a certificate the message carries),
- the audience restriction (our SP entity id), the Destination and Recipient (our ACS URL),
- ``InResponseTo``: the id of a request this server sent, kept server-side by ``flows`` and used
  once (unsolicited, IdP-initiated responses are refused),
- ``NotBefore`` / ``NotOnOrAfter`` of the conditions and subject confirmation (60 s of clock skew).

The person's subject is the NameID (persistent or unspecified formats, or an email address; a
transient NameID changes at every sign-in and is refused). pysaml2 is synchronous and runs
``xmlsec1`` as a subprocess, so its calls run in a worker thread; it is imported on first use.
"""

from __future__ import annotations

import shutil
import warnings
from functools import cache
from typing import Any

import anyio
from cryptography.utils import CryptographyDeprecationWarning

from helpline.domains.accounts.sso.service import Assertion, SignInRefused, groups_of
from helpline.errors import Invalid


@cache
def _lib() -> Any:
    """pysaml2, imported at the first SAML use: it loads XML schemas when imported (about a second
    of CPU), which every process would otherwise pay at start-up."""
    with warnings.catch_warnings():
        # pysaml2 imports a cipher mode that cryptography has moved; nothing of ours uses it.
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        import saml2
        import saml2.client
        import saml2.config
        import saml2.metadata
        import saml2.response
        import saml2.saml
    return saml2


XMLSEC = shutil.which("xmlsec1") or "/usr/bin/xmlsec1"
#: Clock difference tolerated on the assertion's time conditions, in seconds.
TIME_SLACK = 60


def _config(entity_id: str, metadata: str, acs_url: str) -> Any:
    conf = _lib().config.SPConfig()
    conf.load(
        {
            "entityid": entity_id,
            "xmlsec_binary": XMLSEC,
            "metadata": {"inline": [metadata]},
            "allow_unknown_attributes": True,
            "accepted_time_diff": TIME_SLACK,
            "service": {
                "sp": {
                    "endpoints": {"assertion_consumer_service": [(acs_url, _lib().BINDING_HTTP_POST)]},
                    "allow_unsolicited": False,
                    "want_response_signed": False,
                    "want_assertions_signed": False,
                    "want_assertions_or_response_signed": True,
                    "authn_requests_signed": False,
                    "only_use_keys_in_metadata": True,
                }
            },
        }
    )
    return conf


def check_metadata(xml: str) -> dict[str, str]:
    """``{"entity_id", "sso_url"}`` of the one identity provider ``xml`` describes; :class:`Invalid`
    naming ``idp_metadata`` when it is not usable (not metadata, no HTTP-Redirect sign-in endpoint,
    no signing certificate)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            md = _config("urn:helpline:check", xml, "https://localhost/acs").metadata
            idps = list(md.identity_providers())
    except Exception as exc:  # pysaml2 raises many kinds for a bad document
        raise Invalid("idp_metadata", "not SAML 2.0 metadata XML") from exc
    if len(idps) != 1:
        raise Invalid("idp_metadata", "must describe exactly one identity provider (an IDPSSODescriptor)")
    entity_id = str(idps[0])
    endpoints = md.single_sign_on_service(entity_id, _lib().BINDING_HTTP_REDIRECT) or []
    location = endpoints[0].get("location") if endpoints else None
    if not isinstance(location, str) or not location.startswith(("https://", "http://")):
        raise Invalid("idp_metadata", "the identity provider has no SingleSignOnService for HTTP-Redirect")
    if not md.certs(entity_id, "idpsso", "signing"):
        raise Invalid("idp_metadata", "the identity provider's signing certificate is missing")
    return {"entity_id": entity_id, "sso_url": location}


def _authn_request(provider: dict[str, Any], acs_url: str, relay_state: str) -> tuple[str, str]:
    config = provider["config"]
    client = _lib().client.Saml2Client(
        config=_config(config["sp_entity_id"], config["idp_metadata"], acs_url)
    )
    request_id, info = client.prepare_for_authenticate(
        entityid=config["idp_entity_id"], relay_state=relay_state, binding=_lib().BINDING_HTTP_REDIRECT
    )
    return str(request_id), str(dict(info["headers"])["Location"])


async def authn_request(provider: dict[str, Any], acs_url: str, relay_state: str) -> tuple[str, str]:
    """(request id, URL to send the browser to) of a new AuthnRequest."""
    return await anyio.to_thread.run_sync(_authn_request, provider, acs_url, relay_state)


def _first(values: object) -> str:
    if isinstance(values, list) and values and isinstance(values[0], str):
        return values[0].strip()
    return ""


def _parse(provider: dict[str, Any], acs_url: str, saml_response: str, request_id: str) -> Assertion:
    config = provider["config"]
    client = _lib().client.Saml2Client(
        config=_config(config["sp_entity_id"], config["idp_metadata"], acs_url)
    )
    refused = SignInRefused(
        "assertion_invalid", "The identity provider's answer could not be verified.", status=400
    )
    try:
        response = client.parse_authn_request_response(
            saml_response, _lib().BINDING_HTTP_POST, outstanding={request_id: "/"}
        )
    except _lib().response.StatusError as exc:
        raise SignInRefused("idp_refused", "The identity provider did not sign you in.", status=400) from exc
    except Exception as exc:  # signature, audience, time and format errors all land here
        raise refused from exc
    if response is None or response.in_response_to != request_id:
        raise refused
    if response.response.destination != acs_url:  # required of a signed response sent by HTTP-POST
        raise refused
    name_id = response.name_id
    subject = (getattr(name_id, "text", None) or "").strip()
    if (
        not subject
        or len(subject) > 255
        or getattr(name_id, "format", None) == _lib().saml.NAMEID_FORMAT_TRANSIENT
    ):
        raise SignInRefused(
            "no_subject",
            "The identity provider sent no lasting identifier (a persistent NameID).",
            status=400,
        )
    ava = response.ava or {}
    email = _first(ava.get(config.get("email_attribute") or "email"))
    if not email and getattr(name_id, "format", None) == _lib().saml.NAMEID_FORMAT_EMAILADDRESS:
        email = subject
    if "@" not in email:
        raise SignInRefused("no_email", "The identity provider did not send an email address.", status=403)
    group_attr = provider.get("group_claim") or ""
    return Assertion(
        subject=subject,
        email=email,
        name=_first(ava.get(config.get("name_attribute") or "name")),
        groups=groups_of(ava.get(group_attr)) if group_attr else (),
    )


async def parse_response(
    provider: dict[str, Any], acs_url: str, saml_response: str, request_id: str
) -> Assertion:
    """Who the (verified) Response says signed in, answering the request ``request_id``."""
    return await anyio.to_thread.run_sync(_parse, provider, acs_url, saml_response, request_id)


def _sp_metadata(provider: dict[str, Any], acs_url: str) -> str:
    config = provider["config"]
    xml = _lib().metadata.create_metadata_string(
        None, config=_config(config["sp_entity_id"], config["idp_metadata"], acs_url)
    )
    return xml.decode() if isinstance(xml, bytes) else str(xml)


async def sp_metadata(provider: dict[str, Any], acs_url: str) -> str:
    """Our service provider metadata for this provider (entity id, ACS URL), for the IdP's admin."""
    return await anyio.to_thread.run_sync(_sp_metadata, provider, acs_url)
