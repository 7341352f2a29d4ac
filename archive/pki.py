"""The archive's PKI: a root CA, the certificates it issues, and its CRL.

Development (``juanzong keys init``, ``ensure_dev_pki``) makes, under ``home``::

    keys/root-ca.pem               the root certificate, the one thing a reader trusts (published)
    keys/root-ca.crl.pem           the root's CRL (revocation data for the DSS and validators)
    keys/archive-signing.{key,pem} the AIP-signing key and certificate (CA:FALSE), issued by the root
    keys/dissemination.{key,pem}   the reading copies' seal (CA:FALSE), issued by the root
    root-ca/root-ca.key            the root's key, kept apart from the working keys (0700 folder)

so a reader who trusts only ``root-ca.pem`` can verify an AIP version and a reading copy. In
production the court's own CA issues the two end-entity certificates (the files are pointed
at by settings) and its key never comes near the archive; keys may live on a PKCS #11 token
(``archive.signing.Pkcs11Signer``). Rotation (``rotate_signing_certificate``) issues a new
AIP-signing key from the same root: old versions keep verifying because they chain to it,
and the catalog keeps every certificate ever used.

ECDSA P-256 (default), Ed25519, and SM2 (``archive.sm2``: ``cryptography`` has no SM2 curve,
so SM2 certificates are assembled with asn1crypto and signed through GmSSL).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from schemas.errors import ConfigurationError

ALGORITHMS = ("ecdsa-p256", "ed25519", "sm2")
ROOT_YEARS = 70  # the root outlives every record it vouches for (a 永久 record is kept forever; renewal covers it)
END_ENTITY_YEARS = 10
CRL_DAYS = 365

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class PkiPaths:
    """Where the development PKI lives (derived from settings)."""

    root_cert: Path
    root_key: Path
    crl: Path
    signing_key: Path
    signing_cert: Path
    seal_key: Path
    seal_cert: Path


def new_private_key(algorithm: str) -> ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey:
    if algorithm == "ecdsa-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ConfigurationError("E900", "signature_algorithm", reason=f"{algorithm!r} is not one of {ALGORITHMS}")


def hash_for(key: PrivateKey) -> hashes.HashAlgorithm | None:
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


def name_of(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def issue_certificate(public_key, common_name: str, issuer_key: PrivateKey, issuer: x509.Certificate | None, *,
                      ca: bool, years: int = END_ENTITY_YEARS,
                      extended_usage: list[x509.ObjectIdentifier] | None = None) -> x509.Certificate:
    """A certificate for ``public_key``: a CA (keyCertSign, cRLSign, path length 0) or an end
    entity (CA:FALSE, digitalSignature + nonRepudiation); self-signed when ``issuer`` is None."""
    now = dt.datetime.now(dt.timezone.utc)
    subject = name_of(common_name)
    usage = x509.KeyUsage(digital_signature=not ca, content_commitment=not ca, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                          encipher_only=False, decipher_only=False)
    issuer_public = issuer.public_key() if issuer is not None else public_key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer is not None else subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365 * years))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public), critical=False)
    )
    if extended_usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage(extended_usage), critical=False)
    return builder.sign(issuer_key, hash_for(issuer_key))  # type: ignore[arg-type]


def self_signed_certificate(key: PrivateKey, common_name: str) -> x509.Certificate:
    """A self-signed certificate that is its own trust anchor (CA:TRUE, so `openssl -CAfile` accepts it)."""
    return issue_certificate(key.public_key(), common_name, key, None, ca=True)


def make_crl(root_key: PrivateKey, root: x509.Certificate, revoked: list[int] | None = None) -> x509.CertificateRevocationList:
    """The root's CRL listing ``revoked`` serial numbers (empty in a fresh PKI)."""
    now = dt.datetime.now(dt.timezone.utc)
    builder = (x509.CertificateRevocationListBuilder().issuer_name(root.subject)
               .last_update(now - dt.timedelta(minutes=5)).next_update(now + dt.timedelta(days=CRL_DAYS))
               .add_extension(x509.CRLNumber(int(now.timestamp())), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root.public_key()),
                              critical=False))
    for serial in revoked or []:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now).build())
    return builder.sign(root_key, hash_for(root_key))  # type: ignore[arg-type]


def private_pem(key: PrivateKey) -> bytes:
    """The key as unencrypted PKCS #8 PEM (written 0600 in a 0700 folder by ``FileSet``)."""
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


