"""SM2/SM3 signatures (GB/T 32918, GB/T 32905; CMS per GB/T 35275) through GmSSL.

``signature_algorithm = "sm2"`` makes the development PKI and the AIP signatures SM2 with SM3:
signatures come from GmSSL (the ``gmssl-pyx`` wheel, GmSSL 3 statically linked), with the
default signer ID ``1234567812345678``. ``cryptography`` has no SM2 curve, so certificates and
SignedData are assembled with asn1crypto (``archive.signing.assemble_cms``) and verified with
GmSSL here; the tests check them again with the pure-Python ``gmssl`` package, an implementation
this module does not use.

Keys are SEC1 ``EC PRIVATE KEY`` PEM files on the SM2 curve (OID 1.2.156.10197.1.301), mode 0600.
Debian's OpenSSL 3.0 can print these certificates and signatures but cannot verify SM2 CMS
(it signs SM2 without the Z value prefix: "openssl cms -verify" fails), hence the second
implementation as the third-party check.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from pathlib import Path

from asn1crypto import algos, core, keys, pem
from asn1crypto import x509 as asn1_x509
from cryptography import x509

from archive.pki import END_ENTITY_YEARS, ROOT_YEARS, FileSet, PkiPaths
from archive.signing import Signer, assemble_cms, check_key_file
from schemas.errors import ConfigurationError

SM2_CURVE = "1.2.156.10197.1.301"
SM2_WITH_SM3 = "1.2.156.10197.1.501"
SM3 = "1.2.156.10197.1.401"


def _register(cls, oid: str, name: str) -> None:
    cls._map[oid] = name
    if getattr(cls, "_reverse_map", None) is not None:
        cls._reverse_map[name] = oid


_register(algos.DigestAlgorithmId, SM3, "sm3")
_register(algos.SignedDigestAlgorithmId, SM2_WITH_SM3, "sm2_sm3")
keys.NamedCurve.register("sm2p256v1", SM2_CURVE, 32)


def _gmssl():
    try:
        import gmssl_pyx
    except ImportError as exc:  # the wheel is a dependency; a broken install says so
        raise ConfigurationError("E461", "signature_algorithm", reason=f"gmssl-pyx is not installed ({exc})") from exc
    return gmssl_pyx


class Sm2Key:
    """An SM2 key pair: 32-byte private scalar, 64-byte public point (x || y)."""

    def __init__(self, private: bytes, public: bytes) -> None:
        self.private, self.public = private, public

    @classmethod
    def generate(cls) -> Sm2Key:
        public, private = _gmssl().sm2_key_generate()
        return cls(private, public)

    @classmethod
    def load(cls, path: Path) -> Sm2Key:
        check_key_file(path)
        _, _, der = pem.unarmor(path.read_bytes())
        key = keys.ECPrivateKey.load(der)
        return cls(key["private_key"].contents.rjust(32, b"\0"), bytes(key["public_key"])[1:])

    def pem(self) -> bytes:
        key = keys.ECPrivateKey({"version": "ecPrivkeyVer1", "private_key": int.from_bytes(self.private, "big"),
                                 "parameters": keys.ECDomainParameters(name="named", value="sm2p256v1"),
                                 "public_key": b"\x04" + self.public})
        return pem.armor("EC PRIVATE KEY", key.dump())

    def sign(self, message: bytes) -> bytes:
        """DER SM2 signature over SM3(Z || message), Z with the default signer ID."""
        return _gmssl().sm2_sign(self.private, self.public, message)

    def spki(self) -> keys.PublicKeyInfo:
        return keys.PublicKeyInfo({"algorithm": {"algorithm": "ec", "parameters": keys.ECDomainParameters(
            name="named", value="sm2p256v1")}, "public_key": b"\x04" + self.public})


def public_point(cert: asn1_x509.Certificate) -> bytes:
    return bytes(cert.public_key["public_key"])[1:]


def is_sm2(cert: asn1_x509.Certificate) -> bool:
    return cert["tbs_certificate"]["subject_public_key_info"]["algorithm"]["parameters"].chosen.dotted == SM2_CURVE


def verify(public: bytes, message: bytes, signature: bytes) -> bool:
    return bool(_gmssl().sm2_verify(public, message, signature))


def issued_by(cert: asn1_x509.Certificate, issuer: asn1_x509.Certificate) -> bool:
    """``cert``'s SM2 signature verifies with ``issuer``'s key (and the names match)."""
    if cert.issuer != issuer.subject or cert["signature_algorithm"]["algorithm"].dotted != SM2_WITH_SM3:
        return False
    return verify(public_point(issuer), cert["tbs_certificate"].dump(), cert["signature_value"].native)


def issue(key: Sm2Key, common_name: str, issuer_key: Sm2Key, issuer: asn1_x509.Certificate | None, *, ca: bool,
          years: int = END_ENTITY_YEARS) -> asn1_x509.Certificate:
    """An SM2 certificate (CA: keyCertSign/cRLSign, path length 0; else CA:FALSE, digitalSignature+nonRepudiation)."""
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    subject = asn1_x509.Name.build({"common_name": common_name})
    ski = hashlib.sha1(b"\x04" + key.public).digest()
    aki = hashlib.sha1(b"\x04" + issuer_key.public).digest()
    usage = {"key_cert_sign", "crl_sign"} if ca else {"digital_signature", "non_repudiation"}
    tbs = asn1_x509.TbsCertificate({
        "version": "v3", "serial_number": int.from_bytes(os.urandom(16), "big") >> 1,
        "signature": {"algorithm": "sm2_sm3"},
        "issuer": issuer.subject if issuer is not None else subject,
        "validity": {"not_before": asn1_x509.Time({"utc_time": now - dt.timedelta(minutes=5)}),
                     "not_after": asn1_x509.Time({"general_time": now + dt.timedelta(days=365 * years)})},
        "subject": subject, "subject_public_key_info": key.spki(),
        "extensions": [
            {"extn_id": "basic_constraints", "critical": True,
             "extn_value": {"ca": ca, "path_len_constraint": 0 if ca else None}},
            {"extn_id": "key_usage", "critical": True, "extn_value": usage},
            {"extn_id": "key_identifier", "critical": False, "extn_value": ski},
            {"extn_id": "authority_key_identifier", "critical": False, "extn_value": {"key_identifier": aki}},
        ],
    })
    return asn1_x509.Certificate({"tbs_certificate": tbs, "signature_algorithm": {"algorithm": "sm2_sm3"},
                                  "signature_value": issuer_key.sign(tbs.dump())})


def _pem(cert: asn1_x509.Certificate) -> bytes:
    return pem.armor("CERTIFICATE", cert.dump())


def load_certificate(path: Path) -> asn1_x509.Certificate:
    _, _, der = pem.unarmor(path.read_bytes())
    return asn1_x509.Certificate.load(der)


def ensure_dev_pki(paths: PkiPaths, *, court: str = "Juanzong development") -> PkiPaths:
    """The root and AIP-signing pair of ``archive.pki`` as SM2 keys with SM2/SM3 certificates. No
    seal pair and no CRL: PAdES validators (pyHanko, poppler) cannot check SM2, so reading copies
    keep an ECDSA seal configured by path (``JUANZONG_DISSEMINATION_KEY``/``_CERT``)."""
    if not paths.root_cert.exists():
        root_key = Sm2Key.generate()
        FileSet().public(paths.root_cert, _pem(issue(root_key, f"{court} archive root CA (SM2)", root_key, None,
                                                     ca=True, years=ROOT_YEARS))) \
            .private(paths.root_key, root_key.pem()).write()
    root_key, root = Sm2Key.load(paths.root_key), load_certificate(paths.root_cert)
    if not paths.signing_key.exists():
        key = Sm2Key.generate()
        FileSet().public(paths.signing_cert, _pem(issue(key, f"{court} archive AIP signing (SM2)", root_key, root,
                                                        ca=False))) \
            .private(paths.signing_key, key.pem()).write()
    return paths


def rotate_signing_certificate(paths: PkiPaths) -> asn1_x509.Certificate:
    """``archive.pki.rotate_signing_certificate`` for SM2: the old pair kept beside the new one with
    its serial number in the name; the new key's certificate issued by the same SM2 root."""
    old = load_certificate(paths.signing_cert)
    suffix = f".{old.serial_number:x}"
    root_key, root = Sm2Key.load(paths.root_key), load_certificate(paths.root_cert)
    os.replace(paths.signing_key, paths.signing_key.with_name(paths.signing_key.name + suffix))
    os.replace(paths.signing_cert, paths.signing_cert.with_name(paths.signing_cert.name + suffix))
    key = Sm2Key.generate()
    cert = issue(key, old.subject.native["common_name"], root_key, root, ca=False)
    FileSet().public(paths.signing_cert, _pem(cert)).private(paths.signing_key, key.pem()).write()
    return cert


class Sm2FileSigner(Signer):
    """AIP signatures with an SM2 key file: SignedData with SM3 digests and SM2-with-SM3 signatures."""

    def __init__(self, key_path: Path, cert_path: Path, chain_path: Path | None = None) -> None:
        self._key = Sm2Key.load(key_path)
        self._cert = load_certificate(cert_path)
        self._chain = [load_certificate(chain_path)] if chain_path else []

    def sign_detached(self, data: bytes) -> bytes:
        return assemble_cms(data, self._cert, self._chain, digest_name="sm3", signature_algorithm="sm2_sm3",
                            sign_raw=self._key.sign)

    def certificate(self) -> x509.Certificate:
        return x509.load_der_x509_certificate(self._cert.dump())

    def chain(self) -> list[x509.Certificate]:
        return [x509.load_der_x509_certificate(c.dump()) for c in self._chain]


