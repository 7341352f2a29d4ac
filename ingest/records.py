"""Typed records that ingest stages hand on. They hold paths and values, never open files,
so they pickle across worker processes."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from ingest.manifest import BatchManifest, FileEntry
from schemas.errors import Report


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class UnsureSpan(_Frozen):
    """``text[start:end]`` of a page was read with word confidence ``confidence`` (0-100, the
    lowest of its words) under the review threshold: marked on the review page."""

    start: int
    end: int
    confidence: int


class PageText(_Frozen):
    """The recognised text of one page (1-based) and how sure the engine was."""

    page: int
    text: str
    confidence: float | None = None  # mean word confidence 0..100, None when not measured
    rotation: int = 0  # clockwise degrees the page was turned to read it upright
    flags: tuple[str, ...] = ()  # blank | rotated | low_confidence | ocr_failed
    unsure: tuple[UnsureSpan, ...] = ()


class PdfaValidation(_Frozen):
    """An independent validator's verdict on a PDF/A derivative (veraPDF), kept with the OCR
    record so the PREMIS validation event and the 四性检测 rest on it, not on the XMP claim."""

    validator: str  # "veraPDF"
    version: str  # "1.28.2"
    profile: str  # "PDF/A-2B validation profile"
    compliant: bool
    failed_rules: tuple[str, ...] = ()  # "ISO 19005-2:2011 6.2.4.3-4: <description>"
    error: str = ""  # the validator could not read the file at all
    checked_at: datetime


class OcrResult(_Frozen):
    """What OCR made of one submitted file. ``status`` failed still archives the original."""

    source_path: str  # the file's `path` in the station manifest
    original: Path
    pdfa: Path | None  # the PDF/A-2b representation, None when OCR failed
    pages: tuple[PageText, ...]
    status: Literal["done", "skipped_has_text", "failed"]
    engine: str  # e.g. "tesseract"
    engine_version: str
    languages: str
    options: dict[str, str] = {}
    error: str | None = None
    started_at: datetime
    finished_at: datetime
    validation: PdfaValidation | None = None  # veraPDF's verdict on ``pdfa``


class CheckedBatch(_Frozen):
    """A batch after validation: its manifest, where its files are, and every finding."""

    batch_dir: Path
    manifest: BatchManifest
    report: Report
    content_digest: str  # SHA-256 over the manifest bytes and every file digest: same batch, same digest
    accepted: tuple[str, ...]  # manifest paths that may be archived

    def entry(self, path: str) -> FileEntry:
        return next(f for f in self.manifest.files if f.path == path)
