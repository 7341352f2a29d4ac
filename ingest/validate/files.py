"""File checks: what the batch folder holds against what the manifest lists.

Each listed file is read exactly once, in chunks, hashing as it goes; the bytes are kept for
the format and page checks so nothing is read twice. Links and special files are never
opened (a FIFO would block, a link could point outside the batch).
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ingest.manifest import MANIFEST_NAME, MANIFEST_SIGNATURE_NAME, FileEntry
from schemas.errors import Problem

CHUNK = 1 << 20


@dataclass(frozen=True)
class BatchListing:
    """Relative POSIX paths in the batch folder: regular files, and everything else (links, FIFOs…)."""

    regular: frozenset[str]
    unsafe: frozenset[str]


@dataclass(frozen=True)
class FileRead:
    """One file's bytes and their SHA-256, computed while reading."""

    data: bytes
    sha256: str


def is_safe_path(path: str) -> bool:
    """True for a plain relative POSIX path that stays inside the batch folder."""
    if not path or "\\" in path or "\0" in path:
        return False
    pure = PurePosixPath(path)
    return not pure.is_absolute() and ".." not in pure.parts and str(pure) == path != "."


def list_batch(batch_dir: Path) -> BatchListing:
    """Walk the batch folder without following links."""
    regular, unsafe = set(), set()
    for root, dirs, files in os.walk(batch_dir, followlinks=False):
        base = Path(root)
        for name in [*dirs, *files]:
            rel = (base / name).relative_to(batch_dir).as_posix()
            mode = os.lstat(base / name).st_mode
            if stat.S_ISREG(mode):
                regular.add(rel)
            elif not stat.S_ISDIR(mode):
                unsafe.add(rel)
    regular.discard(MANIFEST_NAME)
    regular.discard(MANIFEST_SIGNATURE_NAME)
    return BatchListing(frozenset(regular), frozenset(unsafe))


def _through_unsafe(path: str, listing: BatchListing) -> bool:
    parents = [p.as_posix() for p in PurePosixPath(path).parents][:-1]
    return path in listing.unsafe or any(p in listing.unsafe for p in parents)


def locate_problem(path: str, listing: BatchListing) -> Problem | None:
    """Why a listed file cannot be read (unsafe path, link, missing), or None when it can."""
    if not is_safe_path(path) or _through_unsafe(path, listing):
        return Problem.of("E117", path)
    if path not in listing.regular:
        return Problem.of("E110", path)
    return None


def read_file(path: Path) -> FileRead:
    """Read the whole file once, hashing each chunk; a link at the last component is refused."""
    digest = hashlib.sha256()
    chunks = []
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb", buffering=0) as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            chunks.append(chunk)
    return FileRead(b"".join(chunks), digest.hexdigest())


def check_fixity(entry: FileEntry, read: FileRead) -> list[Problem]:
    """Zero bytes, byte size and SHA-256 against the manifest."""
    problems = []
    if not read.data:
        problems.append(Problem.of("E112", entry.path))
    if len(read.data) != entry.byte_size:
        problems.append(Problem.of("E114", entry.path, expected=entry.byte_size, found=len(read.data)))
    if read.sha256 != entry.sha256:
        problems.append(Problem.of("E113", entry.path, expected=entry.sha256, found=read.sha256))
    return problems


def unlisted_problems(listing: BatchListing, listed: Iterable[str]) -> list[Problem]:
    """Files in the folder the manifest does not list, and links or special files anywhere."""
    listed = set(listed)
    problems = [Problem.of("E111", p) for p in sorted(listing.regular - listed)]
    problems += [Problem.of("E117", p) for p in sorted(listing.unsafe - listed)]
    return problems


def duplicate_problems(digests: dict[str, str], known_digest: Callable[[str], str | None] | None,
                       ) -> list[Problem]:
    """Same content twice in the batch (fatal on the later file) or already in the archive (reported)."""
    first: dict[str, str] = {}
    problems = []
    for path, digest in digests.items():
        if digest in first:
            problems.append(Problem.of("E115", path, expected=first[digest], found=digest))
            continue
        first[digest] = path
        archived = known_digest(digest) if known_digest else None
        if archived:
            problems.append(Problem.of("E116", path, expected=archived, found=digest, fatal=False))
    return problems
