"""Detached CMS signatures over a bag's tag manifest.

Signers: a key file (``FileSigner``), a PKCS #11 token (``archive.pkcs11_signer``), SM2 through
GmSSL (``archive.sm2``); ``TimestampingSigner`` adds an RFC 3161 signature timestamp to any of
them (CAdES-T, ``archive.trusted_time``), and verification checks that token's integrity.

Each AIP version carries ``tagmanifest-sha256.txt.p7s``: a DER CMS (PKCS #7) SignedData
with no encapsulated content, signed attributes (contentType, signingTime,
messageDigest) and the signer's certificate chain. A third party needs only OpenSSL::

    openssl cms -verify -binary -inform DER -in tagmanifest-sha256.txt.p7s \
        -content tagmanifest-sha256.txt -CAfile cert.pem -purpose any -out /dev/null

(``cert.pem``: the trusted root, e.g. the archive's self-signed certificate;
``openssl cms -cmsout -print -inform DER -in tagmanifest-sha256.txt.p7s`` shows the
signing time and certificates.)

ECDSA P-256 and RSA signatures are built with cryptography's PKCS7SignatureBuilder.
That builder refuses Ed25519 keys ("Only RSA & EC keys are supported"), so Ed25519
SignedData (RFC 8419: SHA-512 message digest, signature over the DER signed
attributes) is assembled with asn1crypto. OpenSSL 3.0 (Debian 12's) can neither sign
nor verify Ed25519 CMS ("eddsa_digest_signverify_init: invalid digest"), so the
openssl-alone check above works for ECDSA P-256 (the default) and RSA only; Ed25519
signatures verify with this module (and newer OpenSSL releases). Verification
parses the CMS with asn1crypto and checks the signature with cryptography, accepting
ECDSA, Ed25519, RSA-PSS and RSA PKCS #1 v1.5.
"""

from __future__ import annotations

import asn1crypto.tsp  # noqa: F401  (registers signing_certificate_v2 before first use; pyHanko needs it)

import datetime as dt
import hashlib
import fcntl
import os
import stat
from abc import ABC, abstractmethod
from pathlib import Path

from asn1crypto import algos, cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7

from archive.pki import FileSet, PrivateKey, issue_certificate, new_private_key, private_pem, self_signed_certificate
from archive.trusted_time import TimestampAuthority, add_signature_timestamp, check_signature_timestamp
from schemas.errors import ConfigurationError, Problem

SIGNATURE_NAME = "tagmanifest-sha256.txt.p7s"
SIGNED_FILE = "tagmanifest-sha256.txt"


class Signer(ABC):
    """Makes detached signatures. Runs in the packaging step; must never write the key anywhere."""

    @abstractmethod
    def sign_detached(self, data: bytes) -> bytes:
        """DER CMS SignedData over ``data`` (not embedded), with signingTime and the chain."""

    @abstractmethod
    def certificate(self) -> x509.Certificate:
        """The signer's own certificate."""

    @abstractmethod
    def chain(self) -> list[x509.Certificate]:
        """Issuer certificates above the signer's, nearest first (empty for self-signed)."""


class _KeySigner(Signer):
    """A signer holding a private key object in memory."""

    def __init__(self, key: PrivateKey, cert: x509.Certificate, chain: list[x509.Certificate]) -> None:
        self._key = key
        self._cert = cert
        self._chain = list(chain)

    def sign_detached(self, data: bytes) -> bytes:
        return cms_sign(data, self._key, self._cert, self._chain)

    def certificate(self) -> x509.Certificate:
        return self._cert

    def chain(self) -> list[x509.Certificate]:
        return list(self._chain)


class FileSigner(_KeySigner):
    """The development/production key file signer: PEM key (mode 0600), PEM certificate, optional chain."""

    def __init__(self, key_path: Path, cert_path: Path, chain_path: Path | None = None) -> None:
        check_key_file(key_path)
        for path in (cert_path, chain_path):
            if path is not None and not path.is_file():
                raise ConfigurationError("E408", str(path))
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        chain = x509.load_pem_x509_certificates(chain_path.read_bytes()) if chain_path else []
        super().__init__(key, cert, chain)  # type: ignore[arg-type]