class FileSet:
    """Keys and certificates that exist together or not at all. Each file is written whole to a
    hidden temporary sibling, then all take their names; any failure (a full disk) removes every
    one, so a key is never left without its certificate and a retry starts clean."""

    def __init__(self) -> None:
        self._files: list[tuple[Path, bytes, int]] = []

    def private(self, path: Path, data: bytes) -> FileSet:
        self._files.append((path, data, 0o600))
        return self

    def public(self, path: Path, data: bytes) -> FileSet:
        self._files.append((path, data, 0o644))
        return self

    def write(self) -> None:
        temps: list[Path] = []
        placed: list[Path] = []
        try:
            for path, data, mode in self._files:
                temps.append(_write_temporary(path, data, mode))
            for (path, _, _), tmp in zip(self._files, temps):
                os.replace(tmp, path)
                placed.append(path)
        except BaseException:
            for leftover in temps + placed:
                leftover.unlink(missing_ok=True)
            raise


def _write_temporary(path: Path, data: bytes, mode: int) -> Path:
    if mode & 0o077:
        path.parent.mkdir(parents=True, exist_ok=True)
    else:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def write_public(path: Path, data: bytes) -> None:
    """Write a certificate or CRL by a temporary name (readers never see half a file)."""
    FileSet().public(path, data).write()


def pem(obj: x509.Certificate | x509.CertificateRevocationList) -> bytes:
    return obj.public_bytes(serialization.Encoding.PEM)


def load_root(paths: PkiPaths) -> tuple[PrivateKey, x509.Certificate]:
    if not paths.root_key.is_file():
        raise ConfigurationError("E408", str(paths.root_key))
    key = serialization.load_pem_private_key(paths.root_key.read_bytes(), password=None)
    return key, x509.load_pem_x509_certificate(paths.root_cert.read_bytes())  # type: ignore[return-value]


def ensure_dev_pki(paths: PkiPaths, *, algorithm: str = "ecdsa-p256", court: str = "Juanzong development") -> PkiPaths:
    """Make whatever part of the development PKI is missing; an existing file is kept as it is.
    Under the keys folder's lock (as ``signing.ensure_dev_keys``): several ``keys init`` at once
    make one PKI."""
    paths.signing_key.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with (paths.signing_key.parent / ".keys.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _ensure_dev_pki(paths, algorithm, court)


def _ensure_dev_pki(paths: PkiPaths, algorithm: str, court: str) -> PkiPaths:
    if algorithm == "sm2":
        from archive import sm2

        return sm2.ensure_dev_pki(paths, court=court)
    if not paths.root_cert.exists():
        root_key = new_private_key(algorithm)
        root = issue_certificate(root_key.public_key(), f"{court} archive root CA", root_key, None, ca=True,
                                 years=ROOT_YEARS)
        FileSet().public(paths.root_cert, pem(root)).public(paths.crl, pem(make_crl(root_key, root))) \
            .private(paths.root_key, private_pem(root_key)).write()
    for key_path, cert_path, name in ((paths.signing_key, paths.signing_cert, f"{court} archive AIP signing"),
                                      (paths.seal_key, paths.seal_cert, f"{court} dissemination seal")):
        if not key_path.exists():
            issue_end_entity(paths, key_path, cert_path, name, algorithm)
    if not paths.crl.exists():
        write_public(paths.crl, pem(make_crl(*load_root(paths))))
    return paths


def issue_end_entity(paths: PkiPaths, key_path: Path, cert_path: Path, common_name: str,
                     algorithm: str) -> x509.Certificate:
    """A new key at ``key_path`` and its certificate, issued by the root, at ``cert_path``."""
    root_key, root = load_root(paths)
    key = new_private_key(algorithm)
    cert = issue_certificate(key.public_key(), common_name, root_key, root, ca=False)
    FileSet().public(cert_path, pem(cert)).private(key_path, private_pem(key)).write()
    return cert


def rotate_signing_certificate(paths: PkiPaths, algorithm: str) -> x509.Certificate:
    """A fresh AIP-signing key and certificate from the same root; the old pair is kept beside
    them with its serial number in the name (versions it signed keep chaining to the root).
    Nothing is moved unless the root's key and both certificates are there (E408 names the missing one)."""
    for needed in (paths.root_key, paths.root_cert, paths.signing_key, paths.signing_cert):
        if not needed.is_file():
            raise ConfigurationError("E408", str(needed))
    if algorithm == "sm2":
        from archive import sm2

        return x509.load_der_x509_certificate(sm2.rotate_signing_certificate(paths).dump())
    old = x509.load_pem_x509_certificate(paths.signing_cert.read_bytes())
    suffix = f".{old.serial_number:x}"
    os.replace(paths.signing_key, paths.signing_key.with_name(paths.signing_key.name + suffix))
    os.replace(paths.signing_cert, paths.signing_cert.with_name(paths.signing_cert.name + suffix))
    name = old.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    return issue_end_entity(paths, paths.signing_key, paths.signing_cert, str(name), algorithm)
