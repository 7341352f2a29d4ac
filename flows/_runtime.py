"""Open the archive's backends from settings, once per flow run, at the edge."""

from __future__ import annotations

import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlmodel import select

from archive.catalog import session
from archive.catalog.models import Certificate
from archive.catalog.record import record_certificate
from archive.signing import FileSigner, Signer
from archive.storage import Store
from archive.storage import open_store as _open_store
from config import Settings


def open_store(settings: Settings) -> Store:
    return _open_store(settings.storage_root, settings.replica_root)


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
