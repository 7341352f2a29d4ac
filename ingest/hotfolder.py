"""The hot folder: stations copy batch folders into a watched directory; a batch is taken
once it is complete and has stopped changing.

A subfolder (not hidden, not a link) is *ready* when its sizes and mtimes are the same in two
consecutive scans and either its manifest parses and every listed file is present with the
listed size, or it has not changed for ``stale_after`` seconds (a batch that can never become
complete, e.g. a missing file or a broken manifest, still gets a verdict and lands in
quarantine instead of waiting for ever). A ready batch is moved into the intake area
atomically, ingested, and ``<batch>.result.json`` is written beside where it was.

Several takers may watch one folder (processes on one machine, or machines sharing it). A
taker first *claims* a batch with one ``rename`` inside the watched folder, into
``.claims/<token>/`` beside an ``owner.json`` naming its host and process: of takers racing
for a batch exactly one rename succeeds, the others pass over it silently (no result, no empty
intake slot), and only the winner copies it into intake, however far that is. A claim whose
owner died on this host before admitting the batch is put back by the next ``watch``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from archive.locks import Locks
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
from ingest.ocr._lifetime import is_alive
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


CLAIMS = ".claims"


def claim_batch(batch_dir: Path) -> Path | None:
    """Take ``batch_dir`` for this process with one rename; None if another taker was first."""
    claim = batch_dir.parent / CLAIMS / secrets.token_hex(8)
    claim.mkdir(parents=True)
    owner = {"host": socket.gethostname(), "pid": os.getpid(), "name": batch_dir.name}
    (claim / "owner.json").write_text(json.dumps(owner, ensure_ascii=False), encoding="utf-8")
    try:
        os.rename(batch_dir, claim / batch_dir.name)
    except FileNotFoundError:
        shutil.rmtree(claim, ignore_errors=True)
        return None
    return claim / batch_dir.name


def release_claim(claimed: Path, watch_dir: Path) -> None:
    """Put a claimed batch back under its name (to be taken again), and drop the claim."""
    if claimed.is_dir():
        os.rename(claimed, watch_dir / claimed.name)
    shutil.rmtree(claimed.parent, ignore_errors=True)


def release_abandoned_claims(watch_dir: Path) -> list[str]:
    """Put back batches whose claimant died on this host before admitting them; their names."""
    released = []
    for claim in sorted((watch_dir / CLAIMS).glob("*")) if (watch_dir / CLAIMS).is_dir() else []:
        try:
            owner = json.loads((claim / "owner.json").read_text("utf-8"))
        except (OSError, ValueError):
            continue
        if owner.get("host") == socket.gethostname() and not is_alive(int(owner.get("pid", 0))):
            release_claim(claim / str(owner["name"]), watch_dir)
            released.append(str(owner["name"]))
    return released


def take_batch(batch_dir: Path, submit: Submit, *, intake_root: Path, quarantine_root: Path,
               locks: Locks | None = None) -> SubmissionResult | None:
    """Claim one ready batch, move it into intake and ingest it; the result lands beside it.
    None when another taker claimed it first (that taker reports)."""
    result_path = result_path_for(batch_dir)
    claimed = claim_batch(batch_dir)
    if claimed is None:
        return None
    try:
        admitted = admit(claimed, intake_root, result_path=result_path,
                         source=f"hotfolder:{batch_dir}")
    except JuanzongError as exc:
        release_claim(claimed, batch_dir.parent)
        result = SubmissionResult(batch_id=batch_dir.name, status="error",
                                  error={"code": exc.code, "path": exc.path, "message": str(exc)})
        return write_result(result_path, result)
    shutil.rmtree(claimed.parent, ignore_errors=True)
    return run_submission(admitted, submit, quarantine_root=quarantine_root, locks=locks)


def watch(watch_dir: Path, submit: Submit, *, intake_root: Path, quarantine_root: Path,
          once: bool = False, interval: float = 5.0, stale_after: float = 300.0,
          on_result: Callable[[SubmissionResult], None] = lambda r: None,
          sleep: Callable[[float], None] = time.sleep, locks: Locks | None = None) -> list[SubmissionResult]:
    """Put back abandoned claims, resume batches a crash left in intake, then scan every
    ``interval`` seconds. Batches another taker claimed or is ingesting are not reported here.

    With ``once``: two scans ``interval`` apart, take what is ready, return the results."""
    release_abandoned_claims(watch_dir)
    results = []
    for batch in pending_batches(intake_root):
        result = run_submission(batch, submit, quarantine_root=quarantine_root, locks=locks)
        if result.status != "processing":
            results.append(result)
            on_result(result)
    folder = HotFolder(watch_dir, stale_after=stale_after)
    folder.scan()
    while True:
        sleep(interval)
        for batch in folder.scan():
            taken = take_batch(batch, submit, intake_root=intake_root,
                               quarantine_root=quarantine_root, locks=locks)
            if taken is not None:
                results.append(taken)
                on_result(taken)
        if once:
            return results
        results.clear()
