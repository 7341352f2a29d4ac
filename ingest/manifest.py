"""The station manifest (``manifest.json``): the typed face of the station interface.

``schemas/manifest.schema.json`` is the contract a station is validated against; these
models are what the rest of the archive reads once a manifest has passed it.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MANIFEST_NAME = "manifest.json"
MANIFEST_SIGNATURE_NAME = "manifest.json.p7s"  # the station's detached CMS signature over it (ingest.station_signature)
MAX_MANIFEST_DEPTH = 32  # a station manifest nests five levels; unknown fields get room to spare

Volume = Literal["正卷", "副卷"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")


class Operator(_Model):
    id: str
    name: str


class ScanSettings(_Model):
    dpi: int
    format: str
    color_mode: str = ""
    compression: str = ""
    jpeg_quality: int | None = None


class Party(_Model):
    role: str
    kind: str
    name: str
    id_number: str | None = None
    credit_code: str | None = None
    addr: str | None = None
    rep: str | None = None


class CaseMeta(_Model):
    case_number: str
    court: str
    court_code: str
    case_type: str
    procedure: str
    cause_of_action: str
    parties: list[Party]
    judge: str
    panel: list[str] = Field(default_factory=list)
    clerk: str
    filing_date: date
    closing_date: date | None = None
    effective_date: date | None = None  # 生效日期: 保管期限 is counted from the next year
    retention_period: str
    retention_period_legacy: str | None = None
    security_class: str = "公开"


class DocumentMeta(_Model):
    seq: int
    doc_type: str
    title: str
    volume: Volume
    disclosable: bool
    doc_date: date | None = None
    author: str | None = None


class FileEntry(_Model):
    path: str
    sha256: str
    byte_size: int
    page_count: int
    media_type: str
    scanned_at: datetime | None = None
    case_number: str
    document: DocumentMeta


class BatchManifest(_Model):
    manifest_version: str
    batch_id: str
    station_id: str
    operator: Operator
    archive: str
    scan_started: datetime
    scan_finished: datetime
    scan_settings: ScanSettings
    page_total: int
    cases: list[CaseMeta]
    files: list[FileEntry]

    def case(self, case_number: str) -> CaseMeta:
        return next(c for c in self.cases if c.case_number == case_number)

    def files_of(self, case_number: str) -> list[FileEntry]:
        """The case's files in 卷内顺序: 正卷 first, then 副卷, each by ``seq``."""
        files = [f for f in self.files if f.case_number == case_number]
        return sorted(files, key=lambda f: (f.document.volume != "正卷", f.document.seq))


class ManifestTooDeep(ValueError):
    """The document nests lists and objects deeper than ``MAX_MANIFEST_DEPTH``."""


def _nesting_depth(data: Any) -> int:
    """How deeply ``data`` nests lists and objects, counted without recursion."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in (value.values() if isinstance(value, dict) else value))
    return deepest


def parse_manifest_json(raw: bytes) -> Any:
    """The manifest's JSON, refusing (``ManifestTooDeep``) a document nested deeper than any
    station manifest: thousands of levels exhaust the stack of the parser, the schema validator
    or pydantic (a RecursionError, an internal error retried at every start). Bytes that are not
    UTF-8 JSON raise ValueError (``UnicodeDecodeError``, ``json.JSONDecodeError``)."""
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except RecursionError:
        raise ManifestTooDeep(f"nested deeper than {MAX_MANIFEST_DEPTH} levels") from None
    if _nesting_depth(data) > MAX_MANIFEST_DEPTH:
        raise ManifestTooDeep(f"nested deeper than {MAX_MANIFEST_DEPTH} levels")
    return data


def read_manifest(batch_dir: Path) -> BatchManifest:
    """Parse a manifest already validated against the schema."""
    return BatchManifest.model_validate_json((batch_dir / MANIFEST_NAME).read_bytes())
