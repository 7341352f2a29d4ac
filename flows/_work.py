"""The job's work folder: stages write only here; it is removed when the job succeeds.

A run holds a lock on its folder while it lives. A run killed outright (kill -9, a crash of the
machine) leaves its folder behind, unlocked; the next run with the same prefix (the next start
of the same batch) removes such folders before it begins, so they do not pile up after the
rerun succeeds. A folder another live run holds stays."""

from __future__ import annotations

import fcntl
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_NAME = ".in-use"


def _is_abandoned(folder: Path) -> bool:
    """Whether no live run holds ``folder`` (its lock can be taken)."""
    try:
        with (folder / LOCK_NAME).open("a") as f:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
    except BlockingIOError:
        return False
    except OSError:
        return True


def clean_abandoned(root: Path, prefix: str) -> list[Path]:
    """Remove the folders of earlier runs of ``prefix`` that no live run holds; return them."""
    mine = re.compile(re.escape(prefix) + r"-[a-z0-9_]{8}")
    removed = []
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        if folder.is_dir() and mine.fullmatch(folder.name) and _is_abandoned(folder):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


@contextmanager
def work_folder(root: Path, prefix: str, *, keep: bool = False) -> Iterator[Path]:
    """A fresh folder under ``root``, locked while in use; kept on failure (for debugging) or
    when ``keep``, until the next run of ``prefix`` finds it abandoned."""
    root.mkdir(parents=True, exist_ok=True)
    clean_abandoned(root, prefix)
    path = Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir=root))
    with (path / LOCK_NAME).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield path
    if not keep:
        shutil.rmtree(path, ignore_errors=True)