class EphemeralSigner(_KeySigner):
    """An in-memory key and certificate, optionally issued by an in-memory CA; for tests and demos."""

    def __init__(self, *, common_name: str = "Juanzong test signer", algorithm: str = "ecdsa-p256",
                 with_ca: bool = False) -> None:
        key = new_private_key(algorithm)
        if not with_ca:
            super().__init__(key, self_signed_certificate(key, common_name), [])
            return
        ca_key = new_private_key(algorithm)
        ca_cert = self_signed_certificate(ca_key, common_name + " CA")
        cert = issue_certificate(key.public_key(), common_name, ca_key, ca_cert, ca=False)
        super().__init__(key, cert, [ca_cert])


class TimestampingSigner(Signer):
    """Another signer's signatures, each with a signature timestamp token from a TSA (CAdES-T)."""

    def __init__(self, inner: Signer, tsa: TimestampAuthority) -> None:
        self._inner, self._tsa = inner, tsa

    def sign_detached(self, data: bytes) -> bytes:
        return add_signature_timestamp(self._inner.sign_detached(data), self._tsa)

    def certificate(self) -> x509.Certificate:
        return self._inner.certificate()

    def chain(self) -> list[x509.Certificate]:
        return self._inner.chain()


def check_key_file(key_path: Path) -> None:
    """Refuse a missing key (E408) or one readable by group or others (E407)."""
    if not key_path.is_file():
        raise ConfigurationError("E408", str(key_path))
    mode = stat.S_IMODE(key_path.stat().st_mode)
    if mode & 0o077:
        raise ConfigurationError("E407", str(key_path),
                                 reason=f"mode {mode:04o} lets group/others read it; chmod 600")


def ensure_dev_keys(key_path: Path, cert_path: Path, *, common_name: str, algorithm: str = "ecdsa-p256") -> None:
    """Create a key (0600, parent 0700) and self-signed certificate unless the key already exists.
    Both are written whole before either takes its name, the key last, under a lock: a key file
    is never half-written and never lacks its certificate, whoever else runs ``keys init``."""
    key_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with (key_path.parent / ".keys.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if key_path.exists():
            check_key_file(key_path)
            if not cert_path.exists():
                raise ConfigurationError("E408", str(cert_path))
            return
        _make_dev_keys(key_path, cert_path, common_name, algorithm)


def _make_dev_keys(key_path: Path, cert_path: Path, common_name: str, algorithm: str) -> None:
    key = new_private_key(algorithm)
    cert = self_signed_certificate(key, common_name).public_bytes(serialization.Encoding.PEM)
    FileSet().public(cert_path, cert).private(key_path, private_pem(key)).write()


def cms_sign(data: bytes, key: PrivateKey, cert: x509.Certificate, chain: list[x509.Certificate]) -> bytes:
    """Detached DER SignedData over ``data`` with signingTime and ``cert`` plus ``chain`` embedded."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return _ed25519_cms_sign(data, key, cert, chain)
    builder = pkcs7.PKCS7SignatureBuilder().set_data(data).add_signer(cert, key, hashes.SHA256())
    for extra in chain:
        builder = builder.add_certificate(extra)
    options = [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary]
    return builder.sign(serialization.Encoding.DER, options)


def _ed25519_cms_sign(data: bytes, key: ed25519.Ed25519PrivateKey, cert: x509.Certificate,
                      chain: list[x509.Certificate]) -> bytes:
    """RFC 8419 SignedData: SHA-512 messageDigest, Ed25519 over the DER SET OF signed attributes."""
    return assemble_cms(data, cert, chain, digest_name="sha512", signature_algorithm="ed25519", sign_raw=key.sign)


def assemble_cms(data: bytes, cert: x509.Certificate | asn1_x509.Certificate,
                 chain: list[x509.Certificate] | list[asn1_x509.Certificate], *, digest_name: str,
                 signature_algorithm: str, sign_raw) -> bytes:
    """Detached DER SignedData over ``data`` (contentType, signingTime, messageDigest signed),
    the signature made by ``sign_raw(DER of the signed attributes)``: the one assembly behind
    every signer whose key cryptography's PKCS7 builder cannot hold (Ed25519, SM2, a token)."""
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    attributes = [
        cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
        cms.CMSAttribute({"type": "signing_time", "values": [cms.Time({"utc_time": now})]}),
        cms.CMSAttribute({"type": "message_digest", "values": [_digest(digest_name, data)]}),
    ]
    attributes.sort(key=lambda a: a.dump())  # DER orders SET OF by encoding
    signed_attrs = cms.CMSAttributes(attributes)
    signature = sign_raw(_signed_attrs_der(signed_attrs))
    asn1_cert = _asn1(cert)
    signer_info = cms.SignerInfo({
        "version": "v1",
        "sid": cms.SignerIdentifier({"issuer_and_serial_number": cms.IssuerAndSerialNumber(
            {"issuer": asn1_cert.issuer, "serial_number": asn1_cert.serial_number})}),
        "digest_algorithm": algos.DigestAlgorithm({"algorithm": digest_name}),
        "signed_attrs": signed_attrs,
        "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": signature_algorithm}),
        "signature": signature,
    })
    signed_data = cms.SignedData({
        "version": "v1",
        "digest_algorithms": [algos.DigestAlgorithm({"algorithm": digest_name})],
        "encap_content_info": {"content_type": "data"},
        "certificates": [asn1_cert, *(_asn1(c) for c in chain)],
        "signer_infos": [signer_info],
    })
    return cms.ContentInfo({"content_type": "signed_data", "content": signed_data}).dump()


