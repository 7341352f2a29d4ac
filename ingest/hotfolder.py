"""The hot folder: stations copy batch folders into a watched directory; a batch is taken
once it is complete and has stopped changing.

A subfolder (not hidden, not a link) is *ready* when its sizes and mtimes are the same in two
consecutive scans and either its manifest parses and every listed file is present with the
listed size, or it has not changed for ``stale_after`` seconds (a batch that can never become
complete, e.g. a missing file or a broken manifest, still gets a verdict and lands in
quarantine instead of waiting for ever). A ready batch is moved into the intake area
atomically, ingested, and ``<batch>.result.json`` is written beside where it was.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ingest.intake import (
    Submit,
    SubmissionResult,
    admit,
    is_safe_relpath,
    pending_batches,
    run_submission,
    write_result,
)
from ingest.manifest import MANIFEST_NAME
from schemas.errors import JuanzongError

Snapshot = dict[str, tuple[int, int]]


def snapshot_batch(batch_dir: Path) -> Snapshot:
    """Relative path -> (size, mtime_ns) of everything in the folder, links not followed."""
    snap: Snapshot = {}
    for path in batch_dir.rglob("*"):
        try:
            st = path.lstat()
        except FileNotFoundError:
            continue
        snap[path.relative_to(batch_dir).as_posix()] = (st.st_size, st.st_mtime_ns)
    return snap


def is_manifest_complete(batch_dir: Path) -> bool:
    """The manifest parses and every file it lists is present with the listed byte size."""
    try:
        files = json.loads((batch_dir / MANIFEST_NAME).read_bytes())["files"]
        wanted = [(str(f["path"]), int(f["byte_size"])) for f in files]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    for rel, size in wanted:
        path = batch_dir / rel
        if not is_safe_relpath(rel) or not path.is_file() or path.stat().st_size != size:
            return False
    return True


@dataclass
class _Seen:
    snapshot: Snapshot
    since: float


@dataclass
class HotFolder:
    """Remembers the previous scan of each candidate folder."""

    watch_dir: Path
    stale_after: float = 300.0
    clock: Callable[[], float] = time.monotonic
    _seen: dict[str, _Seen] = field(default_factory=dict)

    def candidates(self) -> list[Path]:
        return sorted(p for p in self.watch_dir.iterdir()
                      if p.is_dir() and not p.is_symlink() and not p.name.startswith("."))

    def scan(self) -> list[Path]:
        """The folders ready now; each is returned once, as it is moved away afterwards."""
        now, ready, names = self.clock(), [], set()
        for batch in self.candidates():
            names.add(batch.name)
            snap = snapshot_batch(batch)
            prev = self._seen.get(batch.name)
            if prev is None or prev.snapshot != snap:
                self._seen[batch.name] = _Seen(snap, now)
            elif snap and (is_manifest_complete(batch) or now - prev.since >= self.stale_after):
                ready.append(batch)
        self._seen = {k: v for k, v in self._seen.items() if k in names}
        return ready


def result_path_for(batch_dir: Path) -> Path:
    return batch_dir.parent / f"{batch_dir.name}.result.json"


def take_batch(batch_dir: Path, submit: Submit, *, intake_root: Path,
               quarantine_root: Path) -> SubmissionResult:
    """Move one ready batch into intake and ingest it; the result lands beside it."""
    result_path = result_path_for(batch_dir)
    try:
        admitted = admit(batch_dir, intake_root, result_path=result_path,
                         source=f"hotfolder:{batch_dir}")
    except JuanzongError as exc:
        result = SubmissionResult(batch_id=batch_dir.name, status="error",
                                  error={"code": exc.code, "path": exc.path, "message": str(exc)})
        return write_result(result_path, result)
    return run_submission(admitted, submit, quarantine_root=quarantine_root)


def watch(watch_dir: Path, submit: Submit, *, intake_root: Path, quarantine_root: Path,
          once: bool = False, interval: float = 5.0, stale_after: float = 300.0,
          on_result: Callable[[SubmissionResult], None] = lambda r: None,
          sleep: Callable[[float], None] = time.sleep) -> list[SubmissionResult]:
    """Resume batches a crash left in intake, then scan every ``interval`` seconds.

    With ``once``: two scans ``interval`` apart, take what is ready, return the results."""
    results = []
    for batch in pending_batches(intake_root):
        results.append(run_submission(batch, submit, quarantine_root=quarantine_root))
        on_result(results[-1])
    folder = HotFolder(watch_dir, stale_after=stale_after)
    folder.scan()
    while True:
        sleep(interval)
        for batch in folder.scan():
            results.append(take_batch(batch, submit, intake_root=intake_root,
                                      quarantine_root=quarantine_root))
            on_result(results[-1])
        if once:
            return results
        results.clear()
