"""Open the archive's backends from settings, once per flow run, at the edge; and tell this
process where the preservation log and registry journal of the settings' catalog live
(``bind_journals``)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlmodel import select

from archive.auditlog import configure_log, version_event
from archive.catalog import session
from archive.catalog.registry import configure_registry
from archive.catalog.models import Certificate
from archive.catalog.record import record_certificate
from archive.locks import Locks, PostgresLocks, is_postgres, open_locks
from archive.pki import PkiPaths
from archive.records import ocfl_id_for
from archive.signing import FileSigner, Signer, TimestampingSigner
from archive.storage import OcflStore, Store
from archive.trusted_time import TimestampAuthority, warn_no_tsa
from archive.verify import ocfl_of
from archive.storage import open_store as _open_store
from archive.storage.identity import bind_storage_root
from config import Settings


def store_locks(settings: Settings) -> PostgresLocks | None:
    """Object locks for the store: advisory locks with a PostgreSQL catalog (writers on many
    machines); None keeps the embedded default's lock files inside the storage root."""
    if is_postgres(settings.catalog_url):
        return open_locks(settings.catalog_url)  # type: ignore[return-value]
    return None


def claim_locks(settings: Settings) -> Locks:
    """Locks of admitted batches (``ingest.intake.run_submission``), shared by every process of
    the catalog: API processes, hot-folder takers and CLI commands, on any machine with PostgreSQL."""
    return open_locks(settings.catalog_url)


def bind_roots(settings: Settings) -> None:
    """Refuse a storage root the catalog does not describe; create both on first use."""
    bind_storage_root(settings.catalog_url, settings.storage_root, "primary")
    if settings.replica_root:
        bind_storage_root(settings.catalog_url, settings.replica_root, "replica")


def open_store(settings: Settings) -> Store:
    bind_roots(settings)
    return _open_store(settings.storage_root, settings.replica_root, locks=store_locks(settings))


def open_ocfl_roots(settings: Settings) -> tuple[OcflStore, OcflStore | None]:
    """The primary and replica roots as OCFL stores (audits read and repair them directly)."""
    bind_roots(settings)
    locks = store_locks(settings)
    replica = OcflStore(settings.replica_root, locks=locks) if settings.replica_root else None
    return OcflStore(settings.storage_root, locks=locks), replica


def pki_paths(settings: Settings) -> PkiPaths:
    """Where the archive's PKI files are (``archive.pki``)."""
    return PkiPaths(root_cert=settings.root_cert, root_key=settings.root_key, crl=settings.crl,  # type: ignore[arg-type]
                    signing_key=settings.signing_key, signing_cert=settings.signing_cert,  # type: ignore[arg-type]
                    seal_key=settings.dissemination_key, seal_cert=settings.dissemination_cert)  # type: ignore[arg-type]


def chain_path(settings: Settings, configured: Path | None, leaf: Path) -> Path | None:
    """The issuer certificates to embed: the configured file, else the archive root when it issued ``leaf``."""
    if configured is not None:
        return configured
    root = settings.root_cert
    if root is None or not root.is_file() or not leaf.is_file():
        return None
    issuer = x509.load_pem_x509_certificate(leaf.read_bytes()).issuer
    return root if x509.load_pem_x509_certificate(root.read_bytes()).subject == issuer and issuer != \
        x509.load_pem_x509_certificate(leaf.read_bytes()).subject else None


def tsa_of(settings: Settings) -> TimestampAuthority | None:
    """The configured TSA, or None (said once per process: signatures then carry no trusted time)."""
    if settings.tsa_url:
        return TimestampAuthority(settings.tsa_url)
    warn_no_tsa()
    return None


def tsa_roots(settings: Settings) -> list[x509.Certificate]:
    """The TSA roots timestamps are trusted under (``JUANZONG_TSA_ROOT_CERT``)."""
    path = settings.tsa_root_cert
    return x509.load_pem_x509_certificates(path.read_bytes()) if path is not None and path.is_file() else []


def base_signer(settings: Settings) -> Signer:
    """The AIP-signing key as configured: a key file (ECDSA/Ed25519, or SM2) or a PKCS #11 token."""
    chain = chain_path(settings, settings.signing_chain, settings.signing_cert)  # type: ignore[arg-type]
    if settings.signer_backend == "pkcs11":
        from archive.pkcs11_signer import open_pkcs11_signer

        return open_pkcs11_signer(settings, chain)
    if settings.signature_algorithm == "sm2":
        from archive.sm2 import Sm2FileSigner

        return Sm2FileSigner(settings.signing_key, settings.signing_cert, chain)  # type: ignore[arg-type]
    return FileSigner(settings.signing_key, settings.signing_cert, chain)  # type: ignore[arg-type]


def open_signer(settings: Settings) -> Signer:
    """The archive's signer, timestamping each signature when a TSA is configured; its
    certificate is recorded in the catalog so that old AIPs keep verifying after a key rotation."""
    signer = base_signer(settings)
    cert = signer.certificate()
    with session(settings.catalog_url) as s:
        record_certificate(s, fingerprint(cert), "aip-signing", cert.subject.rfc4514_string(),
                           cert.public_bytes(serialization.Encoding.PEM).decode(),
                           cert.not_valid_before_utc, cert.not_valid_after_utc)
        s.commit()
    tsa = tsa_of(settings)
    return TimestampingSigner(signer, tsa) if tsa is not None else signer


def fingerprint(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def trusted_certificates(settings: Settings) -> list[x509.Certificate]:
    """The archive root and every signing certificate the archive ever used (the catalog keeps them all).
    A catalog that holds none (new, or lost and not yet rebuilt) trusts the configured certificate, so a
    good AIP is not reported as badly signed: the audit's finding is then E410, uncatalogued."""
    with session(settings.catalog_url) as s:
        rows = s.exec(select(Certificate).where(Certificate.purpose == "aip-signing")).all()
        trusted = [x509.load_pem_x509_certificate(r.pem.encode()) for r in rows]
    if not trusted and settings.signing_cert is not None and settings.signing_cert.is_file():
        trusted = [x509.load_pem_x509_certificate(settings.signing_cert.read_bytes())]
    return root_certificates(settings) + trusted


def root_certificates(settings: Settings) -> list[x509.Certificate]:
    root = settings.root_cert
    return x509.load_pem_x509_certificates(root.read_bytes()) if root is not None and root.is_file() else []


def bind_journals(settings: Settings) -> None:
    """Every door's first step (CLI, API, each flow): events this process records in the
    settings' catalog go to the settings' preservation log, registry rows to its registry journal.
    A flow run by a Prefect worker never passed through the CLI or the API; without this its
    events were lost on a PostgreSQL catalog."""
    configure_log(settings.catalog_url, settings.log_dir)
    configure_registry(settings.catalog_url, settings.registry_journal)


def logged_version(settings: Settings, aip_id: str, version: int) -> dict:
    """The log fields proving ``version`` of the AIP: its inventory's SHA-512 as stored now."""
    ocfl_id = ocfl_id_for(aip_id)
    digest = ocfl_of(open_store(settings)).inventory_sha512(ocfl_id, version) or ""
    return version_event(ocfl_id, version, digest)
