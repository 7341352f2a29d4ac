"""The archival storage interface: versioned objects whose versions are never overwritten."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from types import EllipsisType

from pydantic import BaseModel, ConfigDict


class FileRecord(BaseModel):
    """One logical file of an object version and where its bytes are on disk."""

    model_config = ConfigDict(frozen=True)

    logical_path: str
    content_path: str  # relative to the object root, e.g. "v1/content/data/x.pdf"
    path: Path  # absolute, read-only use
    size: int | None  # None when the store recorded no size
    sha512: str
    sha256: str | None


class VersionInfo(BaseModel):
    """Who made a version, when and why (OCFL ``created``, ``user.name``, ``message``)."""

    model_config = ConfigDict(frozen=True)

    version: int
    created: datetime
    message: str
    agent: str


class Store(ABC):
    """Versioned object storage. Runs only in commit steps (writes) and audits (reads).

    ``commit`` must be atomic: a version is visible only when complete and verified.
    Nothing here rewrites a committed version; only ``purge`` (disposal) deletes, a whole object.
    """

    @abstractmethod
    def commit(self, object_id: str, src_dir: Path, *, message: str, agent: str,
               created: datetime | None = None, expected_head: int | None | EllipsisType = ...) -> int:
        """Add a version whose logical state is exactly ``src_dir``'s files; return its number.

        With ``expected_head`` (None: the object must not exist yet) the commit is refused with
        ``StaleHead`` when another writer moved the head since the caller read it: a version
        built from an older head would silently drop that writer's files."""

    @abstractmethod
    def head(self, object_id: str) -> int | None:
        """The newest version number, or None if the object does not exist."""

    @abstractmethod
    def checkout(self, object_id: str, dest: Path, version: int | None = None) -> Path:
        """Copy a version's logical state into the new directory ``dest``."""

    @abstractmethod
    def object_ids(self) -> Iterator[str]:
        """Every object id in the store."""

    @abstractmethod
    def files(self, object_id: str, version: int | None = None) -> dict[str, FileRecord]:
        """Logical path -> record for a version (default: head)."""

    @abstractmethod
    def version_info(self, object_id: str, version: int) -> VersionInfo:
        """Creation time, agent and message of one version."""

    @abstractmethod
    def purge(self, object_id: str) -> bool:
        """Remove the object and every version of it: disposal (销毁) after an approved appraisal,
        and nothing else. Returns whether there was an object. The caller keeps the tombstone."""

    def path(self, object_id: str, logical_path: str, version: int | None = None) -> Path:
        """The stored file for ``logical_path``; read it, never write it."""
        return self.files(object_id, version)[logical_path].path


class StaleHead(Exception):
    """The object's head moved since the caller built its new version from it."""

    def __init__(self, object_id: str, expected: int | None, found: int | None) -> None:
        super().__init__(f"{object_id}: head is {found}, the new version was built on {expected}")
        self.expected, self.found = expected, found
