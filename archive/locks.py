"""Named exclusive locks shared by every process that shares the catalog.

Two backends behind one small interface, chosen from the catalog URL by ``open_locks``:

- ``PostgresLocks``: session advisory locks (``pg_advisory_lock``) on the catalog's own
  database, so processes on any machine that share the catalog exclude each other, and a
  lock dies with its holder's connection (a killed process never leaves one behind).
- ``FileLocks``: ``fcntl`` locks on one file per name in a folder, for the embedded default
  (an SQLite catalog lives on one machine, so do its writers).

A lock name is any string (``"ocfl-object:<id>"``, ``"storage-root"``); PostgreSQL keys are
the first 8 bytes of its SHA-256, so two names collide only by chance (then they merely
serialise).
"""

from __future__ import annotations

import fcntl
import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import sqlalchemy as sa


def lock_key(name: str) -> int:
    """The signed 64-bit advisory-lock key of ``name``."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big", signed=True)


class Locks(ABC):
    """Exclusive, blocking, non-reentrant named locks.

    ``hold`` runs in the process that writes (a commit step, a start-up step); it must not be
    held across a call that takes the same name again, and it never times out: holders are
    short steps, and a dead holder's lock is released by its connection or file closing."""

    @abstractmethod
    def hold(self, name: str) -> AbstractContextManager[None]:
        """Block until ``name`` is ours; release it when the block ends."""

    @abstractmethod
    def try_hold(self, name: str) -> AbstractContextManager[bool]:
        """Take ``name`` if nobody holds it (True) or give up at once (False); release at the end."""


class FileLocks(Locks):
    """``flock`` on ``folder/<sha256 of name>.lock`` (created on first use)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    @contextmanager
    def hold(self, name: str) -> Iterator[None]:
        with self._flock(name, fcntl.LOCK_EX):
            yield

    @contextmanager
    def try_hold(self, name: str) -> Iterator[bool]:
        try:
            with self._flock(name, fcntl.LOCK_EX | fcntl.LOCK_NB):
                yield True
                return
        except BlockingIOError:
            pass
        yield False

    @contextmanager
    def _flock(self, name: str, mode: int) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{hashlib.sha256(name.encode('utf-8')).hexdigest()[:32]}.lock"
        with open(path, "a+b") as handle:
            fcntl.flock(handle, mode)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


class PostgresLocks(Locks):
    """``pg_advisory_lock`` on a connection of ``engine`` held for the block."""

    def __init__(self, engine: sa.engine.Engine) -> None:
        self.engine = engine

    @contextmanager
    def hold(self, name: str) -> Iterator[None]:
        with self._locked(name, "pg_advisory_lock") as _:
            yield

    @contextmanager
    def try_hold(self, name: str) -> Iterator[bool]:
        with self._locked(name, "pg_try_advisory_lock") as got:
            yield got

    @contextmanager
    def _locked(self, name: str, function: str) -> Iterator[bool]:
        key = lock_key(name)
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            got = conn.execute(sa.text(f"SELECT {function}(:key)"), {"key": key}).scalar() is not False
            try:
                yield got
            finally:
                if got:
                    conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": key})


def is_postgres(catalog_url: str) -> bool:
    return catalog_url.startswith("postgresql")


def sqlite_lock_folder(catalog_url: str) -> Path:
    """``.locks`` beside an SQLite catalog: every process sharing the file shares the folder."""
    return Path(catalog_url.removeprefix("sqlite:///")).parent / ".locks"


def open_locks(catalog_url: str) -> Locks:
    """PostgreSQL advisory locks with a PostgreSQL catalog; ``fcntl`` files beside SQLite's."""
    if is_postgres(catalog_url):
        from archive.catalog.db import open_catalog

        return PostgresLocks(open_catalog(catalog_url))
    return FileLocks(sqlite_lock_folder(catalog_url))
