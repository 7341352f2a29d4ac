"""The job's work folder: stages write only here; it is removed when the job succeeds."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def work_folder(root: Path, prefix: str, *, keep: bool = False) -> Iterator[Path]:
    """A fresh folder under ``root``; kept on failure (for debugging) or when ``keep``."""
    root.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir=root))
    try:
        yield path
    except BaseException:
        raise
    else:
        if not keep:
            shutil.rmtree(path, ignore_errors=True)
