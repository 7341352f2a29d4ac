"""A primary store mirrored to a replica (another disk or mount), verified after every copy."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from types import EllipsisType

from archive.storage.base import FileRecord, Store, VersionInfo
from schemas.errors import VerificationFailed


class ReplicatedStore(Store):
    """Reads from the primary; every committed version is replayed onto the replica and compared.

    The replica receives each version with the primary's created/agent/message, so with
    the same store type both objects are byte-identical; the per-file sha512 of the two
    versions must match or the commit raises E402.
    """

    def __init__(self, primary: Store, replica: Store, *, work_dir: Path | None = None) -> None:
        self.primary = primary
        self.replica = replica
        self.work_dir = work_dir

    def commit(self, object_id: str, src_dir: Path, *, message: str, agent: str,
               created: datetime | None = None, expected_head: int | None | EllipsisType = ...) -> int:
        version = self.primary.commit(object_id, src_dir, message=message, agent=agent,
                                      created=created, expected_head=expected_head)
        self.replicate(object_id)
        return version

    def replicate(self, object_id: str) -> list[int]:
        """Copy every primary version the replica lacks, oldest first; returns the versions copied."""
        head = self.primary.head(object_id) or 0
        copied = []
        for version in range((self.replica.head(object_id) or 0) + 1, head + 1):
            info = self.primary.version_info(object_id, version)
            with tempfile.TemporaryDirectory(dir=self.work_dir, prefix="replicate-") as tmp:
                state = self.primary.checkout(object_id, Path(tmp) / "state", version)
                self.replica.commit(object_id, state, message=info.message, agent=info.agent,
                                    created=info.created)
            self._compare(object_id, version)
            copied.append(version)
        return copied

    def _compare(self, object_id: str, version: int) -> None:
        ours = self.primary.files(object_id, version)
        theirs = self.replica.files(object_id, version)
        for logical, record in ours.items():
            other = theirs.get(logical)
            found = other.sha512 if other else "missing"
            if found != record.sha512:
                raise VerificationFailed("E402", str(other.path if other else logical),
                                         expected=record.sha512, found=found)

    def purge(self, object_id: str) -> bool:
        """Dispose of the object on both roots (the replica even when the primary has lost it)."""
        primary = self.primary.purge(object_id)
        return self.replica.purge(object_id) or primary

    def head(self, object_id: str) -> int | None:
        return self.primary.head(object_id)

    def checkout(self, object_id: str, dest: Path, version: int | None = None) -> Path:
        return self.primary.checkout(object_id, dest, version)

    def object_ids(self) -> Iterator[str]:
        return self.primary.object_ids()

    def files(self, object_id: str, version: int | None = None) -> dict[str, FileRecord]:
        return self.primary.files(object_id, version)

    def version_info(self, object_id: str, version: int) -> VersionInfo:
        return self.primary.version_info(object_id, version)
