"""Typed records of the archive stages."""

from __future__ import annotations

import uuid
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from ingest.manifest import BatchManifest, CaseMeta, FileEntry
from ingest.records import OcrResult

AIP_NAMESPACE = uuid.UUID("6f1d3c2e-5a4b-4e8f-9c1d-2b3a4c5d6e7f")


def aip_id_for(case_number: str) -> str:
    """One AIP per case, for ever: the id derives from the case number alone."""
    return str(uuid.uuid5(AIP_NAMESPACE, "case:" + case_number))


def document_id_for(case_number: str, source_path: str) -> str:
    return str(uuid.uuid5(AIP_NAMESPACE, f"doc:{case_number}:{source_path}"))


def ocfl_id_for(aip_id: str) -> str:
    return f"urn:uuid:{aip_id}"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)


class SubmittedDocument(_Frozen):
    entry: FileEntry
    ocr: OcrResult

    @property
    def document_id(self) -> str:
        return document_id_for(self.entry.case_number, self.entry.path)


class CaseSubmission(_Frozen):
    """Everything needed to build one case's AIP version from one batch."""

    manifest: BatchManifest  # the whole station manifest (kept in the AIP as submitted)
    case: CaseMeta
    documents: tuple[SubmittedDocument, ...]  # in 卷内顺序
    events: tuple[dict, ...] = ()  # PREMIS-shaped events already recorded (validation, fixity, ...)
    manifest_signature: bytes | None = None  # the station's manifest.json.p7s, kept beside the manifest
    source: str = ""  # who vouches for the batch ("manifest signed by station …" / "source not authenticated …")

    @property
    def aip_id(self) -> str:
        return aip_id_for(self.case.case_number)


class BuiltAip(_Frozen):
    """A complete, signed bag in the work folder, ready to commit as an OCFL version."""

    aip_id: str
    case_number: str
    bag_dir: Path
    payload_digest: str  # SHA-256 of manifest-sha256.txt: equal payloads, equal digest


class AipRecord(_Frozen):
    aip_id: str
    case_number: str
    version: int
    created: bool  # False when the same content was already stored (idempotent ingest)
