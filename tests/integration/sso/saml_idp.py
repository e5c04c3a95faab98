"""A local SAML 2.0 identity provider for tests: pysaml2's own IdP side (``saml2.server.Server``)
with a throwaway signing certificate made by ``cryptography``. It reads Helpline's AuthnRequest from
the redirect URL and answers with a Response, signed or not, as a test asks."""

from __future__ import annotations

import base64
import datetime as dt
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import NameOID

with warnings.catch_warnings():
    warnings.simplefilter("ignore", CryptographyDeprecationWarning)
    from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, time_util
    from saml2.config import IdPConfig, SPConfig
    from saml2.metadata import create_metadata_string
    from saml2.saml import NAMEID_FORMAT_PERSISTENT, NAMEID_FORMAT_TRANSIENT, NameID
    from saml2.server import Server

XMLSEC = "/usr/bin/xmlsec1"
PASSWORD_CONTEXT = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"


def throwaway_certificate(folder: Path, name: str = "idp.example.test") -> tuple[Path, Path]:
    """A self-signed RSA certificate and its key, as PEM files (key, certificate)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    key_file, cert_file = folder / f"{name}.key", folder / f"{name}.crt"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_file, cert_file


@contextmanager
def _clock_behind(minutes: int) -> Iterator[None]:
    """pysaml2's clock (``saml2.time_util``: both its ``time`` and its ``datetime``) ``minutes`` behind."""
    shift = minutes * 60

    class Time:
        def __getattr__(self, name: str) -> Any:
            return getattr(time, name)

        def gmtime(self, secs: float | None = None) -> time.struct_time:
            return time.gmtime(time.time() - shift if secs is None else secs)

    class Datetime(dt.datetime):
        @classmethod
        def now(cls, tz: dt.tzinfo | None = None) -> Any:
            return dt.datetime.now(tz) - dt.timedelta(seconds=shift)

    with mock.patch.object(time_util, "time", Time()), mock.patch.object(time_util, "datetime", Datetime):
        yield


class LocalSamlIdp:
    entity_id = "https://idp.example.test/saml/metadata"
    sso_url = "https://idp.example.test/saml/sso"

    def __init__(self, folder: Path) -> None:
        self.key_file, self.cert_file = throwaway_certificate(folder)
        self.sp_metadata: list[str] = []

    def _config(self) -> Any:
        conf = IdPConfig()
        conf.load(
            {
                "entityid": self.entity_id,
                "xmlsec_binary": XMLSEC,
                "key_file": str(self.key_file),
                "cert_file": str(self.cert_file),
                "metadata": {"inline": list(self.sp_metadata)},
                "service": {
                    "idp": {
                        "endpoints": {"single_sign_on_service": [(self.sso_url, BINDING_HTTP_REDIRECT)]},
                        "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                        "policy": {"default": {"lifetime": {"minutes": 5}, "attribute_restrictions": None}},
                    }
                },
            }
        )
        return conf

    def metadata(self) -> str:
        """The IdP's metadata XML, what an admin pastes into Helpline."""
        xml = create_metadata_string(None, config=self._config())
        return xml.decode() if isinstance(xml, bytes) else str(xml)

    def trust_sp(self, metadata: str) -> None:
        self.sp_metadata.append(metadata)

    def trust_other_sp(self, entity_id: str, acs_url: str) -> None:
        """Know a second service provider (to answer for the wrong audience)."""
        conf = SPConfig()
        conf.load(
            {
                "entityid": entity_id,
                "xmlsec_binary": XMLSEC,
                "service": {
                    "sp": {"endpoints": {"assertion_consumer_service": [(acs_url, BINDING_HTTP_POST)]}}
                },
            }
        )
        xml = create_metadata_string(None, config=conf)
        self.trust_sp(xml.decode() if isinstance(xml, bytes) else str(xml))

    def answer(
        self,
        redirect_url: str,
        *,
        subject: str,
        attributes: dict[str, list[str]],
        sign_response: bool = True,
        sign_assertion: bool = True,
        audience: str | None = None,
        transient: bool = False,
        tamper: tuple[str, str] | None = None,
        minutes_ago: int = 0,
    ) -> dict[str, str]:
        """The form the IdP's page would post to the ACS (``SAMLResponse``, ``RelayState``) in answer to
        the AuthnRequest in ``redirect_url``; ``minutes_ago``: made by an IdP whose clock is that far
        behind (an answer kept and posted later), so that its five minutes of validity may be over."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(redirect_url).query).items()}
        server = Server(config=self._config())
        request = server.parse_authn_request(query["SAMLRequest"], BINDING_HTTP_REDIRECT).message
        with _clock_behind(minutes_ago):
            response = server.create_authn_response(
                attributes,
                in_response_to=request.id,
                destination=request.assertion_consumer_service_url,
                sp_entity_id=audience or request.issuer.text,
                name_id=NameID(
                    format=NAMEID_FORMAT_TRANSIENT if transient else NAMEID_FORMAT_PERSISTENT, text=subject
                ),
                authn={"class_ref": PASSWORD_CONTEXT},
                sign_response=sign_response,
                sign_assertion=sign_assertion,
            )
        xml = str(response)
        if tamper:
            assert tamper[0] in xml
            xml = xml.replace(*tamper)
        return {
            "SAMLResponse": base64.b64encode(xml.encode()).decode(),
            "RelayState": query.get("RelayState", ""),
        }
