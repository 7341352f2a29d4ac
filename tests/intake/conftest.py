"""Fixtures for the submission paths: an archive home, small batches, and a test ingest backend.

``ManifestIngest`` stands in for the ingest flow where these tests exercise the intake
mechanics (streaming, zip safety, hot folder, quarantine): it reads the batch the way the
flow would be handed it, records the bytes it saw, and rejects a batch whose manifest is
unreadable or whose listed files are missing or differ, with the registry's codes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from pathlib import Path

import pytest
from pydantic import BaseModel

from config.settings import Settings
from schemas.errors import Problem


class FakeOutcome(BaseModel):
    batch_id: str
    status: str
    aips: list[dict] = []
    problems: list[dict] = []


class ManifestIngest:
    """The test backend for ``submit``: checks manifest sizes and SHA-256 only."""

    def __init__(self) -> None:
        self.seen: dict[str, dict[str, str]] = {}
        self.lock = threading.Lock()

    def __call__(self, batch_dir: Path) -> FakeOutcome:
        digests = {p.relative_to(batch_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                   for p in batch_dir.rglob("*") if p.is_file()}
        with self.lock:
            self.seen[batch_dir.name] = digests
        try:
            manifest = json.loads((batch_dir / "manifest.json").read_bytes())
        except (OSError, ValueError) as exc:
            return FakeOutcome(batch_id=batch_dir.name, status="rejected",
                               problems=[Problem.of("E101", "manifest.json", reason=str(exc)).public()])
        problems = []
        for f in manifest["files"]:
            if f["path"] not in digests:
                problems.append(Problem.of("E110", f["path"]).public())
            elif digests[f["path"]] != f["sha256"]:
                problems.append(Problem.of("E113", f["path"], expected=f["sha256"],
                                           found=digests[f["path"]]).public())
        status = "rejected" if problems else "archived"
        return FakeOutcome(batch_id=manifest["batch_id"], status=status, problems=problems,
                           aips=[] if problems else [{"aip_id": "test", "version": 1}])


def make_batch(root: Path, batch_id: str, sizes: dict[str, int], *, seed: int = 0,
               station_id: str | None = None) -> Path:
    """A batch folder with random files and a manifest listing their sizes and SHA-256. The
    station is the batch id's prefix when it follows the stations' ``<station>-<date>-<seq>``
    naming (the API refuses a manifest naming another station than the key's)."""
    named = re.fullmatch(r"(.+)-\d{8}-\d{3}", batch_id)
    station_id = station_id or (named.group(1) if named else "TEST-SM01")
    batch = root / batch_id
    files = []
    for i, (rel, size) in enumerate(sizes.items()):
        path = batch / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        data = os.urandom(size) if seed == 0 else bytes((seed + i + k) % 251 for k in range(size))
        path.write_bytes(data)
        files.append({"path": rel, "byte_size": size, "sha256": hashlib.sha256(data).hexdigest()})
    manifest = {"manifest_version": "1.0", "batch_id": batch_id, "station_id": station_id,
                "files": files}
    (batch / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), "utf-8")
    return batch


def tree_digests(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home")


@pytest.fixture
def ingest() -> ManifestIngest:
    return ManifestIngest()


def signing_station(catalog_url: str, name: str, folder: Path) -> tuple[str, Path, Path]:
    """A station registered with a certificate (the station API takes no other): its API key,
    key file and certificate file (``ingest.station_signature.sign_manifest`` signs with them)."""
    from cryptography import x509

    from api.stations import add_station
    from archive.signing import ensure_dev_keys

    key, cert = folder / f"{name}.key", folder / f"{name}.pem"
    ensure_dev_keys(key, cert, common_name=f"scanning station {name}")
    api_key = add_station(catalog_url, name, certificate=x509.load_pem_x509_certificate(cert.read_bytes()))
    return api_key, key, cert