def _asn1(cert: x509.Certificate | asn1_x509.Certificate) -> asn1_x509.Certificate:
    if isinstance(cert, asn1_x509.Certificate):
        return cert
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _digest(name: str, data: bytes) -> bytes:
    return hashlib.new(name, data).digest()  # OpenSSL 3's default provider has SM3 too


def _signed_attrs_der(signed_attrs: cms.CMSAttributes) -> bytes:
    """The signed attributes as a universal SET (tag 0x31), which is what is signed (RFC 5652 §5.4)."""
    encoded = signed_attrs.dump()
    return b"\x31" + encoded[1:]


def sign_bag(bag_dir: Path, signer: Signer) -> Path:
    """Write ``tagmanifest-sha256.txt.p7s`` next to the tag manifest; returns its path."""
    manifest = bag_dir / SIGNED_FILE
    if not manifest.is_file():
        raise ConfigurationError("E408", str(manifest))
    target = bag_dir / SIGNATURE_NAME
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_bytes(signer.sign_detached(manifest.read_bytes()))
    os.replace(tmp, target)
    return target


def verify_bag_signature(bag_dir: Path, trusted: list[x509.Certificate] | None = None) -> list[Problem]:
    """Problems (E403) with the bag's signature; empty when it verifies (and chains to ``trusted``)."""
    signature, manifest = bag_dir / SIGNATURE_NAME, bag_dir / SIGNED_FILE
    for path in (signature, manifest):
        if not path.is_file():
            return [Problem.of("E403", str(path), reason="file is missing")]
    return verify_detached(manifest.read_bytes(), signature.read_bytes(), str(signature), trusted)


def verify_detached(data: bytes, signature: bytes, label: str,
                    trusted: list[x509.Certificate] | None = None) -> list[Problem]:
    """Verify one detached CMS signature over ``data``; ``label`` names the signature file in problems."""
    try:
        signer_cert, certs = _verify_cms(data, signature)
    except Exception as exc:  # noqa: BLE001 - any parse or crypto failure of untrusted bytes is a bad signature
        reason = str(exc) or type(exc).__name__
        return [Problem.of("E403", label, reason=reason)]
    if trusted is not None and not is_trusted(signer_cert, certs, trusted):
        subject = signer_cert.subject.rfc4514_string()
        return [Problem.of("E403", label, reason=f"signer {subject} does not chain to a trusted certificate")]
    return []


def signature_info(signature: bytes) -> tuple[x509.Certificate, dt.datetime | None]:
    """The signer certificate and signing time of a CMS signature (no verification)."""
    signer_info, certs = _parse(signature)
    attrs = _attributes(signer_info)
    when = attrs.get("signing_time")
    return _find_signer(signer_info, certs), when.native if when is not None else None


