"""The signed tombstone a disposal leaves: what was disposed of, when, by whom and why.

It is kept three times: in the storage root (``extensions/juanzong-tombstones/<aip_id>.json`` and
its detached CMS signature ``.p7s``), so an audit or a rebuild from the storage root alone knows
the object is gone on purpose; in the catalog (``Tombstone``); and as a ``deaccession`` event in
the hash-chained log. The tombstone is written before any content is removed, so a disposal cut
short is finished by running it again, and never leaves an object missing without a reason.
"""

from __future__ import annotations

import base64
import json
import os
from datetime import datetime
from pathlib import Path

from cryptography import x509
from pydantic import BaseModel, ConfigDict

from archive.signing import Signer, verify_detached
from schemas.errors import Problem

TOMBSTONE_EXTENSION = "juanzong-tombstones"
TOMBSTONE_FORMAT = "juanzong-tombstone/1"


class TombstoneBody(BaseModel):
    model_config = ConfigDict(frozen=True)

    format: str = TOMBSTONE_FORMAT
    aip_id: str
    object_id: str
    case_number: str
    archival_code: str | None
    title: str
    retention_period: str
    retention_basis: str  # e.g. "生效日期 2001-03-02"
    due_date: str
    versions: int
    files: int
    bytes: int
    head_tagmanifest_sha256: str
    appraisal_id: str
    reason: str
    appraised_by: str
    approved_by: str
    disposed_by: str
    disposed_at: datetime
    removed_from: list[str]  # storage, replica, index, catalog pages

    def canonical(self) -> bytes:
        return (json.dumps(self.model_dump(mode="json"), ensure_ascii=False, sort_keys=True,
                           separators=(",", ":")) + "\n").encode("utf-8")


def tombstone_dir(storage_root: Path) -> Path:
    return Path(storage_root) / "extensions" / TOMBSTONE_EXTENSION


def write_tombstone(storage_root: Path, body: TombstoneBody, signer: Signer) -> tuple[bytes, bytes]:
    """Sign and write the tombstone (signature first, the body last, each atomically); returns both."""
    folder = tombstone_dir(storage_root)
    folder.mkdir(parents=True, exist_ok=True)
    data = body.canonical()
    signature = signer.sign_detached(data)
    _write_atomic(folder / f"{body.aip_id}.json.p7s", signature)
    _write_atomic(folder / f"{body.aip_id}.json", data)
    return data, signature


def signature_text(signature: bytes) -> str:
    return base64.b64encode(signature).decode("ascii")


def tombstoned_ids(storage_root: Path) -> set[str]:
    """AIP ids with a tombstone in the storage root."""
    folder = tombstone_dir(storage_root)
    return {p.name.removesuffix(".json") for p in folder.glob("*.json")} if folder.is_dir() else set()


def read_tombstone(storage_root: Path, aip_id: str) -> TombstoneBody:
    return TombstoneBody.model_validate_json((tombstone_dir(storage_root) / f"{aip_id}.json").read_bytes())


def verify_tombstone(storage_root: Path, aip_id: str, trusted: list[x509.Certificate] | None) -> list[Problem]:
    """E403 problems when the tombstone's signature is missing or does not verify."""
    path = tombstone_dir(storage_root) / f"{aip_id}.json"
    signature = path.with_name(path.name + ".p7s")
    if not signature.is_file():
        return [Problem.of("E403", str(signature), reason="tombstone signature is missing")]
    return verify_detached(path.read_bytes(), signature.read_bytes(), str(signature), trusted)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
