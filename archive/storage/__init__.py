"""Archival storage: OCFL on disk, optionally mirrored to a replica root."""

from __future__ import annotations

from pathlib import Path

from archive.storage.base import FileRecord, StaleHead, Store, VersionInfo
from archive.storage.ocfl import OcflStore
from archive.locks import Locks
from archive.storage.replicated import ReplicatedStore


def open_store(storage_root: Path, replica_root: Path | None = None, *, jobs: int = 0,
               locks: Locks | None = None) -> Store:
    """The configured store: OCFL at ``storage_root``, replicated to ``replica_root`` when given;
    ``locks`` (default: lock files in each root) serialise each object's writers."""
    primary = OcflStore(storage_root, jobs=jobs, locks=locks)
    if replica_root is None:
        return primary
    return ReplicatedStore(primary, OcflStore(replica_root, jobs=jobs, locks=locks))


__all__ = ["FileRecord", "OcflStore", "ReplicatedStore", "StaleHead", "Store", "VersionInfo",
           "open_store"]