def _parse(signature: bytes) -> tuple[cms.SignerInfo, list[x509.Certificate]]:
    info = cms.ContentInfo.load(signature, strict=True)
    if info["content_type"].native != "signed_data":
        raise ValueError("not a CMS SignedData")
    if not _is_canonical(signature):
        raise ValueError("signature is not canonical DER (bytes were changed)")
    signed = info["content"]
    if signed["encap_content_info"]["content"].native is not None:
        raise ValueError("signature is not detached")
    if signed["encap_content_info"]["content_type"].native != "data" or signed["version"].native != "v1":
        raise ValueError("SignedData is not version 1 over id-data")
    if len(signed["signer_infos"]) != 1:
        raise ValueError(f"expected one signer, found {len(signed['signer_infos'])}")
    certs = [x509.load_der_x509_certificate(c.chosen.dump()) for c in signed["certificates"] or []]
    return signed["signer_infos"][0], certs


_SIGNED_DATA_PARTS = ("version", "digest_algorithms", "encap_content_info", "certificates")
_SIGNER_INFO_PARTS = ("version", "sid", "digest_algorithm", "signed_attrs", "signature_algorithm", "signature")


def _is_canonical(signature: bytes) -> bool:
    """Every part outside the unsigned attributes re-encodes to the same bytes. Timestamp tokens
    (unsigned) are checked by their own verification: re-encoding one nested in a SignerInfo
    costs asn1crypto seconds."""
    signed = cms.ContentInfo.load(signature)["content"]
    parts = [signed[k] for k in _SIGNED_DATA_PARTS]
    parts += [info[k] for info in signed["signer_infos"] for k in _SIGNER_INFO_PARTS]
    return all(_reencodes(part) for part in parts)


def _reencodes(part) -> bool:
    original = part.dump()
    return part.dump(force=True) == original


def _attributes(signer_info: cms.SignerInfo) -> dict[str, object]:
    if signer_info["signed_attrs"].native is None:
        raise ValueError("no signed attributes")
    return {a["type"].native: a["values"][0] for a in signer_info["signed_attrs"]}


def _find_signer(signer_info: cms.SignerInfo, certs: list[x509.Certificate]) -> x509.Certificate:
    sid = signer_info["sid"]
    for cert in certs:
        if sid.name == "issuer_and_serial_number":
            asn1_cert = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
            if (asn1_cert.issuer == sid.chosen["issuer"]
                    and asn1_cert.serial_number == sid.chosen["serial_number"].native):
                return cert
        else:
            ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
            if ski == sid.chosen.native:
                return cert
    raise ValueError("signer certificate is not embedded")


def _verify_cms(data: bytes, signature: bytes) -> tuple[x509.Certificate, list[x509.Certificate]]:
    signer_info, certs = _parse(signature)
    signed = cms.ContentInfo.load(signature)["content"]
    signer_cert = _find_signer(signer_info, certs)
    attrs = _attributes(signer_info)
    if "signing_time" not in attrs:
        raise ValueError("no signingTime attribute")
    if attrs.get("content_type") is None or attrs["content_type"].native != "data":
        raise ValueError("contentType attribute is not id-data")
    digest_name = signer_info["digest_algorithm"]["algorithm"].native
    if digest_name not in [a["algorithm"].native for a in signed["digest_algorithms"]]:
        raise ValueError(f"SignedData digestAlgorithms does not list {digest_name}")
    if digest_name not in ("sha256", "sha384", "sha512", "sm3"):
        raise ValueError(f"digest algorithm {digest_name} not accepted")
    if attrs["message_digest"].native != _digest(digest_name, data):
        raise ValueError(f"{SIGNED_FILE} does not match the signed {digest_name} messageDigest")
    _check_signature(signer_cert, signer_info, digest_name)
    _check_embedded_chain(signer_cert, certs)
    stamp = check_signature_timestamp(signature, [])
    if stamp is not None and not stamp.intact:
        raise ValueError(f"signature timestamp token does not verify ({stamp.detail})")
    return signer_cert, certs


