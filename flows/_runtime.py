"""Open the archive's backends from settings, once per flow run, at the edge."""

from __future__ import annotations

import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlmodel import select

from archive.catalog import session
from archive.catalog.models import Certificate
from archive.catalog.record import record_certificate
from archive.locks import Locks, PostgresLocks, is_postgres, open_locks
from archive.signing import FileSigner, Signer
from archive.storage import OcflStore, Store
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


def open_signer(settings: Settings) -> Signer:
    """The archive's signer; its certificate is recorded in the catalog so that old AIPs
    keep verifying after a key rotation."""
    signer = FileSigner(settings.signing_key, settings.signing_cert, settings.signing_chain)
    cert = signer.certificate()
    with session(settings.catalog_url) as s:
        record_certificate(s, fingerprint(cert), "aip-signing", cert.subject.rfc4514_string(),
                           cert.public_bytes(serialization.Encoding.PEM).decode(),
                           cert.not_valid_before_utc, cert.not_valid_after_utc)
        s.commit()
    return signer


def fingerprint(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def trusted_certificates(settings: Settings) -> list[x509.Certificate]:
    """Every signing certificate the archive ever used (the catalog keeps them all)."""
    with session(settings.catalog_url) as s:
        rows = s.exec(select(Certificate).where(Certificate.purpose == "aip-signing")).all()
        return [x509.load_pem_x509_certificate(r.pem.encode()) for r in rows]
