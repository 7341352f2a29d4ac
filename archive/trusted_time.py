"""Trusted time: an RFC 3161 time-stamping client and the checks of the tokens it brings back.

A CMS signature without a timestamp carries only the signer's own claim of time. With a TSA
(``JUANZONG_TSA_URL``: the court's or a national TSA; ``scripts/tsa.sh`` runs OpenSSL's for
tests and the demo) every signature gets a *signature timestamp token* (CAdES-T, RFC 5126
5.11.1): a TSA's signed statement that the signature value existed at ``genTime``, stored as
the unsigned attribute ``id-aa-signatureTimeStampToken`` of the SignerInfo. The same client
makes the archive timestamps of evidence records (``archive.evidence``).

Tokens are checked with pyHanko's validator (``validate_tst_signed_data``): message imprint,
the TSA's signature, and, given the TSA's root, its chain and extended key usage at a chosen
moment (a later archive timestamp can prove an earlier token was made while its certificate
was valid: the renewal job relies on that).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging

from asn1crypto import cms, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pydantic import BaseModel, ConfigDict
from pyhanko.sign.timestamps.requests_client import RequestsHTTPTimeStamper
from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
from pyhanko_certvalidator import ValidationContext

from schemas.errors import Unavailable

TOKEN_ATTRIBUTE = "signature_time_stamp_token"
NO_TRUSTED_TIME = "no trusted time"
_log = logging.getLogger("juanzong.time")


class TimestampAuthority:
    """One RFC 3161 TSA reached over HTTP. Runs wherever a signature is made; holds no secret."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        self.url = url
        self.client = RequestsHTTPTimeStamper(url, timeout=timeout)  # pyHanko's, for document timestamps

    def stamp_digest(self, digest: bytes, algorithm: str = "sha256") -> cms.ContentInfo:
        """A token over ``digest`` (E470 when the TSA cannot be reached or refuses)."""
        try:
            return asyncio.run(self.client.async_timestamp(digest, algorithm))
        except Exception as exc:  # noqa: BLE001 - network, HTTP or TSP status: one code for all
            raise Unavailable("E470", self.url, reason=str(exc) or type(exc).__name__) from exc

    def stamp(self, data: bytes, algorithm: str = "sha256") -> cms.ContentInfo:
        return self.stamp_digest(hashlib.new(algorithm, data).digest(), algorithm)


class TimestampCheck(BaseModel):
    """What a token says and whether it holds."""

    model_config = ConfigDict(frozen=True)

    time: dt.datetime | None
    tsa: str
    tsa_not_after: dt.datetime | None
    intact: bool  # the imprint matches and the TSA's signature verifies
    trusted: bool  # the TSA's certificate chains to a trusted TSA root at the moment checked
    detail: str = ""

    @property
    def valid(self) -> bool:
        return self.intact and self.trusted

    def describe(self) -> str:
        if not self.intact:
            return f"timestamp broken: {self.detail}"
        trust = "" if self.trusted else " (TSA not trusted)"
        return f"trusted time {self.time:%Y-%m-%dT%H:%M:%SZ} from {self.tsa}{trust}"


def token_info(token: cms.ContentInfo) -> tsp.TSTInfo:
    return token["content"]["encap_content_info"]["content"].parsed


def token_certificate(token: cms.ContentInfo) -> x509.Certificate | None:
    """The TSA's own certificate inside a token (the signer's, matched by issuer and serial)."""
    signed = token["content"]
    sid = signed["signer_infos"][0]["sid"]
    for choice in signed["certificates"] or []:
        cert = choice.chosen
        if not isinstance(cert, asn1_x509.Certificate):
            continue
        if sid.name == "issuer_and_serial_number" and cert.issuer == sid.chosen["issuer"] \
                and cert.serial_number == sid.chosen["serial_number"].native:
            return x509.load_der_x509_certificate(cert.dump())
        if sid.name == "subject_key_identifier" and cert.key_identifier == sid.chosen.native:
            return x509.load_der_x509_certificate(cert.dump())
    return None