def _check_embedded_chain(signer_cert: x509.Certificate, certs: list[x509.Certificate]) -> None:
    """The embedded certificates must form one intact chain from the signer to a self-signed root.

    Certificates are outside the signed attributes, so this is what makes a changed byte
    in them detectable without a trust list.
    """
    chain, current = [signer_cert], signer_cert
    while (issuer := _issuer_of(current, certs)) is not None and issuer not in chain:
        chain.append(issuer)
        current = issuer
    unused = [c.subject.rfc4514_string() for c in certs if c not in chain]
    if unused:
        raise ValueError(f"embedded certificate {unused[0]} is not an intact link of the signer's chain")
    if current.issuer != current.subject or _issuer_of(current, [current]) is None:
        raise ValueError(f"embedded chain ends at {current.subject.rfc4514_string()}, "
                         "not at an intact self-signed root")


_HASHES = {"sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}


def _check_signature(cert: x509.Certificate, signer_info: cms.SignerInfo, digest_name: str) -> None:
    """Raise InvalidSignature unless the signer's key signed the DER signed attributes."""
    message = _signed_attrs_der(signer_info["signed_attrs"])
    signature = signer_info["signature"].native
    algorithm = signer_info["signature_algorithm"]
    if algorithm["algorithm"].dotted == SM2_WITH_SM3:
        _check_sm2(cert, message, signature, digest_name)
        return
    kind = algorithm.signature_algo
    public_key = cert.public_key()
    if kind == "ed25519" and isinstance(public_key, ed25519.Ed25519PublicKey):
        public_key.verify(signature, message)
    elif kind == "ecdsa" and isinstance(public_key, ec.EllipticCurvePublicKey):
        public_key.verify(signature, message, ec.ECDSA(_HASHES[digest_name]()))
    elif kind == "rsassa_pkcs1v15" and isinstance(public_key, rsa.RSAPublicKey):
        public_key.verify(signature, message, padding.PKCS1v15(), _HASHES[digest_name]())
    elif kind == "rsassa_pss" and isinstance(public_key, rsa.RSAPublicKey):
        params = algorithm["parameters"]
        pss_hash = _HASHES[params["hash_algorithm"]["algorithm"].native]()
        mgf_hash = _HASHES[params["mask_gen_algorithm"]["parameters"]["algorithm"].native]()
        pss = padding.PSS(mgf=padding.MGF1(mgf_hash), salt_length=params["salt_length"].native)
        public_key.verify(signature, message, pss, pss_hash)
    else:
        raise ValueError(f"signature algorithm {kind} does not match the certificate's key")


SM2_WITH_SM3 = "1.2.156.10197.1.501"


def _check_sm2(cert: x509.Certificate, message: bytes, signature: bytes, digest_name: str) -> None:
    from archive import sm2

    asn1_cert = _asn1(cert)
    if digest_name != "sm3" or not sm2.is_sm2(asn1_cert):
        raise ValueError("SM2-with-SM3 signature needs an SM3 digest and an SM2 certificate")
    if not sm2.verify(sm2.public_point(asn1_cert), message, signature):
        raise InvalidSignature("SM2 signature does not verify")


def _directly_issued(cert: x509.Certificate, candidate: x509.Certificate) -> bool:
    if cert.signature_algorithm_oid.dotted_string == SM2_WITH_SM3:
        from archive import sm2

        return sm2.issued_by(_asn1(cert), _asn1(candidate))
    try:
        cert.verify_directly_issued_by(candidate)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def is_trusted(cert: x509.Certificate, pool: list[x509.Certificate], trusted: list[x509.Certificate]) -> bool:
    """True if ``cert`` is a trusted certificate or chains to one through ``pool`` (signatures checked)."""
    current, seen = cert, 0
    while seen <= len(pool):
        if any(current == anchor for anchor in trusted):
            return True
        issuer = _issuer_of(current, pool + trusted)
        if issuer is None or issuer == current:
            return False
        current, seen = issuer, seen + 1
    return False


def _issuer_of(cert: x509.Certificate, candidates: list[x509.Certificate]) -> x509.Certificate | None:
    for candidate in candidates:
        if candidate.subject == cert.issuer and _directly_issued(cert, candidate):
            return candidate
    return None
