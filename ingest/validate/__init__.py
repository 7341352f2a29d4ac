"""Batch validation: every check a station batch (SIP) must pass before OCR and packaging.

    load_manifest (schema) -> check_metadata -> list_batch -> identify (siegfried, one process)
    -> per file: locate, read + SHA-256, fixity, format, pages -> duplicates -> CheckedBatch

Cheap checks come first, but nothing is hidden: every finding becomes a ``Problem`` in the
report, and the caller decides. A manifest that cannot be read raises ``ManifestRejected``
(with the report), because no ``CheckedBatch`` can exist without a manifest. The batch folder
is only read, never changed. See ``schemas/README.md`` for every code and its consequence.
"""

from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ingest._exec import siegfried
from ingest._exec.siegfried import Identification
from ingest.manifest import BatchManifest, FileEntry
from ingest.records import CheckedBatch
from ingest.validate.files import (
    BatchListing,
    check_fixity,
    duplicate_problems,
    list_batch,
    locate_problem,
    read_file,
    unlisted_problems,
)
from ingest.validate.formats import inspect_file
from ingest.validate.manifest import ManifestRejected, build_manifest, load_manifest
from ingest.validate.metadata import check_metadata
from ingest.validate.pages import check_pages
from schemas.errors import Problem, Report

__all__ = ["ManifestRejected", "check_batch"]

WORKERS = min(2, os.cpu_count() or 1)  # hashing and JPEG decoding release the GIL


@dataclass(frozen=True)
class _Limits:
    min_dpi: int
    max_pixels: int


@dataclass(frozen=True)
class _Examined:
    """One listed file after its own checks: its actual digest (None if unread) and findings."""

    path: str
    sha256: str | None
    size: int
    problems: list[Problem]


def _read_problem(path: str, exc: OSError) -> Problem:
    """A file that changed between listing and reading: gone, turned into a link, or unreadable."""
    if isinstance(exc, FileNotFoundError):
        return Problem.of("E110", path)
    if exc.errno == errno.ELOOP:
        return Problem.of("E117", path)
    return Problem.of("E119", path, reason=exc.strerror or str(exc))


def identify_listed(batch_dir: Path, manifest: BatchManifest, listing: BatchListing,
                    ) -> dict[str, Identification]:
    """PRONOM identification of every listed file that is there, in one siegfried run."""
    present = [f.path for f in manifest.files if locate_problem(f.path, listing) is None]
    found = siegfried.identify([batch_dir / p for p in present])
    return {p: found[(batch_dir / p).absolute()] for p in present if (batch_dir / p).absolute() in found}


def examine_file(batch_dir: Path, entry: FileEntry, listing: BatchListing, limits: _Limits,
                 identified: Identification | None = None) -> _Examined:
    """Every check of one listed file that does not need the other files; ``identified`` is
    siegfried's answer for it (asked here when not given)."""
    unreadable = locate_problem(entry.path, listing)
    if unreadable:
        return _Examined(entry.path, None, 0, [unreadable])
    try:
        read = read_file(batch_dir / entry.path)
    except OSError as exc:
        return _Examined(entry.path, None, 0, [_read_problem(entry.path, exc)])
    problems = check_fixity(entry, read)
    if read.data:
        identified = identified or siegfried.identify([batch_dir / entry.path])[(batch_dir / entry.path).absolute()]
        inspection = inspect_file(entry.path, entry.media_type, read.data, limits.max_pixels, identified)
        problems += inspection.problems
        if inspection.pages is not None:
            problems += check_pages(entry, inspection.pages, limits.min_dpi)
    return _Examined(entry.path, read.sha256, len(read.data), problems)


def _examine_all(batch_dir: Path, manifest: BatchManifest, listing: BatchListing,
                 limits: _Limits) -> list[_Examined]:
    identified = identify_listed(batch_dir, manifest, listing)
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return list(pool.map(lambda e: examine_file(batch_dir, e, listing, limits, identified.get(e.path)),
                             manifest.files))


def content_digest(manifest_bytes: bytes, examined: list[_Examined]) -> str:
    """SHA-256 over the manifest bytes and each file's actual digest by path: same batch, same digest."""
    digest = hashlib.sha256(manifest_bytes)
    for item in sorted(examined, key=lambda x: x.path):
        digest.update(f"\n{item.path}\0{item.sha256 or '-'}".encode())
    return digest.hexdigest()


def _accepted(manifest: BatchManifest, report: Report) -> tuple[str, ...]:
    refused = {p.path for p in report.problems if p.fatal}
    return tuple(f.path for f in manifest.files if f.path not in refused)


def check_batch(batch_dir: Path, *, min_dpi: int = 200, max_pixels: int = 200_000_000,
                known_digest: Callable[[str], str | None] | None = None) -> CheckedBatch:
    """Validate a station batch; raise ``ManifestRejected`` only when its manifest is unusable.

    ``known_digest(sha256)`` returns the archived path of a file with that content, or None.
    """
    batch_dir = Path(batch_dir)
    raw, data = load_manifest(batch_dir)
    fixed, metadata_problems = check_metadata(data)
    manifest = build_manifest(fixed)
    listing = list_batch(batch_dir)
    examined = _examine_all(batch_dir, manifest, listing, _Limits(min_dpi, max_pixels))
    report = Report(problems=unlisted_problems(listing, (f.path for f in manifest.files)))
    report.problems.extend(metadata_problems)
    for item in examined:
        report.problems.extend(item.problems)
    digests = {x.path: x.sha256 for x in examined if x.sha256 and x.size}
    report.problems.extend(duplicate_problems(digests, known_digest))
    return CheckedBatch(batch_dir=batch_dir, manifest=manifest, report=report,
                        content_digest=content_digest(raw, examined),
                        accepted=_accepted(manifest, report))