def check_token(token: cms.ContentInfo, imprint_of, tsa_roots: list[x509.Certificate],
                moment: dt.datetime | None = None) -> TimestampCheck:
    """Check ``token`` against the data whose digest ``imprint_of(algorithm)`` returns,
    trusting ``tsa_roots`` at ``moment`` (now when None); never raises on bad bytes."""
    cert = None
    try:
        info = token_info(token)
        cert = token_certificate(token)
        roots = [asn1_x509.Certificate.load(r.public_bytes(serialization.Encoding.DER)) for r in tsa_roots]
        roots = roots or _embedded(token)  # integrity only: the token's own chain, never reported as trusted
        context = ValidationContext(trust_roots=roots, moment=moment, allow_fetching=False,
                                    revocation_mode="soft-fail")
        status = asyncio.run(validate_tst_signed_data(token["content"], context, imprint_of))
    except Exception as exc:  # noqa: BLE001 - untrusted bytes: a verdict, not a crash
        return TimestampCheck(time=None, tsa="?", tsa_not_after=None, intact=False, trusted=False,
                              detail=str(exc) or type(exc).__name__)
    tsa = _common_name(cert) if cert is not None else "?"
    return TimestampCheck(time=info["gen_time"].native, tsa=tsa,
                          tsa_not_after=cert.not_valid_after_utc if cert is not None else None,
                          intact=bool(status["intact"] and status["valid"]),
                          trusted=bool(tsa_roots) and status["trust_problem_indic"] is None,
                          detail=f"intact={status['intact']} valid={status['valid']} "
                                 f"trust={status['trust_problem_indic'] or 'ok'}")


def _embedded(token: cms.ContentInfo) -> list[asn1_x509.Certificate]:
    return [c.chosen for c in token["content"]["certificates"] or [] if isinstance(c.chosen, asn1_x509.Certificate)]


def _common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(names[0].value) if names else cert.subject.rfc4514_string()


# --- CAdES-T: the signature timestamp inside a CMS signature ----------------------------------

def add_signature_timestamp(signature: bytes, tsa: TimestampAuthority) -> bytes:
    """``signature`` (DER CMS SignedData, one signer) with a timestamp token over its signature
    value in the signer's unsigned attributes (RFC 5126 signature-time-stamp)."""
    info = cms.ContentInfo.load(signature)
    signed = info["content"]
    signer = signed["signer_infos"][0]
    token = tsa.stamp(signer["signature"].native)
    attribute = cms.CMSAttribute({"type": TOKEN_ATTRIBUTE, "values": [token]})
    existing = list(signer["unsigned_attrs"]) if signer["unsigned_attrs"].dump() else []
    signer["unsigned_attrs"] = cms.CMSAttributes([*existing, attribute])
    signed["signer_infos"] = cms.SignerInfos([signer])  # re-set upwards: asn1crypto re-encodes what changed
    info["content"] = signed
    return info.dump()


def signature_timestamp(signature: bytes) -> cms.ContentInfo | None:
    """The signature timestamp token of a CMS signature, if it has one."""
    signer = cms.ContentInfo.load(signature)["content"]["signer_infos"][0]
    for attribute in signer["unsigned_attrs"] if signer["unsigned_attrs"].dump() else []:
        if attribute["type"].native == TOKEN_ATTRIBUTE:
            return attribute["values"][0]
    return None


def signature_value(signature: bytes) -> bytes:
    return cms.ContentInfo.load(signature)["content"]["signer_infos"][0]["signature"].native


def check_signature_timestamp(signature: bytes, tsa_roots: list[x509.Certificate],
                              moment: dt.datetime | None = None) -> TimestampCheck | None:
    """The check of a CMS signature's timestamp token; None when it has none ("no trusted time")."""
    token = signature_timestamp(signature)
    if token is None:
        return None
    value = signature_value(signature)
    return check_token(token, lambda algorithm: hashlib.new(algorithm, value).digest(), tsa_roots, moment)


def describe_time(check: TimestampCheck | None) -> str:
    return NO_TRUSTED_TIME if check is None else check.describe()


class _Once:
    said = False


def warn_no_tsa() -> None:
    """Say once per process that signatures are made without trusted time."""
    if not _Once.said:
        _Once.said = True
        _log.warning("no TSA configured (JUANZONG_TSA_URL): signatures carry %s", NO_TRUSTED_TIME)
