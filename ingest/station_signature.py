"""Stage ``check_source``: is the manifest signed by the station it names (来源真实性)?

A station registered with a certificate (``juanzong stations add NAME --cert FILE``) signs its
``manifest.json`` with a detached CMS, ``manifest.json.p7s`` beside it (``juanzong station
sign``: what the scanning software calls). The manifest lists every file's SHA-256, so its
signature vouches for the whole batch from the scanner on. Ingest then refuses

    E180  no signature from a station registered with a certificate
    E181  a signature that does not verify over these manifest bytes
    E182  a signature that verifies but was made with another key (another station's)

A station with no registered certificate is taken as before (through the CLI only: the station
API admits only registered stations), and its submission is marked "source not authenticated".
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pydantic import BaseModel, ConfigDict

from archive.signing import FileSigner, is_trusted, signature_info, verify_detached
from ingest.manifest import MANIFEST_NAME, MANIFEST_SIGNATURE_NAME
from schemas.errors import InputRejected, Problem

NOT_AUTHENTICATED = "source not authenticated"


class SourceCheck(BaseModel):
    """Who vouches for a batch: the station's verified signer, or nobody."""

    model_config = ConfigDict(frozen=True)

    station_id: str
    authenticated: bool
    signer: str = ""  # the signing certificate's subject
    problems: tuple[Problem, ...] = ()

    def describe(self) -> str:
        if not self.authenticated:
            return f"{NOT_AUTHENTICATED}: station {self.station_id} has no registered certificate"
        return f"manifest signed by station {self.station_id} ({self.signer})"


def check_source(batch_dir: Path, station_id: str, registered: list[x509.Certificate]) -> SourceCheck:
    """Check ``manifest.json.p7s`` against the station's ``registered`` certificates."""
    signature = batch_dir / MANIFEST_SIGNATURE_NAME
    if not registered:
        return SourceCheck(station_id=station_id, authenticated=False)
    if not signature.is_file():
        return _refused(station_id, Problem.of("E180", MANIFEST_SIGNATURE_NAME, station=station_id))
    data, signed = (batch_dir / MANIFEST_NAME).read_bytes(), signature.read_bytes()
    broken = verify_detached(data, signed, MANIFEST_SIGNATURE_NAME)
    if broken:
        reason = broken[0].message.split("(", 1)[-1].rstrip(")")
        return _refused(station_id, Problem.of("E181", MANIFEST_SIGNATURE_NAME, station=station_id, reason=reason))
    signer, _ = signature_info(signed)
    if not is_trusted(signer, [], registered):
        return _refused(station_id, Problem.of("E182", MANIFEST_SIGNATURE_NAME, station=station_id,
                                               found=signer.subject.rfc4514_string()))
    return SourceCheck(station_id=station_id, authenticated=True, signer=signer.subject.rfc4514_string())


def _refused(station_id: str, problem: Problem) -> SourceCheck:
    return SourceCheck(station_id=station_id, authenticated=False, problems=(problem,))


def load_station_certificate(path: Path) -> x509.Certificate:
    """A station certificate from a PEM file (E184 when it is not one)."""
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise InputRejected("E184", str(path), reason=str(exc) or type(exc).__name__) from exc


def sign_manifest(batch_dir: Path, key: Path, cert: Path, chain: Path | None = None) -> Path:
    """The station side: write ``manifest.json.p7s`` over the batch's manifest.json bytes."""
    manifest = batch_dir / MANIFEST_NAME
    if not manifest.is_file():
        raise InputRejected("E100", str(batch_dir))
    target = batch_dir / MANIFEST_SIGNATURE_NAME
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_bytes(FileSigner(key, cert, chain).sign_detached(manifest.read_bytes()))
    tmp.replace(target)
    return target


def pem_of(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()
